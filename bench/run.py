"""The benchmark's entry point (``make bench``)."""

from __future__ import annotations

import argparse
import os
import secrets
import sys


def production_environment(database_url: str, redis_url: str) -> None:
    """What production runs with (``DEBUG`` off, real secrets, Redis), set in ``os.environ``
    so the commands and servers the benchmark starts inherit it. The secrets are generated
    for this run and never written anywhere."""
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
            "SOCIALHUB_SANDBOX": "0",
            "LOG_LEVEL": "WARNING",
        }
    )


def _django_setup(database_url: str, redis_url: str) -> None:
    production_environment(database_url, redis_url)
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
        os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/socialhub_bench"),
        os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"),
    )
    _fresh_database()
    from bench import disconnect, offboarding

    only = args.only.split(",")
    if "disconnect" in only:
        for row in disconnect.run([int(s) for s in args.sizes.split(",")], args.repeats):
            print(row)
    if "offboarding" in only:
        for row in offboarding.run():
            print(row)
    sys.exit(0)
