"""Per-address rate limits behind reverse proxies: the address is the one the nearest
trusted proxy saw, never what the client writes into X-Forwarded-For."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from socialhub.api.ratelimit import client_ip

LOGIN_URL = "/api/v1/auth/login"


def request_from(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        (0, "10.0.0.5", "198.51.100.7", "10.0.0.5"),  # no proxies trusted: the socket
        (1, "10.0.0.5", "198.51.100.7", "198.51.100.7"),
        (1, "10.0.0.5", "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # spoofed entry ignored
        (2, "10.0.0.5", "6.6.6.6, 198.51.100.7, 10.0.0.9", "198.51.100.7"),
        (2, "10.0.0.5", "198.51.100.7", "10.0.0.5"),  # fewer hops than proxies
        (1, "10.0.0.5", "not-an-address", "10.0.0.5"),
        (1, "10.0.0.5", "", "10.0.0.5"),
        (1, "10.0.0.5", None, "10.0.0.5"),
        (1, "10.0.0.5", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip(settings, proxies, remote, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies

    assert client_ip(request_from(remote, forwarded)) == expected


@pytest.mark.django_db
def test_clients_behind_one_proxy_have_their_own_login_budget(settings, client):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.RATELIMITS = {**settings.RATELIMITS, "auth.login": "2/h"}
    body = {"email": "nobody@example.com", "password": "wrong password"}

    def login(forwarded: str) -> int:
        return client.post(
            LOGIN_URL,
            body,
            content_type="application/json",
            REMOTE_ADDR="10.0.0.5",
            HTTP_X_FORWARDED_FOR=forwarded,
        ).status_code

    first = [login("198.51.100.7") for _ in range(3)]
    # rotating a spoofed left-most entry does not buy a new budget
    spoofed = login("1.2.3.4, 198.51.100.7")
    other_client = login("203.0.113.20")

    assert first == [401, 401, 429]
    assert spoofed == 429
    assert other_client == 401
