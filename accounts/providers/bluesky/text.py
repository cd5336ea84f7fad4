"""Bluesky post text: grapheme counting (the 300-character limit counts graphemes) and the
rich-text facets for links and hashtags, which Bluesky does not detect on its own."""

from __future__ import annotations

import re
import unicodedata
from typing import Any


def grapheme_count(text: str) -> int:
    """User-perceived characters, close to Unicode extended grapheme clusters: combining
    marks, variation selectors, emoji modifiers and tags join the previous character, a
    zero-width joiner joins two, regional indicators pair up into flags, CR LF is one."""
    count = 0
    joined = False
    flag_open = False
    previous = ""
    for char in text:
        point = ord(char)
        if joined:
            joined = False
            previous = char
            continue
        if point == 0x200D:
            joined = count > 0
            continue
        if (
            unicodedata.category(char) in ("Mn", "Me", "Mc")
            or 0xFE00 <= point <= 0xFE0F
            or 0x1F3FB <= point <= 0x1F3FF
            or 0xE0020 <= point <= 0xE007F
        ) and count:
            continue
        if 0x1F1E6 <= point <= 0x1F1FF:
            if flag_open:
                flag_open = False
                continue
            flag_open = True
        else:
            flag_open = False
        if char == "\n" and previous == "\r":
            previous = char
            continue
        previous = char
        count += 1
    return count


URL_PATTERN = re.compile(r"https?://[^\s<>\"]+")
TAG_PATTERN = re.compile(r"(?<!\S)#(\w[\w-]*)")
TRAILING_PUNCTUATION = ".,;:!?)]}'\""


def facets(text: str) -> list[dict[str, Any]]:
    """Rich-text facets for links and hashtags (byte offsets in UTF-8), which Bluesky does
    not detect on its own."""

    def byte_offset(index: int) -> int:
        return len(text[:index].encode())

    found: list[dict[str, Any]] = []
    for match in URL_PATTERN.finditer(text):
        url = match.group(0).rstrip(TRAILING_PUNCTUATION)
        start = match.start()
        found.append(
            {
                "index": {
                    "byteStart": byte_offset(start),
                    "byteEnd": byte_offset(start + len(url)),
                },
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": url}],
            }
        )
    for match in TAG_PATTERN.finditer(text):
        tag = match.group(1).rstrip(TRAILING_PUNCTUATION + "-")
        if not tag or tag.isdigit() or len(tag) > 64:
            continue
        start = match.start(0) + match.group(0).index("#")
        found.append(
            {
                "index": {
                    "byteStart": byte_offset(start),
                    "byteEnd": byte_offset(start + 1 + len(tag)),
                },
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}],
            }
        )
    return sorted(found, key=lambda facet: facet["index"]["byteStart"])
