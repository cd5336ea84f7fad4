"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.providers import http as provider_http
from tests.factories import SocialAccountFactory, UserFactory
from tests.sandbox_transport import sandbox_session


@pytest.fixture(autouse=True)
def _clean_cache():
    """Rate-limit counters live in Redis; every test starts from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def sandbox_http():
    """Provider HTTP goes to the sandbox views in-process; nothing leaves the machine."""
    session, adapter = sandbox_session()
    provider_http.set_http_session(session)
    yield adapter
    provider_http.set_http_session(None)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def bearer_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def user_client(user) -> APIClient:
    return bearer_client(user)


@pytest.fixture
def account(user):
    return SocialAccountFactory(user=user, followers=1200)
