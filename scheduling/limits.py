"""What a scheduled post may hold: text length per platform, targets, media, how far ahead."""

from __future__ import annotations

from datetime import timedelta

from accounts.models import Platform

# Characters (Unicode code points) each platform accepts in a post's text.
TEXT_LIMITS: dict[str, int] = {
    Platform.X: 280,
    Platform.BLUESKY: 300,
    Platform.THREADS: 500,
    Platform.PINTEREST: 500,
    Platform.INSTAGRAM: 2200,
    Platform.TIKTOK_BUSINESS: 2200,
    Platform.TIKTOK_PERSONAL: 2200,
    Platform.LINKEDIN_PERSON: 3000,
    Platform.LINKEDIN_COMPANY: 3000,
    Platform.YOUTUBE: 5000,
    Platform.FACEBOOK_PAGE: 63206,
}
# No platform takes more; longer text is refused before any account is looked at.
MAX_TEXT_LENGTH = max(TEXT_LIMITS.values())

MAX_TARGETS = 20
MAX_MEDIA_URLS = 10
MAX_MEDIA_URL_LENGTH = 2000
MAX_SCHEDULE_AHEAD = timedelta(days=365)


def text_limit_for(platform: str) -> int:
    return TEXT_LIMITS.get(platform, MAX_TEXT_LENGTH)
