"""select_rows: SQL written once, read as the ORM reads it; the PostgreSQL backend's
date-time loader; migrations."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader

from accounts.models import SocialAccount
from socialhub.db import select_rows
from tests.factories import SocialAccountFactory


def test_the_migrations_describe_the_models(db):
    """A model change without its migration would reach production half-applied."""
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


DATE_TIMES = """
    SELECT '2026-01-02 03:04:05+00'::timestamptz, '2026-06-01 12:00:00.5+02'::timestamptz,
           '1999-12-31 23:59:59.999999-08'::timestamptz, NULL::timestamptz
"""


@pytest.mark.django_db
def test_date_times_read_as_djangos_own_loader_reads_them():
    """The backend's loader returns what Django's does: the same instants, in UTC."""
    assert connection.settings_dict["ENGINE"] == "socialhub.postgresql"
    with connection.cursor() as cursor:
        cursor.execute(DATE_TIMES)
        fast = cursor.fetchone()
    with connection.cursor() as cursor:
        loader = type("DjangoTzLoader", (BaseTzLoader,), {"timezone": dt.UTC})
        cursor.cursor.adapters.register_loader("timestamptz", loader)
        cursor.execute(DATE_TIMES)
        django_own = cursor.fetchone()

    assert fast == django_own
    assert fast[1] == dt.datetime(2026, 6, 1, 10, 0, 0, 500000, tzinfo=dt.UTC)
    assert [value.tzinfo for value in fast[:3]] == [dt.UTC] * 3
    assert fast[3] is None


@pytest.mark.django_db
def test_a_model_round_trips_its_date_times():
    account = SocialAccountFactory(token_expires_at=dt.datetime(2030, 1, 1, 8, 30, tzinfo=dt.UTC))

    stored = SocialAccount.objects.values_list("token_expires_at", "connected_at").get(
        pk=account.pk
    )

    assert stored == (account.token_expires_at, account.connected_at)
    assert stored[0].tzinfo is dt.UTC


@pytest.mark.django_db
def test_select_rows_reads_what_the_orm_reads():
    account = SocialAccountFactory(metadata={"boards": [1, 2]}, scopes=["read"], followers=7)
    SocialAccountFactory()  # not selected
    names = ["id", "verified", "scopes", "metadata", "connected_at", "token_expires_at"]

    rows = select_rows(
        f"SELECT {', '.join(names)} FROM accounts_socialaccount WHERE id = %s",
        [SocialAccount._meta.pk.get_db_prep_value(account.pk, connection)],
        [SocialAccount._meta.get_field(name) for name in names],
    )

    assert rows == [list(SocialAccount.objects.values_list(*names).get(pk=account.pk))]
    assert rows[0][3] == {"boards": [1, 2]}
