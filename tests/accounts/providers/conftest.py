"""Fixtures for the real platforms' adapters: hand-built answers and the local fakes."""

from __future__ import annotations

import pytest
import responses as responses_lib

import socialhub.urls  # noqa: F401 - the URLconf is built once per process: with the sandbox
from accounts.providers import http as provider_http
from tests import fake_platforms

FAKES_ORIGIN = "http://platforms.test/"


@pytest.fixture
def credentials(settings):
    """App credentials for every platform, and the sandbox off: real adapters serve."""
    settings.SOCIALHUB_SANDBOX = False
    settings.PROVIDER_CREDENTIALS = {
        platform: {
            "client_id": fake_platforms.CLIENT_ID,
            # Bluesky's client secret is a signing key (confidential mode): none here.
            "client_secret": "" if platform == "bluesky" else fake_platforms.CLIENT_SECRET,
        }
        for platform in settings.SOCIAL_PLATFORMS
    }
    return settings.PROVIDER_CREDENTIALS


@pytest.fixture
def answers():
    """``responses``: every HTTP call must match an answer the test registered."""
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def fakes(settings, credentials):
    """Every platform's fake, reached through ``PLATFORM_ORIGIN_OVERRIDES`` in-process."""
    platforms = fake_platforms.build()
    settings.PLATFORM_ORIGIN_OVERRIDES = {"*": FAKES_ORIGIN + "{host}"}
    session = provider_http.http_session()
    previous = session.adapters.get(FAKES_ORIGIN)
    session.mount(FAKES_ORIGIN, fake_platforms.FakePlatformsAdapter(platforms, FAKES_ORIGIN))
    yield platforms
    if previous is None:
        session.adapters.pop(FAKES_ORIGIN, None)
    else:
        session.mount(FAKES_ORIGIN, previous)
