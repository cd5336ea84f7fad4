"""Adapters for Meta's platforms: Instagram, Facebook Pages and Threads.

All three speak the Graph API dialect of OAuth 2: the authorization code is exchanged for
a short-lived token (about an hour), which is then traded for a long-lived one. None of
them documents PKCE for these server-side flows, so none is sent (``pkce = False``); the
client authenticates with its app secret. Idempotency keys are ignored: none of these
publishing endpoints takes one.

- ``graph``: what the three share (``MetaProvider``, ``graph_error``, helpers);
- ``instagram``: ``InstagramProvider`` (``instagram``);
- ``facebook``: ``FacebookPageProvider`` (``facebook_page``);
- ``threads``: ``ThreadsProvider`` (``threads``).
"""

from __future__ import annotations

from .facebook import FacebookPageProvider
from .graph import GRAPH_API_VERSION, graph_error
from .instagram import InstagramProvider
from .threads import THREADS_API_VERSION, ThreadsProvider

__all__ = [
    "GRAPH_API_VERSION",
    "THREADS_API_VERSION",
    "FacebookPageProvider",
    "InstagramProvider",
    "ThreadsProvider",
    "graph_error",
]
