"""Media a post names by URL: fetched from its public host and told apart by type.

Platforms that take uploads (X, LinkedIn, YouTube, Bluesky) need the bytes, so adapters
fetch them here: a host failing now (429, 5xx, unreachable) is transient, a host refusing
(4xx) is a refusal of the post. Platforms that pull media themselves (Instagram, Threads,
TikTok, Pinterest) only need to know a video from an image.
"""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import urlsplit

from . import http
from .base import ProviderRequestError, ProviderTransientError

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm")


def is_video_url(url: str) -> bool:
    """Whether a media URL names a video (by its path's extension)."""
    return urlsplit(url).path.lower().endswith(VIDEO_SUFFIXES)


def fetch_media(url: str, *, label: str) -> tuple[bytes, str]:
    """The bytes and media type of ``url``: the answer's ``Content-Type``, or, where the
    host says nothing useful, the type its path suggests (``""`` when neither)."""
    response = http.request("GET", url)
    status = response.status_code
    if status == 429 or status >= 500:
        raise ProviderTransientError(
            f"{label} could not be fetched now (HTTP {status})",
            http_status=status,
            retry_after=http.retry_after(response),
        )
    if status >= 400:
        raise ProviderRequestError(f"{label} could not be fetched (HTTP {status})")
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if not content_type or content_type == "application/octet-stream":
        guessed, _encoding = mimetypes.guess_type(urlsplit(url).path)
        content_type = (guessed or content_type).lower()
    return response.content, content_type


def as_count(value: Any) -> int:
    """A platform's counter as a count: missing, malformed or negative reads as 0."""
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
