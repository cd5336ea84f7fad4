"""Fixtures shared by the whole suite (plain helpers are in ``tests/helpers.py``)."""

from __future__ import annotations

import time
import types
import uuid

import django_ratelimit.core as ratelimit_core
import pytest
import requests
from celery._state import _set_task_join_will_block
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.providers import http as provider_http
from tests.celery_worker import UNREACHABLE_REDIS, BrokerProducer, broker_unreachable
from tests.factories import SocialAccountFactory, UserFactory
from tests.helpers import CannedAdapter, bearer_client
from tests.sandbox_transport import SANDBOX_ORIGIN, sandbox_session

# ``bearer_client`` lives in tests.helpers now; importing it here also keeps an older
# ``from tests.conftest import bearer_client`` working.


@pytest.fixture(autouse=True)
def _clean_cache():
    """Rate-limit counters live in Redis; every test starts from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _celery_join_allowed():
    """Celery marks "inside an eager task" in one process-wide flag, set and restored around
    each eager run; eager tasks running at once on several threads can leave it set, and a
    later ``result.get()`` would then refuse to run. Each test starts with it clear."""
    _set_task_join_will_block(False)


@pytest.fixture(autouse=True)
def sandbox_http():
    """Provider HTTP goes to the sandbox views in-process; nothing leaves the machine."""
    session, adapter = sandbox_session()
    provider_http.set_http_session(session)
    yield adapter
    provider_http.set_http_session(None)


@pytest.fixture
def platform_answers(sandbox_http):
    """Make the platform answer with a canned response (or fail with ``exc``).

    ``platform_answers(status=..., body=..., headers=..., exc=..., url_prefix=None)`` swaps
    in a provider session and returns its ``CannedAdapter``, built from every keyword but
    ``url_prefix``. Without ``url_prefix`` the adapter answers every platform call; with
    one it answers only URLs under that prefix, and the rest still reaches the in-process
    sandbox. The previous session is restored after the test.
    """
    previous = provider_http.http_session()

    def install(*, url_prefix: str | None = None, **answer) -> CannedAdapter:
        adapter = CannedAdapter(**answer)
        session = requests.Session()
        if url_prefix is None:
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        else:
            session.mount(SANDBOX_ORIGIN, sandbox_http)
            session.mount(url_prefix, adapter)
        provider_http.set_http_session(session)
        return adapter

    yield install
    provider_http.set_http_session(previous)


@pytest.fixture
def steady_clock(monkeypatch):
    """Pin django-ratelimit's clock so a window boundary cannot fall inside a test."""
    now = time.time()
    monkeypatch.setattr(ratelimit_core, "time", types.SimpleNamespace(time=lambda: now))


@pytest.fixture
def cache_down(settings):
    """The shared cache points at a Redis that refuses connections."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": UNREACHABLE_REDIS,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }


@pytest.fixture
def broker_down():
    """Tasks are sent (not run eagerly) to a Celery broker that refuses connections, as in
    a deployment whose Redis is down."""
    with broker_unreachable():
        yield


@pytest.fixture
def idle_broker():
    """Tasks are sent (not run eagerly) to a queue of the real broker that no worker takes
    from, as when the workers are busy or stopped: the queue shows what was enqueued."""
    producer = BrokerProducer(f"idle-{uuid.uuid4().hex[:12]}")
    with producer:
        yield producer
    producer.purge()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def user_client(user) -> APIClient:
    return bearer_client(user)


@pytest.fixture
def account(user):
    return SocialAccountFactory(user=user, followers=1200)
