"""Where the fakes' media lives: any path on ``cdn.example.com`` answers some bytes."""

from __future__ import annotations

from .base import Answer, FakePlatform, Request

MEDIA_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".mp4": "video/mp4"}


class CdnFake(FakePlatform):
    platform = "cdn"
    hosts = ("cdn.example.com",)

    def routes(self):
        return [("GET", "cdn.example.com", r"/.+", self.media)]

    def media(self, request: Request) -> Answer:
        suffix = request.path[request.path.rfind(".") :]
        content_type = MEDIA_TYPES.get(suffix, "application/octet-stream")
        return Answer(200, b"\x00fake-media-bytes" * 64, {"Content-Type": content_type})
