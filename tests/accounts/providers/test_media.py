"""Fetching a post's media for the platforms that take uploads."""

from __future__ import annotations

import pytest

from accounts.providers import ProviderRequestError, ProviderTransientError
from accounts.providers.media import as_count, fetch_media, is_video_url

URL = "https://cdn.example.com/a/photo.png?sig=1"


def test_fetch_media_reads_bytes_and_type(answers):
    answers.get(URL, body=b"\x89PNG", headers={"Content-Type": "image/png; charset=binary"})
    assert fetch_media(URL, label="image 1") == (b"\x89PNG", "image/png")


def test_fetch_media_guesses_the_type_a_host_does_not_give(answers):
    answers.get(URL, body=b"\x89PNG", content_type="application/octet-stream")
    assert fetch_media(URL, label="image 1") == (b"\x89PNG", "image/png")


@pytest.mark.parametrize(
    ("status", "error"), [(503, ProviderTransientError), (429, ProviderTransientError)]
)
def test_a_host_failing_now_is_transient(answers, status, error):
    answers.get(URL, status=status, headers={"Retry-After": "9"})
    with pytest.raises(error) as raised:
        fetch_media(URL, label="image 2")
    assert raised.value.retry_after == 9.0
    assert "image 2" in str(raised.value)


def test_a_host_refusing_refuses_the_post(answers):
    answers.get(URL, status=404)
    with pytest.raises(ProviderRequestError, match="image 1 could not be fetched"):
        fetch_media(URL, label="image 1")


@pytest.mark.parametrize(
    ("value", "count"), [(12, 12), ("7", 7), (None, 0), ("n/a", 0), (-3, 0), (2.0, 2)]
)
def test_counters_read_as_counts(value, count):
    assert as_count(value) == count


@pytest.mark.parametrize(
    ("url", "video"),
    [
        ("https://cdn.example.com/clip.MP4?x=1", True),
        ("https://cdn.example.com/clip.mov", True),
        ("https://cdn.example.com/photo.jpg", False),
        ("https://cdn.example.com/mp4/photo", False),
    ],
)
def test_videos_are_told_by_their_path(url, video):
    assert is_video_url(url) is video
