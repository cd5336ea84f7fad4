"""Bluesky post text: grapheme counting and link and hashtag facets."""

from __future__ import annotations

import pytest

from accounts.providers.bluesky import facets, grapheme_count

# --- text helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("hello", 5),
        ("e\u0301", 1),  # e + combining acute
        ("\U0001f44d\U0001f3fd", 1),  # thumbs up + skin tone
        ("\U0001f1eb\U0001f1f7\U0001f1e9\U0001f1ea", 2),  # two flags
        ("\u2764\ufe0f", 1),  # heart + variation selector
        ("a\r\nb", 3),
        ("\U0001f468\u200d\U0001f469\u200d\U0001f467", 1),
    ],
)
def test_grapheme_count(text, count):
    assert grapheme_count(text) == count


def test_facets_skip_numbers_and_trailing_punctuation():
    found = facets("#1 is not a tag, see (https://x.example/p?q=1).")
    assert [f["features"][0].get("uri") for f in found] == ["https://x.example/p?q=1"]
