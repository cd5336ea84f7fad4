"""The processes the benchmark and the soak run start: gunicorn and a Celery worker on
loopback, each in its own process group so it stops with all its children, and the Redis
database they share."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60

# High enough that no request is refused, low enough to stay a real limit: the counter is
# still read and incremented on every limited request.
UNLIMITED = "100000000/m"
RATELIMIT_VARIABLES = (
    "RATELIMIT_CREATOR_DISCONNECT",
    "RATELIMIT_CREATOR_CONNECT",
    "RATELIMIT_LOGIN",
    "RATELIMIT_REGISTER",
    "RATELIMIT_REFRESH",
    "RATELIMIT_PARTNER_WRITE",
    "RATELIMIT_WORKSPACE_WRITE",
    "RATELIMIT_POSTS_WRITE",
)


def unlimited_rate_limits() -> dict[str, str]:
    """Every rate limit raised out of reach: all the load comes from one address."""
    return dict.fromkeys(RATELIMIT_VARIABLES, UNLIMITED)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def _start(command: list[str], environment: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "w") as output:
        return subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env={**environment, "PYTHONUNBUFFERED": "1"},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group, then SIGKILL after 30 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen, log_path: Path, what: str):
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited ({process.returncode}):\n{log_path.read_text()}")
        if ready():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not become ready:\n{log_path.read_text()}")


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(base_url + "/healthz", timeout=2) as answer:
            return answer.status == 200
    except (OSError, urllib.error.URLError):
        return False


@contextmanager
def gunicorn(
    environment: dict[str, str],
    workdir: Path,
    log,
    *,
    workers: int,
    threads: int = 1,
    port: int | None = None,
    keep_alive: int | None = None,
    name: str = "gunicorn",
) -> Iterator[str]:
    """gunicorn on a loopback port (sync workers, or gthread with ``threads`` > 1) until
    ``/healthz`` answers; yields its base URL. Its output goes to ``workdir/<name>.log``."""
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    server_log = workdir / f"{name}.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "socialhub.wsgi",
        f"--workers={workers}",
        f"--bind=127.0.0.1:{port}",
        "--log-level=warning",
    ]
    if threads > 1:
        command += ["--worker-class=gthread", f"--threads={threads}"]
        shape = f"{workers} workers x {threads} threads"
    else:
        command += ["--worker-class=sync"]
        shape = f"{workers} sync workers"
    if keep_alive is not None:
        command += [f"--keep-alive={keep_alive}"]
    log(f"starting {name}: {shape} on {base_url}")
    process = _start(command, environment, server_log)
    try:
        _wait_until(lambda: _healthy(base_url), process, server_log, name)
        yield base_url
    finally:
        stop(process)


@contextmanager
def celery_worker(
    environment: dict[str, str], workdir: Path, log, *, concurrency: int
) -> Iterator[Path]:
    """``celery worker --beat`` (prefork) until it says it is ready; yields its log file."""
    worker_log = workdir / "celery.log"
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "socialhub",
        "worker",
        "--beat",
        "--schedule",
        str(workdir / "celerybeat-schedule"),
        "--pool=prefork",
        f"--concurrency={concurrency}",
        "--without-gossip",
        "--without-mingle",
        "--loglevel=INFO",
    ]
    log(f"starting a Celery worker with beat: {concurrency} processes")
    process = _start(command, environment, worker_log)
    try:
        _wait_until(
            lambda: " ready." in worker_log.read_text(errors="replace"),
            process,
            worker_log,
            "the Celery worker",
        )
        yield worker_log
    finally:
        stop(process)
