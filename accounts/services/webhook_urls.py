"""Where webhooks may be sent: the URL rules, and the guard against private addresses.

Endpoints are URLs chosen by customers, and the service sends requests to them from
inside our network. Unless ``WEBHOOK_ALLOW_PRIVATE_URLS`` is on (development), only https
URLs whose host resolves to public addresses are accepted, at registration and again
before every delivery; and the address a delivery actually connects to is checked once
more, so a host that re-resolves to a private address in between (DNS rebinding) is
still refused before a byte of the request is sent.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

MAX_URL_LENGTH = 2000


class UnsafeWebhookUrl(Exception):
    """The URL breaks a rule, or its host is (or resolves to) a non-public address."""


def address_is_public(text: str) -> bool:
    """True for a globally routable unicast address; IPv4-mapped IPv6 is judged as IPv4."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def private_urls_allowed() -> bool:
    return bool(settings.WEBHOOK_ALLOW_PRIVATE_URLS)


def webhook_url_check(url: str, *, resolve: bool = True) -> None:
    """Raise ``UnsafeWebhookUrl`` (with a message a customer can act on) unless webhooks
    may be sent to ``url``. ``resolve=False`` checks the URL's shape only."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeWebhookUrl(f"Must be at most {MAX_URL_LENGTH} characters.")
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        raise UnsafeWebhookUrl("Must not contain spaces or control characters.")
    parts = urlsplit(url)
    allowed_schemes = ("http", "https") if private_urls_allowed() else ("https",)
    if parts.scheme not in allowed_schemes:
        raise UnsafeWebhookUrl(
            "Must be an https URL." if allowed_schemes == ("https",) else "Must be an http(s) URL."
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeWebhookUrl("Must not contain a user name or password.")
    host = parts.hostname
    if not host:
        raise UnsafeWebhookUrl("Must name a host.")
    try:
        port = parts.port
    except ValueError:
        raise UnsafeWebhookUrl("The port is not valid.") from None
    if not resolve or private_urls_allowed():
        return
    for address in _resolve(host, port or (443 if parts.scheme == "https" else 80)):
        if not address_is_public(address):
            raise UnsafeWebhookUrl(
                f"{host} resolves to a private, loopback, link-local or reserved address; "
                "webhooks are only sent to public addresses."
            )


def _resolve(host: str, port: int) -> list[str]:
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeWebhookUrl(f"{host} does not resolve.") from None
    return [answer[4][0] for answer in answers]


class _PublicPeerOnly:
    """Checks the address a connection really reached before anything is sent on it."""

    def _new_conn(self):
        sock = super()._new_conn()
        peer = sock.getpeername()[0]
        if not address_is_public(peer):
            sock.close()
            raise UnsafeWebhookUrl(
                f"{self.host} resolved to a non-public address ({peer}); nothing was sent."
            )
        return sock


class _PublicHTTPConnection(_PublicPeerOnly, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicPeerOnly, HTTPSConnection):
    pass


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicAddressAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PublicHTTPPool,
            "https": _PublicHTTPSPool,
        }


def webhook_http_session() -> requests.Session:
    """A session of its own for deliveries: no proxies or .netrc from the environment,
    and (unless private URLs are allowed) connections only to public addresses."""
    session = requests.Session()
    session.trust_env = False
    if not private_urls_allowed():
        adapter = _PublicAddressAdapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session
