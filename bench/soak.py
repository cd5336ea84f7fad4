"""The soak run (``make soak``, ``python -m bench.soak``): mixed traffic for minutes against
gunicorn and a real Celery worker with beat, then the invariants.

Its own database (``socialhub_soak``, recreated) and Redis database 4, production settings
(``DEBUG`` off, secrets generated for the run) with the sandbox platform on and served by
a second gunicorn, so every connect goes through the whole OAuth flow offline. A workspace
is seeded with creators, their accounts (with history, an open lease and a real sandbox
grant each) and an owner; the clients (``bench/soak_traffic.py``) register or log in, then
connect, list, schedule, cancel, disconnect and refresh at random. Afterwards the worker
drains (no due target left, the revocation outbox empty) and ``bench/soak_checks.py``
checks the database. Prints a table, writes ``bench/soak_results.json``, exits 1 when an
invariant fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

from bench.run import django_setup, fresh_database
from bench.servers import celery_worker, flush_redis, free_port, gunicorn, unlimited_rate_limits

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "soak_results.json"
LOGS = HERE.parent / "var" / "soak"  # the servers' and the worker's logs of the last run
DATABASE_URL = "postgres://postgres@127.0.0.1:5432/socialhub_soak"
REDIS_URL = "redis://127.0.0.1:6379/4"
SERVER_WORKERS, SERVER_THREADS = 3, 4
# The sandbox platform runs as a server of its own, as a platform does: were it served by
# the API's server, requests waiting on it could hold every thread it needs to answer. Its
# keep-alive outlasts the gaps between the service's calls to it, so an idle connection is
# not closed just as a request is sent on it.
PLATFORM_WORKERS, PLATFORM_THREADS, PLATFORM_KEEP_ALIVE = 2, 4, 75
WORKER_CONCURRENCY = 2
SEEDED_CREATORS = 20  # each with all 11 platforms connected in the shared workspace
# Periodic work sped up so a few minutes see many runs of it: due posts claimed every 2 s,
# tokens expiring within 15 minutes refreshed every 15 s (the seeded grants expire over the
# next hour), counters older than 2 minutes synced every 30 s.
BACKGROUND = {
    "PUBLISH_DUE_INTERVAL": "2",
    "TOKEN_REFRESH_INTERVAL": "15",
    "TOKEN_REFRESH_AHEAD_MINUTES": "15",
    "METRICS_SYNC_INTERVAL": "30",
    "METRICS_SYNC_STALE_AFTER_MINUTES": "2",
}
# Logged only when something went wrong in a request or a task.
LOG_FAILURES = re.compile(r"Traceback \(most recent call last\)|raised unexpected|WORKER TIMEOUT")


def log(message: str) -> None:
    print(message, flush=True)


def _seed(creators: int):
    """The shared workspace, then a real sandbox grant on each seeded account (the seed's
    tokens are placeholders) expiring at a random point of the next hour, so the refresher
    has a steady share of them to renew."""
    import random

    from django.utils import timezone

    from accounts.models import SocialAccount, Workspace
    from accounts.services.sandbox import sandbox_account_get_or_create, sandbox_grant_issue
    from bench.seed import PASSWORD, History, seed_workspace, vacuum
    from bench.soak_traffic import Population
    from socialhub.api.ids import format_public_id

    seeded = seed_workspace(
        "soak",
        creators=creators,
        accounts_per_creator=11,
        history=History(queued=2, snapshots=30, inbox=5, leases=1),
    )
    rng = random.Random(0)
    now = timezone.now()
    accounts = SocialAccount.objects.filter(pk__in=seeded.account_ids).values_list(
        "pk", "platform", "platform_username", "metrics__follower_count"
    )
    for pk, platform, handle, followers in accounts:
        upstream = sandbox_account_get_or_create(
            platform=platform, handle=handle, followers=followers
        )
        grant = sandbox_grant_issue(platform=platform, handle=handle)
        SocialAccount.objects.filter(pk=pk).update(
            platform_user_id=upstream.upstream_id,
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            token_expires_at=now + timedelta(seconds=rng.uniform(60, grant.expires_in)),
        )
    vacuum()
    return Population(
        workspace=format_public_id(Workspace.ID_PREFIX, seeded.workspace_id),
        owner_email=seeded.owner_email,
        password=PASSWORD,
        # seed_workspace names creator n "soak-<n>@bench.local", its handles "<n>-<platform>".
        seeded_creators=[(f"soak-{n}@bench.local", f"{n}-") for n in range(1, creators + 1)],
        leased={format_public_id(SocialAccount.ID_PREFIX, pk) for pk in seeded.account_ids},
    )


def _backlog() -> dict[str, int]:
    from django.utils import timezone

    from accounts.models import TokenRevocation
    from scheduling.models import PostTarget

    return {
        "due": PostTarget.objects.filter(
            status=PostTarget.Status.QUEUED, post__scheduled_at__lte=timezone.now()
        ).count(),
        "publishing": PostTarget.objects.filter(status=PostTarget.Status.PUBLISHING).count(),
        "outbox": TokenRevocation.objects.count(),
    }


def _drain(*, not_before: float, timeout: float) -> dict:
    """Wait until the last post scheduled to publish is due, nothing due is left queued or
    publishing and the revocation outbox is empty; or until ``timeout``."""
    started = time.monotonic()
    while True:
        backlog = _backlog()
        if time.time() >= not_before and not any(backlog.values()):
            return {"seconds": round(time.monotonic() - started, 1), "drained": True, **backlog}
        if time.monotonic() - started > timeout:
            return {"seconds": round(time.monotonic() - started, 1), "drained": False, **backlog}
        time.sleep(1)


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def _operation_rows(tally) -> list[dict]:
    rows = []
    for name in sorted(tally.operations):
        operation = tally.operations[name]
        latencies = operation.latencies_ms
        rows.append(
            {
                "operation": name,
                "requests": sum(operation.statuses.values()),
                "statuses": {
                    str(code): n
                    for code, n in sorted(operation.statuses.items(), key=lambda item: str(item[0]))
                },
                "p50_ms": round(_percentile(latencies, 0.50), 1),
                "p95_ms": round(_percentile(latencies, 0.95), 1),
                "p99_ms": round(_percentile(latencies, 0.99), 1),
                "max_ms": round(max(latencies, default=0.0), 1),
            }
        )
    return rows


def _background(worker_log: str) -> dict[str, int]:
    """What the worker did, from its log: runs of each task, by outcome where the task
    answers one (``published``, ``revoked`` …), else with the items it handed on."""
    counts: dict[str, int] = {}
    for task, outcome in re.findall(
        r"Task [\w.]+\.(\w+)\[[\w-]+\] succeeded in [\d.e-]+s: '?(\w+)'?", worker_log
    ):
        if outcome.isdigit():
            counts[f"{task} runs"] = counts.get(f"{task} runs", 0) + 1
            key, n = f"{task} items", int(outcome)
        else:
            key, n = f"{task} {outcome}", 1
        counts[key] = counts.get(key, 0) + n
    return dict(sorted(counts.items()))


def _table(results: dict) -> str:
    lines = [
        f"Soak: {results['clients']} clients for {results['duration_s']:.0f} s "
        f"(seed {results['seed']}), {results['requests']} requests, "
        f"{results['requests_per_s']:.1f} req/s",
        "",
        f"{'operation':<44} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses",
    ]
    for row in results["operations"]:
        statuses = " ".join(f"{code}:{n}" for code, n in row["statuses"].items())
        lines.append(
            f"{row['operation']:<44} {row['requests']:>8} {row['p50_ms']:>8.1f} "
            f"{row['p95_ms']:>8.1f} {row['p99_ms']:>8.1f}  {statuses}"
        )
    seen = results["seen"]
    lines += [
        "",
        f"seen: {seen['disconnects']} disconnects, {seen['connects']} connects, "
        f"{seen['posts_created']} posts created, {seen['server_errors']} 5xx, "
        f"{seen['transport_errors']} without an answer, {seen['client_errors']} client errors",
        f"drain: {results['drain']}",
        "worker: " + ", ".join(f"{k}: {v}" for k, v in results["background"].items()),
        "targets: " + ", ".join(f"{k}: {v}" for k, v in results["publish_outcomes"].items()),
        "grants of active accounts: "
        + ", ".join(f"{k}: {v}" for k, v in results["connected_grants"].items()),
        "",
        "Invariants",
    ]
    for check in results["checks"]:
        verdict = "PASS" if check["passed"] else "FAIL"
        lines.append(f"  {verdict}  {check['name']}: {check['detail']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="Mixed traffic against gunicorn and a Celery worker with beat, then "
        "invariant checks; writes bench/soak_results.json.",
    )
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of traffic")
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    parser.add_argument("--seed", type=int, default=1, help="the clients' random seed")
    parser.add_argument(
        "--seeded-creators", type=int, default=SEEDED_CREATORS, help="creators seeded"
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=180.0, help="seconds to wait for the worker"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="the results file")
    args = parser.parse_args(argv)

    database_url = os.environ.get("SOAK_DATABASE_URL", DATABASE_URL)
    redis_url = os.environ.get("SOAK_REDIS_URL", REDIS_URL)
    platform_port = free_port()
    os.environ.update({**BACKGROUND, **unlimited_rate_limits()})
    django_setup(
        database_url, redis_url, sandbox_base_url=f"http://127.0.0.1:{platform_port}/sandbox"
    )
    os.environ["LOG_LEVEL"] = "INFO"  # the worker's task lines; requests log only failures

    from bench import soak_checks, soak_traffic
    from bench.report import machine

    log(f"== fresh database {database_url.rsplit('/', 1)[-1]}, Redis {redis_url}")
    fresh_database()
    flush_redis(redis_url)
    log(f"seeding {args.seeded_creators} creators x 11 accounts with history and sandbox grants")
    population = _seed(args.seeded_creators)
    environment = dict(os.environ)
    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir(parents=True)
    try:
        with (
            gunicorn(
                environment,
                LOGS,
                log,
                workers=PLATFORM_WORKERS,
                threads=PLATFORM_THREADS,
                port=platform_port,
                keep_alive=PLATFORM_KEEP_ALIVE,
                name="platform",
            ),
            gunicorn(
                environment, LOGS, log, workers=SERVER_WORKERS, threads=SERVER_THREADS
            ) as base_url,
            celery_worker(environment, LOGS, log, concurrency=WORKER_CONCURRENCY),
        ):
            clients, setup = soak_traffic.prepare(
                base_url,
                population,
                clients=args.clients,
                seed=args.seed,
                run_tag=f"soak{args.seed}",
            )
            baseline = soak_checks.counts()
            log(f"== traffic: {len(clients)} clients for {args.duration:.0f} s")
            started = time.monotonic()
            tally = soak_traffic.run(clients, seconds=args.duration)
            elapsed = time.monotonic() - started
            log(f"== draining (up to {args.drain_timeout:.0f} s)")
            drain = _drain(not_before=tally.soon_due_until + 1, timeout=args.drain_timeout)
    finally:
        flush_redis(redis_url)
        server_log, worker_log = (
            "".join(
                path.read_text(errors="replace")
                for path in (LOGS / name for name in names)
                if path.exists()
            )
            for names in (("gunicorn.log", "platform.log"), ("celery.log",))
        )

    tally.merge(setup)
    log("== invariants")
    checks = soak_checks.run_checks(
        baseline=baseline,
        seen=tally.seen,
        tokens=soak_checks.known_tokens(),
        logs=server_log + worker_log,
    )
    failures = LOG_FAILURES.findall(server_log) + LOG_FAILURES.findall(worker_log)
    checks.append(
        soak_checks.Check(
            "no exception in the server or worker logs",
            not failures,
            f"{len(failures)} tracebacks or unexpected task errors",
        )
    )
    operations = _operation_rows(tally)
    requests = sum(row["requests"] for row in operations)
    results = {
        "machine": machine(),
        "clients": args.clients,
        "seed": args.seed,
        "seeded_creators": args.seeded_creators,
        "duration_s": round(elapsed, 1),
        "requests": requests,
        "requests_per_s": round(requests / elapsed, 1),
        "server": f"gunicorn {SERVER_WORKERS} workers x {SERVER_THREADS} threads",
        "platform": f"sandbox on gunicorn {PLATFORM_WORKERS} workers x {PLATFORM_THREADS} "
        f"threads, keep-alive {PLATFORM_KEEP_ALIVE} s",
        "worker": f"celery prefork {WORKER_CONCURRENCY} processes with beat",
        "background_settings": BACKGROUND,
        "operations": operations,
        "seen": vars(tally.seen),
        "drain": drain,
        "background": _background(worker_log),
        "publish_outcomes": soak_checks.publish_outcomes(),
        "connected_grants": soak_checks.connected_grants_revoked(),
        "checks": [vars(check) for check in checks],
        "passed": all(check.passed for check in checks),
        "samples": tally.samples,
        "examples": dict(sorted(tally.examples.items())),
    }
    print(_table(results))
    for sample in tally.samples:
        print(f"\n--- {sample}")
    if failures:
        for excerpt in _log_excerpts(server_log + worker_log):
            print(f"\n--- log: {excerpt}")
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    log(f"\nwrote {args.output}; the servers' and the worker's logs are in {LOGS}")
    sys.exit(0 if results["passed"] else 1)


def _log_excerpts(text: str, most: int = 3) -> list[str]:
    lines = text.splitlines()
    found = [i for i, line in enumerate(lines) if LOG_FAILURES.search(line)][:most]
    return ["\n".join(lines[max(0, i - 2) : i + 25]) for i in found]


if __name__ == "__main__":
    main()
