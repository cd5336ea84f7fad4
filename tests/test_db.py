"""lock_rows: rows locked in the database, nothing fetched into Python."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from accounts.models import SocialAccount
from socialhub.db import lock_rows
from tests.factories import SocialAccountFactory


@pytest.mark.django_db(transaction=True)
def test_lock_rows_holds_the_rows_until_commit():
    # given
    accounts = [SocialAccountFactory(platform=p) for p in ("x", "youtube", "threads")]
    wanted = SocialAccount.objects.filter(pk__in=[a.pk for a in accounts[:2]])
    outcome = {}

    def other_transaction(label):
        try:
            with transaction.atomic():
                list(wanted.select_for_update(nowait=True).values_list("pk", flat=True))
            outcome[label] = "locked"
        except DatabaseError:
            outcome[label] = "refused"
        finally:
            connection.close()

    # when: one transaction locks two rows; another tries to take them meanwhile
    with transaction.atomic():
        assert lock_rows(wanted) == 2
        during = threading.Thread(target=other_transaction, args=("during",))
        during.start()
        during.join()
    after = threading.Thread(target=other_transaction, args=("after",))
    after.start()
    after.join()

    # then
    assert outcome == {"during": "refused", "after": "locked"}


@pytest.mark.django_db
def test_lock_rows_of_nothing_is_zero():
    with transaction.atomic():
        assert lock_rows(SocialAccount.objects.none()) == 0


def test_the_migrations_describe_the_models(db):
    """A model change without its migration would reach production half-applied."""
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
