"""API throughput: endpoints served the way production serves them (gunicorn, sync workers,
``DEBUG`` off, PostgreSQL, Redis) and driven by wrk, each beside the ceiling measured in the
same run (``bench/urls.py``: a bare view behind the same authentication, permission,
renderer and middleware, answering a constant body).

The server, PostgreSQL, Redis and wrk share the machine's cores, so requests per second
are those of the whole machine; the ratio to the ceiling is what tells an endpoint's own
work from what every request costs. Sync workers close each connection after answering
(production puts a proxy in front), so wrk connects once per request, the ceiling alike.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.test import override_settings

from accounts.models import SocialAccount
from socialhub.api.ids import format_public_id

from .seed import PASSWORD, History, seed_workspace, vacuum
from .servers import flush_redis, gunicorn, unlimited_rate_limits

# Sync workers serve one request each at a time. Two cores also carry PostgreSQL, Redis and
# wrk; four workers keep both cores busy while some of them wait on the database.
WORKERS = 4
# wrk: two threads (one per core) and eight connections, two per worker, so a worker
# finds the next request waiting when it finishes one.
THREADS = 2
CONNECTIONS = 8
WARMUP_MAX_SECONDS = 2.0
REDIS_URL = "redis://127.0.0.1:6379/3"

# The listed workspace: eight creators with every platform connected (88 accounts); the
# first of them calls the creator list.
LIST_CREATORS = 8
LIST_HISTORY = History(queued=2, snapshots=30, inbox=10)
# Each disconnected account: a couple of queued posts, a month of snapshots, some comments.
DELETE_HISTORY = History(queued=2, snapshots=30, inbox=5)
# Accounts seeded for the disconnects, per second of run at the DELETE ceiling's rate: a
# disconnect does more than the ceiling, so it cannot use them all up.
DELETE_POOL_MARGIN = 1.5

CEILING = "/api/v1/bench/ceiling"
CREATOR_SOCIAL = "/api/v1/creators/social"
SOCIAL_ACCOUNTS = "/api/v1/social-accounts"

LUA_TEMPLATE = """
wrk.method = {method}
wrk.headers["Authorization"] = {authorization}
local threads = {{}}
local created = 0

function setup(thread)
  thread:set("tid", created)
  created = created + 1
  table.insert(threads, thread)
end

function init(args)
  statuses = {{}}
  sent = 0
  exhausted = 0
  ids = {{}}
  nxt = 1
  local ids_file = {ids_file}
  if ids_file ~= "" then
    local n = 0
    for line in io.lines(ids_file) do
      if n % {threads} == tid then ids[#ids + 1] = line end
      n = n + 1
    end
  end
end

{request}

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local codes, total_sent, total_exhausted = {{}}, 0, 0
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("statuses")) do codes[code] = (codes[code] or 0) + n end
    total_sent = total_sent + thread:get("sent")
    total_exhausted = total_exhausted + thread:get("exhausted")
  end
  local parts = {{}}
  for code, n in pairs(codes) do
    parts[#parts + 1] = string.format('"%d": %d', code, n)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {{"requests": %d, "duration_us": %d, "statuses": {{%s}}, ' ..
    '"socket_errors": {{"connect": %d, "read": %d, "write": %d, "timeout": %d}}, ' ..
    '"sent": %d, "exhausted": %d, "p50_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout, total_sent, total_exhausted,
    latency:percentile(50), latency:percentile(99)))
end
"""

# Each request takes the thread's next id; the threads' shares are disjoint, so no id is
# requested twice. Should a share run out, the request names no account (a 400, counted as
# an error and reported as exhausted) rather than repeating one. wrk builds the first
# thread's first request once before the run only to check it, and never sends it: that
# one takes no id (were it sent, its 400 would show as an error).
WALKING_REQUEST = """
function request()
  if tid == 0 and not checked then
    checked = true
    return wrk.format(nil, {path} .. "unsent")
  end
  sent = sent + 1
  local id = ids[nxt]
  if id == nil then
    exhausted = exhausted + 1
    id = "exhausted"
  else
    nxt = nxt + 1
  end
  return wrk.format(nil, {path} .. id)
