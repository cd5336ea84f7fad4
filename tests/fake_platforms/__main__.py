"""Serve every platform fake on a port: ``python -m tests.fake_platforms [--port 8900]``.

Then run the service with ``PLATFORM_ORIGIN_OVERRIDES="*=http://127.0.0.1:8900/{host}"``,
``SOCIALHUB_SANDBOX=0`` and ``<PLATFORM>_CLIENT_ID=fake-client-id`` /
``<PLATFORM>_CLIENT_SECRET=fake-client-secret`` for the platforms to connect (Bluesky:
``BLUESKY_CLIENT_ID`` only; its secret is a signing key, see the README).
"""

from __future__ import annotations

import argparse
from wsgiref.simple_server import WSGIRequestHandler, make_server

from . import build


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        print(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    args = parser.parse_args()
    with make_server(args.host, args.port, build(), handler_class=_QuietHandler) as server:
        print(f"Platform fakes on http://{args.host}:{args.port}/<platform host>/…")
        server.serve_forever()


if __name__ == "__main__":
    main()
