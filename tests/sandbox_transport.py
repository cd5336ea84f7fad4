"""A requests transport that delivers HTTP calls to the Django test client.

The sandbox adapter makes real HTTP requests (token exchange, profile, revoke); in tests
they are handed to the sandbox views in-process, inside the test's transaction, so the
adapter, the wire format and the sandbox server are all exercised without a socket.
"""

from __future__ import annotations

import contextvars
from urllib.parse import urlsplit

import requests
from django.test import Client
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

SANDBOX_ORIGIN = "http://sandbox.test/"


class DjangoClientAdapter(BaseAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.client = Client()
        self.calls: list[tuple[str, str]] = []

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.calls.append((request.method, parts.path))
        extra = {
            "HTTP_" + name.upper().replace("-", "_"): value
            for name, value in request.headers.items()
            if name.lower() not in {"content-type", "content-length"}
        }
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        # A real platform serves the call elsewhere: run the nested request in a copy of
        # the context, so what it sets or clears on the way out (the correlation id is
        # cleared on request_finished) does not leak into the request that made the call.
        answer = contextvars.copy_context().run(
            self.client.generic,
            request.method,
            path,
            data=body,
            content_type=request.headers.get("Content-Type", ""),
            **extra,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response._content = answer.content
        response.headers = CaseInsensitiveDict(dict(answer.items()))
        response.url = request.url
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


def sandbox_session() -> tuple[requests.Session, DjangoClientAdapter]:
    session = requests.Session()
    adapter = DjangoClientAdapter()
    session.mount(SANDBOX_ORIGIN, adapter)
    return session, adapter
