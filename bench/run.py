"""The benchmark's entry point (``make bench``)."""

from __future__ import annotations

import argparse
import os
import sys


def _django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()


def _fresh_database() -> None:
    """Drop and recreate the benchmark's database, then migrate it."""
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
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", default="0,1000,10000,100000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="disconnect,offboarding,api")
    args = parser.parse_args(argv)
    _django_setup(
        os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/socialhub_bench")
    )
    _fresh_database()
    from bench import disconnect

    rows = disconnect.run([int(s) for s in args.sizes.split(",")], args.repeats)
    for row in rows:
        print(row)
    sys.exit(0)
