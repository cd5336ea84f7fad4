"""The connect service beyond the HTTP layer: what happens to tokens it refuses to keep."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from accounts.models import SocialAccount, TokenRevocation
from accounts.services.connect import (
    social_account_connect_complete,
    social_account_connect_start,
)
from socialhub.api.errors import ApplicationError, ErrorCode
from tests.helpers import live_credentials

pytestmark = pytest.mark.django_db


def authorize(user, platform: str, handle: str) -> tuple[str, str]:
    """Start a connect and let the sandbox approve it; the callback's code and state."""
    start = social_account_connect_start(
        user=user, platform=platform, redirect_uri="https://app.example.com/callback"
    )
    url = urlsplit(start.authorization_url)
    answer = Client().get(f"{url.path}?{url.query}&sandbox_user={handle}")
    query = parse_qs(urlsplit(answer["Location"]).query)
    return query["code"][0], query["state"][0]


def test_tokens_of_a_refused_second_account_are_revoked_upstream(
    user, django_capture_on_commit_callbacks
):
    # given: ann's instagram is connected
    code, state = authorize(user, "instagram", "ann")
    kept = social_account_connect_complete(user=user, platform="instagram", code=code, state=state)

    # when: bob's instagram comes back on the same platform
    code, state = authorize(user, "instagram", "bob")
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(ApplicationError) as refused,
    ):
        social_account_connect_complete(user=user, platform="instagram", code=code, state=state)

    # then: 409, ann untouched, and bob's fresh tokens are dead at the platform too
    assert refused.value.code is ErrorCode.CONFLICT
    assert refused.value.i18n_key == "creator.social.already_connected"
    assert SocialAccount.objects.get().pk == kept.account.pk
    assert live_credentials("ann") == 2
    assert live_credentials("bob") == 0
    assert not TokenRevocation.objects.exists()
