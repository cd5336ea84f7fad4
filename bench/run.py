"""The benchmark's entry point (``make bench``)."""

from __future__ import annotations

import argparse
import os
import secrets
import sys


def production_environment(
    database_url: str, redis_url: str, *, sandbox_base_url: str | None = None
) -> None:
    """What production runs with (``DEBUG`` off, real secrets, Redis), set in ``os.environ``
    so the commands and servers the benchmark starts inherit it. The secrets are generated
    for this run and never written anywhere. With ``sandbox_base_url`` the sandbox platform
    is served and every platform is routed to it there."""
    from cryptography.fernet import Fernet

    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_SIGNING_KEY": secrets.token_urlsafe(48),
            "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "SOCIALHUB_SANDBOX": "1" if sandbox_base_url else "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    if sandbox_base_url:
        os.environ["SANDBOX_BASE_URL"] = sandbox_base_url
    else:
        os.environ.pop("SANDBOX_BASE_URL", None)


def django_setup(database_url: str, redis_url: str, *, sandbox_base_url: str | None = None) -> None:
    production_environment(database_url, redis_url, sandbox_base_url=sandbox_base_url)
    import django

    django.setup()


def fresh_database() -> None:
    """Drop and recreate the run's database (``DATABASE_URL``), then migrate it."""
    import psycopg
    from django.conf import settings
    from django.core.management import call_command

    db = settings.DATABASES["default"]
    maintenance = psycopg.conninfo.make_conninfo(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
    )
    with psycopg.connect(maintenance, autocommit=True) as pg:
        pg.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}" WITH (FORCE)')
        pg.execute(f'CREATE DATABASE "{db["NAME"]}"')
    call_command("migrate", verbosity=0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Seed PostgreSQL, measure, print the table, write bench/results.json "
        "and bench/results.png.",
    )
    parser.add_argument(
        "--sizes",
        default="0,1000,10000,100000",
        help="history sizes N for the disconnect (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="fresh accounts measured per N (median)"
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of load per API measurement"
    )
    parser.add_argument(
        "--only",
        default="disconnect,offboarding,api",
        help="sections to run, comma-separated (default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a fast smoke run: small sizes, one repeat, short loads (numbers not comparable)",
    )
    args = parser.parse_args(argv)
    django_setup(
        os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/socialhub_bench"),
        os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"),
    )
    fresh_database()
    from bench import disconnect, offboarding, report

    sizes = [int(size) for size in args.sizes.split(",")]
    runs, repeats, duration = offboarding.RUNS, args.repeats, args.duration
    if args.quick:
        sizes, runs, repeats, duration = [0, 1000], [(100, 1), (100, 2)], 1, 2.0
    only = set(args.only.split(","))
    results: dict = {"machine": report.machine()}
    if "disconnect" in only:
        print("== disconnect vs history, beside the SQL floor", flush=True)
        results["disconnect"] = disconnect.run(sizes, repeats)
    if "offboarding" in only:
        print("== offboarding through the command", flush=True)
        results["offboarding"] = offboarding.run(runs)
    if "api" in only:
        from bench import api

        print("== API throughput under gunicorn and wrk", flush=True)
        results["api"] = api.run(duration=duration)
    results["verdicts"] = report.verdicts(results)
    print(report.text(results))
    if not args.quick:
        print(f"\nwrote {report.write_json(results)} and {report.plot(results)}")
    sys.exit(0)
