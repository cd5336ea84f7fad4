"""A webhook receiver for the tests: a real HTTP server on 127.0.0.1 in a thread.

``verify_signature`` is the check the README tells integrators to write, line for line;
a receiver given a ``secret`` answers 401 to anything it rejects.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from accounts.models import Membership, WebhookEndpoint, Workspace
from accounts.services.webhooks import WebhookEvent, webhook_endpoint_create

ALL_EVENTS = [event.value for event in WebhookEvent]


# The README's recipe -----------------------------------------------------------------------


def verify_signature(secret: str, headers, raw_body: bytes, tolerance: int = 300) -> bool:
    timestamp = headers.get("X-Socialhub-Timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False  # missing, or too old (a replay) or too far ahead
    signed_payload = timestamp.encode() + b"." + raw_body
    expected = "v1=" + hmac.new(secret.encode(), signed_payload, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.get("X-Socialhub-Signature", ""))


# The server --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int


class Receiver:
    """Records every POST and answers with ``answers`` in turn (the last one repeats).

    ``secret``: verify signatures and answer 401 to a bad one. ``delay``: seconds to wait
    before answering. ``location``: the Location header of 3xx answers; ``headers``:
    sent with every answer.
    """

    def __init__(self, *, answers=(200,), secret: str | None = None, delay: float = 0.0):
        self.answers = list(answers)
        self.secret = secret
        self.delay = delay
        self.location = ""
        self.headers: dict[str, str] = {}
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/socialhub"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _answer(self, headers, body: bytes) -> int:
        with self._lock:
            if self.secret is not None and not verify_signature(self.secret, headers, body):
                return 401
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = receiver._answer(self.headers, body)
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, dict(self.headers.items()), body, status)
                    )
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", receiver.location)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        return Handler


def endpoint_for(
    workspace: Workspace, url: str, events=ALL_EVENTS, *, description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """An endpoint of ``workspace`` through the service; returns ``(endpoint, secret)``."""
    return webhook_endpoint_create(
        workspace=workspace,
        url=url,
        events=list(events),
        description=description,
        created_by=Membership.objects.filter(workspace=workspace, role=Membership.Role.OWNER)
        .select_related("user")
        .first()
        .user,
    )
