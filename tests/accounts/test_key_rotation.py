"""``rotate_token_key``: every stored secret moves under the first key, in batches, and a
stopped run picks up where it was."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.db import connection
from django.utils import timezone

from accounts.models import (
    IdempotencyRecord,
    OAuthState,
    SocialAccount,
    TokenRevocation,
    WebhookEndpoint,
)
from accounts.services import key_rotation
from accounts.services.key_rotation import encrypted_columns
from tests.accounts.test_commands import Run
from tests.factories import SocialAccountFactory, UserFactory, personal_workspace

pytestmark = pytest.mark.django_db

OLD, NEW, LOST = (Fernet.generate_key().decode() for _ in range(3))


def raw(model, field: str) -> dict:
    """pk -> ciphertext as stored, read past the field's decryption."""
    meta = model._meta
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT "{meta.pk.column}", "{meta.get_field(field).column}" FROM "{meta.db_table}"'
        )
        return {str(pk): value for pk, value in cursor.fetchall()}


def opens_with(key: str, ciphertext: str) -> bool:
    try:
        Fernet(key.encode()).decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


@pytest.fixture
def stored(settings):
    """Secrets of every kind, written under the old key alone."""
    settings.TOKEN_ENCRYPTION_KEYS = [OLD]
    user = UserFactory()
    accounts = [SocialAccountFactory(user=UserFactory(), platform="x") for _ in range(5)] + [
        SocialAccountFactory(user=user, refresh_token="")
    ]
    TokenRevocation.objects.create(
        platform="x", account_public_id="sa_x", access_token="gone-access", refresh_token="gone-rt"
    )
    WebhookEndpoint.objects.create(
        workspace=personal_workspace(user), url="https://hooks.example.com/", secret="whsec-1"
    )
    IdempotencyRecord.objects.create(
        caller="usr_x",
        key="k1",
        fingerprint="f" * 64,
        response_status=201,
        response_body='{"secret": "shown-once"}',
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    OAuthState.objects.create(
        state_hash="h" * 64,
        user=user,
        platform="x",
        redirect_uri="https://app.example.com/cb",
        code_verifier="verifier-secret",
        expires_at=timezone.now() + dt.timedelta(minutes=5),
    )
    return {
        "accounts": {a.pk: (a.access_token, a.refresh_token) for a in accounts},
        "revocation": ("gone-access", "gone-rt"),
    }


def assert_everything_opens_with_the_new_key_alone(settings, stored) -> None:
    settings.TOKEN_ENCRYPTION_KEYS = [NEW]
    for account in SocialAccount.objects.all():
        assert (account.access_token, account.refresh_token) == stored["accounts"][account.pk]
    revocation = TokenRevocation.objects.get()
    assert (revocation.access_token, revocation.refresh_token) == stored["revocation"]
    assert WebhookEndpoint.objects.get().secret == "whsec-1"
    assert IdempotencyRecord.objects.get().response_body == '{"secret": "shown-once"}'
    assert OAuthState.objects.get().code_verifier == "verifier-secret"


def test_every_encrypted_column_is_found():
    assert {column.label for column in encrypted_columns()} == {
        "accounts.IdempotencyRecord.response_body",
        "accounts.OAuthState.code_verifier",
        "accounts.SocialAccount.access_token",
        "accounts.SocialAccount.refresh_token",
        "accounts.TokenRevocation.access_token",
        "accounts.TokenRevocation.refresh_token",
        "accounts.WebhookEndpoint.secret",
    }


def test_rotation_end_to_end_then_the_old_key_can_be_dropped(settings, stored):
    before = raw(SocialAccount, "access_token")
    settings.TOKEN_ENCRYPTION_KEYS = [NEW, OLD]

    run = Run("rotate_token_key", "--batch-size", "2")

    assert run.exit_code == 0, run.message
    assert "the other keys can be dropped" in run.out
    # Progress per batch on stderr: 6 accounts in batches of 2.
    assert "accounts.SocialAccount.access_token: 2/6 read" in run.err
    assert "accounts.SocialAccount.access_token: 6/6 read, 6 re-encrypted" in run.err
    after = raw(SocialAccount, "access_token")
    assert after.keys() == before.keys()
    assert all(after[pk] != before[pk] and opens_with(NEW, after[pk]) for pk in after)
    assert all(not opens_with(OLD, value) for value in after.values())
    # The empty refresh token stays empty: "no token" has no ciphertext.
    assert sorted(raw(SocialAccount, "refresh_token").values()).count("") == 1
    assert_everything_opens_with_the_new_key_alone(settings, stored)


def test_a_second_run_finds_nothing_to_do(settings, stored):
    settings.TOKEN_ENCRYPTION_KEYS = [NEW, OLD]
    assert Run("rotate_token_key").exit_code == 0
    first = raw(SocialAccount, "access_token")

    again = Run("rotate_token_key", "--json")

    report = json.loads(again.out)
    assert report["oldKeysCanBeDropped"] is True
    assert all(column["reencrypted"] == 0 for column in report["columns"])
    assert raw(SocialAccount, "access_token") == first


def test_an_interrupted_run_resumes_where_it_stopped(settings, stored, monkeypatch):
    settings.TOKEN_ENCRYPTION_KEYS = [NEW, OLD]
    real_write = key_rotation._write
    writes = []

    def write_then_stop(column, changes):
        if column.label == "accounts.SocialAccount.access_token":
            if writes:  # Ctrl-C during the second batch of this column
                raise KeyboardInterrupt
            writes.append(changes)
        real_write(column, changes)

    monkeypatch.setattr(key_rotation, "_write", write_then_stop)
    stopped = Run("rotate_token_key", "--batch-size", "2")
    assert stopped.exit_code == 130
    assert "run the command again" in stopped.message
    halfway = raw(SocialAccount, "access_token")
    done = {pk for pk, value in halfway.items() if opens_with(NEW, value)}
    assert len(done) == 2  # the first batch was committed, the second was not

    monkeypatch.setattr(key_rotation, "_write", real_write)
    resumed = Run("rotate_token_key", "--batch-size", "2", "--json")

    assert resumed.exit_code == 0
    counts = {c["column"]: c for c in json.loads(resumed.out)["columns"]}
    assert counts["accounts.SocialAccount.access_token"]["alreadyCurrent"] == 2
    assert counts["accounts.SocialAccount.access_token"]["reencrypted"] == 4
    final = raw(SocialAccount, "access_token")
    assert all(final[pk] == halfway[pk] for pk in done)  # not written twice
    assert_everything_opens_with_the_new_key_alone(settings, stored)


def test_a_token_rewritten_during_the_run_is_not_overwritten(settings, stored, monkeypatch):
    settings.TOKEN_ENCRYPTION_KEYS = [NEW, OLD]
    account = SocialAccount.objects.order_by("pk").first()
    real_write = key_rotation._write

    def refresh_lands_first(column, changes):
        if column.label == "accounts.SocialAccount.access_token":
            # A token refresh stores a new token (under the first key) meanwhile.
            SocialAccount.objects.filter(pk=account.pk).update(access_token="refreshed-token")
        real_write(column, changes)

    monkeypatch.setattr(key_rotation, "_write", refresh_lands_first)
    assert Run("rotate_token_key").exit_code == 0

    settings.TOKEN_ENCRYPTION_KEYS = [NEW]
    assert SocialAccount.objects.get(pk=account.pk).access_token == "refreshed-token"


def test_values_no_key_opens_are_reported_and_left_alone(settings, stored):
    settings.TOKEN_ENCRYPTION_KEYS = [LOST]
    lost = SocialAccountFactory(platform="youtube", access_token="lost", refresh_token="")
    lost_cipher = raw(SocialAccount, "access_token")[str(lost.pk)]
    settings.TOKEN_ENCRYPTION_KEYS = [NEW, OLD]

    run = Run("rotate_token_key")

    assert run.exit_code == 3
    assert f"no key opens the value of: {lost.pk}" in run.out
    assert raw(SocialAccount, "access_token")[str(lost.pk)] == lost_cipher
    others = {pk: v for pk, v in raw(SocialAccount, "access_token").items() if pk != str(lost.pk)}
    assert all(opens_with(NEW, value) for value in others.values())


def test_dry_run_counts_and_changes_nothing(settings, stored):
    settings.TOKEN_ENCRYPTION_KEYS = [NEW, OLD]
    before = {column.label: raw(column.model, column.field) for column in encrypted_columns()}

    run = Run("rotate_token_key", "--dry-run", "--json")

    assert run.exit_code == 0
    report = json.loads(run.out)
    assert report["oldKeysCanBeDropped"] is False
    counts = {c["column"]: c["toReencrypt"] for c in report["columns"]}
    assert counts["accounts.SocialAccount.access_token"] == 6
    assert counts["accounts.SocialAccount.refresh_token"] == 5
    assert counts["accounts.WebhookEndpoint.secret"] == 1
    after = {column.label: raw(column.model, column.field) for column in encrypted_columns()}
    assert after == before


def test_bad_batch_size_is_refused():
    run = Run("rotate_token_key", "--batch-size", "0")
    assert run.error is not None
    assert "--batch-size: must be a whole number" in run.message
