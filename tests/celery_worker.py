"""A real Celery worker process for integration tests.

It runs ``celery -A socialhub worker`` with ``tests.worker_settings``: the test database
(the test commits, with ``transaction=True``), a Redis broker on its own database number (the
suite flushes the cache's database between tests), a queue of its own, and the sandbox over
HTTP at pytest-django's live server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis
from celery import Celery
from django.conf import settings
from django.db import connection

READY_TIMEOUT = 60
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def broker_url() -> str:
    """The cache's Redis server, database number + 8."""
    parts = urlsplit(settings.REDIS_URL)
    cache_db = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(cache_db + 8) % 16}"))


def database_url() -> str:
    """The database this test run uses (pytest-django's test database)."""
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path
    queue: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def send(self, task_name: str, *args) -> None:
        """Enqueue ``task_name`` for this worker through the broker, as a producer would."""
        # Not the current app: shared tasks resolve through the current app, and this one
        # would take over every later ``.delay()`` of this process.
        producer = Celery(broker=broker_url(), set_as_current=False)
        try:
            producer.send_task(task_name, args=list(args), queue=self.queue)
        finally:
            producer.close()

    def wait_for(self, condition, *, timeout: float = 30, what: str = "the condition"):
        """Poll ``condition()`` until it is truthy; fail with the worker's log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; worker log:\n{self.log()[-6000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_worker(
    *,
    live_server_url: str,
    workdir: Path,
    beat: bool = False,
    concurrency: int = 1,
    env: dict[str, str] | None = None,
) -> WorkerProcess:
    """Start a worker (prefork pool; with ``beat``, the scheduler inside it) and wait until
    it is ready to take tasks."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    redis.Redis.from_url(broker_url()).flushdb()
    log_path = workdir / "worker.log"
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "socialhub",
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        "--without-gossip",
        "--without-mingle",
        "--loglevel=INFO",
        f"--hostname={queue}@%h",
        "-Q",
        queue,
    ]
    if beat:
        command += ["--beat", "--schedule", str(workdir / "celerybeat-schedule")]
    process_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": broker_url(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "SOCIALHUB_TEST_QUEUE": queue,
        "SANDBOX_BASE_URL": live_server_url + "/sandbox",
        **(env or {}),
    }
    log = log_path.open("w")
    process = subprocess.Popen(
        command,
        cwd=Path(settings.BASE_DIR),
        env=process_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    worker = WorkerProcess(process=process, log_path=log_path, queue=queue)
    try:
        worker.wait_for(lambda: " ready." in worker.log(), timeout=READY_TIMEOUT, what="ready")
    except AssertionError:
        worker.stop()
        raise
    return worker


class BrokerProducer:
    """Make this (test) process enqueue through the worker's broker (or ``url``) and queue
    instead of running tasks eagerly, as the web processes of a deployment do."""

    def __init__(self, queue: str, *, url: str | None = None) -> None:
        self.queue = queue
        self.url = url or broker_url()

    def __enter__(self) -> BrokerProducer:
        from socialhub.celery import app

        self._app = app
        self._saved = {
            key: app.conf[key] for key in ("task_always_eager", "broker_url", "task_default_queue")
        }
        app.conf.update(task_always_eager=False, broker_url=self.url, task_default_queue=self.queue)
        self._reset_connections()
        return self

    def _reset_connections(self) -> None:
        """Forget the app's cached pools, so the next send uses the current broker URL (the
        pools themselves are kombu's, per URL, and stay usable)."""
        self._app._pool = None
        self._app.amqp._producer_pool = None

    def queued(self) -> int:
        """Messages waiting in the queue (not yet taken by a worker)."""
        return redis.Redis.from_url(self.url).llen(self.queue)

    def purge(self) -> None:
        """Drop the messages still waiting in the queue."""
        redis.Redis.from_url(self.url).delete(self.queue)

    def __exit__(self, *exc) -> None:
        self._reset_connections()
        self._app.conf.update(self._saved)


def broker_unreachable() -> BrokerProducer:
    """Send tasks (instead of running them eagerly) to a broker that refuses connections,
    as a deployment whose Redis is down does."""
    return BrokerProducer("unreachable", url=UNREACHABLE_REDIS)