end
"""


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII is a valid Lua string literal


@dataclass
class WrkResult:
    requests: int
    seconds: float
    statuses: dict[int, int]
    socket_errors: int
    sent: int
    exhausted: int
    p50_ms: float
    p99_ms: float

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def successes(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def errors(self) -> int:
        """Socket errors (connect, read, write, timeout) and answers other than 2xx."""
        return self.socket_errors + self.requests - self.successes


@dataclass
class Wrk:
    base_url: str
    workdir: Path
    scripts: int = field(default=0)

    def _script(self, *, method: str, path: str, token: str, ids: list[str] | None) -> Path:
        self.scripts += 1
        ids_file = ""
        if ids is not None:
            ids_path = self.workdir / f"ids-{self.scripts}.txt"
            ids_path.write_text("".join(f"{value}\n" for value in ids))
            ids_file = str(ids_path)
        request = WALKING_REQUEST.format(path=_lua_string(path)) if ids is not None else ""
        script = self.workdir / f"script-{self.scripts}.lua"
        script.write_text(
            LUA_TEMPLATE.format(
                method=_lua_string(method),
                authorization=_lua_string(f"Bearer {token}"),
                ids_file=_lua_string(ids_file),
                threads=THREADS,
                request=request,
            )
        )
        return script

    def run(
        self, *, method: str, path: str, token: str, seconds: float, ids: list[str] | None = None
    ) -> WrkResult:
        """``seconds`` (whole seconds: wrk's resolution) of ``method path``; with ``ids``,
        ``path`` is a prefix and each request appends the next unused id."""
        script = self._script(method=method, path=path, token=token, ids=ids)
        command = [
            "wrk",
            f"--threads={THREADS}",
            f"--connections={CONNECTIONS}",
            f"--duration={max(1, round(seconds))}s",
            "--timeout=5s",
            f"--script={script}",
            self.base_url + (path if ids is None else "/"),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("WRK_RESULT ")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
        raw = json.loads(lines[-1].removeprefix("WRK_RESULT "))
        errors = raw["socket_errors"]
        return WrkResult(
            requests=raw["requests"],
            seconds=raw["duration_us"] / 1e6,
            statuses={int(status): n for status, n in raw["statuses"].items()},
            socket_errors=sum(errors.values()),
            sent=raw["sent"],
            exhausted=raw["exhausted"],
            p50_ms=raw["p50_us"] / 1000,
            p99_ms=raw["p99_us"] / 1000,
        )


@contextmanager
def _token_keys():
    """The token keys the bench process and the server share.

    Seeded tokens are encrypted by this process and must decrypt in the server, which
    refuses the development key: when this process runs on it, both use a fresh key instead.
    """
    keys = list(settings.TOKEN_ENCRYPTION_KEYS)
    if settings.DEV_TOKEN_ENCRYPTION_KEY not in keys:
        yield keys
        return
    from cryptography.fernet import Fernet

    fresh = [Fernet.generate_key().decode()]
    with override_settings(TOKEN_ENCRYPTION_KEYS=fresh):
        yield fresh


def _server_environment(token_keys: list[str]) -> dict[str, str]:
    environment = dict(os.environ)
    for name in ("CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "SANDBOX_BASE_URL"):
        environment.pop(name, None)
    environment.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_SIGNING_KEY": secrets.token_urlsafe(48),
            "TOKEN_ENCRYPTION_KEYS": ",".join(token_keys),
            "DATABASE_URL": os.environ["DATABASE_URL"],
            "REDIS_URL": REDIS_URL,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "SOCIALHUB_SANDBOX": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    environment.update(unlimited_rate_limits())
    return environment


def _login(base_url: str, email: str) -> str:
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    request = urllib.request.Request(
        base_url + "/api/v1/auth/login",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["data"]["accessToken"]


def _log_result(log, label: str, result: WrkResult) -> None:
    log(
        f"  {label:<42} {result.requests_per_s:8.1f} req/s  p50 {result.p50_ms:7.2f} ms  "
        f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}"
    )


def _measured(wrk: Wrk, *, label: str, warmup: float, duration: float, log, **request):
    """A warm-up run, then the measured one."""
    wrk.run(seconds=warmup, **request)
    result = wrk.run(seconds=duration, **request)
    _log_result(log, label, result)
    return result


def _both(before: WrkResult, after: WrkResult) -> WrkResult:
    """The ceiling measured before and after the endpoints it stands beside, as one run:
    whatever drifts while they run (caches, the database's size) weighs on both sides."""
    statuses = dict(before.statuses)
    for status, count in after.statuses.items():
        statuses[status] = statuses.get(status, 0) + count
    return WrkResult(
        requests=before.requests + after.requests,
        seconds=before.seconds + after.seconds,
        statuses=statuses,
        socket_errors=before.socket_errors + after.socket_errors,
        sent=before.sent + after.sent,
        exhausted=before.exhausted + after.exhausted,
        p50_ms=(before.p50_ms + after.p50_ms) / 2,
        p99_ms=(before.p99_ms + after.p99_ms) / 2,
    )


def _row(endpoint: str, result: WrkResult, ceiling: WrkResult, note: str) -> dict:
    return {
        "endpoint": endpoint,
        "requests_per_s": round(result.requests_per_s, 1),
        "p50_ms": round(result.p50_ms, 2),
        "p99_ms": round(result.p99_ms, 2),
        "errors": result.errors,
        "ceiling_requests_per_s": round(ceiling.requests_per_s, 1),
        "ceiling_p50_ms": round(ceiling.p50_ms, 2),
        "ceiling_p99_ms": round(ceiling.p99_ms, 2),
        "ceiling_errors": ceiling.errors,
        "ratio": round(result.requests_per_s / ceiling.requests_per_s, 3),
        "workers": WORKERS,
        "connections": CONNECTIONS,
        "note": note,
    }


def _settle() -> None:
    """Planner statistics and hint bits as a live database has them, and no checkpoint
    pending to land in the middle of a measurement."""
    vacuum()
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def _remaining(account_ids: list) -> int:
    return SocialAccount.objects.filter(pk__in=account_ids).count()


def _wait_for_disconnects(account_ids: list, expected_deleted: int) -> int:
    """How many of ``account_ids`` are gone, once the requests still in flight when wrk
    stopped have finished on the server (up to 30 s for ``expected_deleted``, then a
    moment more for any straggler)."""
    deadline = time.monotonic() + 30
    deleted = len(account_ids) - _remaining(account_ids)
    while deleted < expected_deleted and time.monotonic() < deadline:
        time.sleep(0.2)
        deleted = len(account_ids) - _remaining(account_ids)
    time.sleep(0.5)
    return len(account_ids) - _remaining(account_ids)


def _check_disconnects(runs: list[WrkResult], account_ids: list) -> int:
    """Each request deleted a distinct account: every answer was a 2xx, and as many accounts
    are gone as requests were answered plus those still in flight when wrk stopped (at most
    one per connection; the server completes them after). Returns how many were in flight.
    """
    for result in runs:
        if result.exhausted:
            raise RuntimeError(f"the disconnects ran out of accounts ({result.exhausted} over)")
        if result.errors:
            raise RuntimeError(f"disconnects failed: {result.statuses}, {result.socket_errors}")
    sent = sum(result.sent for result in runs)
    answered = sum(result.successes for result in runs)
    in_flight = sent - answered
    deleted = _wait_for_disconnects(account_ids, sent)
    if deleted != answered + in_flight or not 0 <= in_flight <= len(runs) * CONNECTIONS:
        raise RuntimeError(
            f"{deleted} accounts deleted, but {answered} disconnects were answered 2xx and "
            f"{in_flight} were in flight when wrk stopped"
        )
    return in_flight


def run(*, duration: float = 10.0, log=print) -> list[dict]:
    """One row per endpoint: its requests per second and latency beside the ceiling's."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    timing = {"warmup": max(1.0, min(WARMUP_MAX_SECONDS, duration / 5)), "duration": duration}
    with _token_keys() as token_keys, tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        workdir = Path(tmp)
        log(f"seeding the listed workspace: {LIST_CREATORS} creators x 11 accounts")
        # Tags (and so e-mail addresses) of this run only: the database may hold others.
        tag = f"api-{secrets.token_hex(3)}"
        listed = seed_workspace(
            f"{tag}-list", creators=LIST_CREATORS, accounts_per_creator=11, history=LIST_HISTORY
        )
        # The same list for a workspace of one creator: what the list costs per account.
        small = seed_workspace(
            f"{tag}-small", creators=1, accounts_per_creator=11, history=LIST_HISTORY
        )
        _settle()
        flush_redis(REDIS_URL)
        try:
            server = gunicorn(_server_environment(token_keys), workdir, log, workers=WORKERS)
            with server as base_url:
                wrk = Wrk(base_url, workdir)
                log(f"wrk: {THREADS} threads, {CONNECTIONS} connections, {duration:.0f} s a run")
                owner = _login(base_url, listed.owner_email)
                creator = _login(base_url, f"{tag}-list-1@bench.local")
                small_owner = _login(base_url, small.owner_email)
                rows = _get_rows(
                    wrk, listed, owner, creator, (small, small_owner), log=log, **timing
                )
                rows.append(_delete_row(wrk, owner, f"{tag}-delete", log=log, **timing))
        finally:
            flush_redis(REDIS_URL)
    return rows


def _get_rows(wrk: Wrk, listed, owner: str, creator: str, small, *, warmup, duration, log):
    """The lists beside the GET ceiling: a creator's own accounts (``creator``'s token,
    every platform connected), the listed workspace's as its owner (``owner``'s), and
    ``small`` (a workspace of 11 accounts and its owner's token) likewise. The ceiling runs
    before and after them."""
    timing = {"warmup": warmup, "duration": duration, "log": log}
    ceiling_request = {"label": "GET ceiling", "method": "GET", "path": CEILING, "token": owner}
    ceiling = _measured(wrk, **ceiling_request, **timing)
    creator_social = _measured(
        wrk,
        label=f"GET {CREATOR_SOCIAL}",
        method="GET",
        path=CREATOR_SOCIAL,
        token=creator,
        **timing,
    )
    workspace = format_public_id("ws", listed.workspace_id)
    social_accounts = _measured(
        wrk,
        label=f"GET {SOCIAL_ACCOUNTS} ({LIST_CREATORS * 11})",
        method="GET",
        path=f"{SOCIAL_ACCOUNTS}?workspace={workspace}",
        token=owner,
        **timing,
    )
    small_workspace, small_owner = small
    small_accounts = _measured(
        wrk,
        label=f"GET {SOCIAL_ACCOUNTS} (11)",
        method="GET",
        path=f"{SOCIAL_ACCOUNTS}?workspace={format_public_id('ws', small_workspace.workspace_id)}",
        token=small_owner,
        **timing,
    )
    ceiling = _both(
        ceiling,
        _measured(wrk, **ceiling_request, **timing),
    )
    return [
        _row(
            f"GET {CREATOR_SOCIAL}",
            creator_social,
            ceiling,
            "a creator's own accounts: 11, one per platform, each with metrics",
        ),
        _row(
            f"GET {SOCIAL_ACCOUNTS} ({LIST_CREATORS * 11} accounts)",
            social_accounts,
            ceiling,
            f"?workspace= of a team workspace with {LIST_CREATORS * 11} accounts "
            f"({LIST_CREATORS} creators x 11 platforms), as its owner",
        ),
        _row(
            f"GET {SOCIAL_ACCOUNTS} (11 accounts)",
            small_accounts,
            ceiling,
            "?workspace= of a workspace with one creator's 11 accounts, as its owner",
        ),
    ]


def _delete_row(wrk: Wrk, owner: str, tag: str, *, warmup, duration, log) -> dict:
    """The disconnect beside the DELETE ceiling (called with ``owner``'s token), measured
    before and after it. The accounts to disconnect (a workspace tagged ``tag``) are seeded
    after the first ceiling run: its rate bounds how many a run can use up."""

    def measure_ceiling() -> WrkResult:
        return _measured(
            wrk,
            label="DELETE ceiling",
            method="DELETE",
            path=CEILING,
            token=owner,
            warmup=warmup,
            duration=duration,
            log=log,
        )

    ceiling = measure_ceiling()
    rate = ceiling.requests_per_s * DELETE_POOL_MARGIN
    warm_count = math.ceil(rate * max(1, round(warmup))) + 50
    run_count = math.ceil(rate * max(1, round(duration))) + 50
    log(f"seeding {warm_count + run_count} accounts to disconnect, each its creator's only one")
    pool = seed_workspace(
        tag,
        creators=warm_count + run_count,
        accounts_per_creator=1,
        history=DELETE_HISTORY,
    )
    _settle()
    ids = [format_public_id("sa", account_id) for account_id in pool.account_ids]
    pool_owner = _login(wrk.base_url, pool.owner_email)
    delete = {"method": "DELETE", "path": f"{SOCIAL_ACCOUNTS}/", "token": pool_owner}
    warm_run = wrk.run(seconds=warmup, ids=ids[:warm_count], **delete)
    measured = wrk.run(seconds=duration, ids=ids[warm_count:], **delete)
    _log_result(log, f"DELETE {SOCIAL_ACCOUNTS}/{{id}}", measured)
    in_flight = _check_disconnects([warm_run, measured], pool.account_ids)
    ceiling = _both(ceiling, measure_ceiling())
    return _row(
        f"DELETE {SOCIAL_ACCOUNTS}/{{id}}",
        measured,
        ceiling,
        "the workspace owner disconnects a distinct account per request (each with "
        f"{DELETE_HISTORY.queued} queued posts, {DELETE_HISTORY.snapshots} snapshots, "
        f"{DELETE_HISTORY.inbox} inbox items and metrics; each its creator's only account); "
        f"accounts deleted = 2xx answers + {in_flight} in flight when wrk stopped",
    )
