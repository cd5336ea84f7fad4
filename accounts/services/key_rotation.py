"""Re-encrypting every stored secret under the first of ``TOKEN_ENCRYPTION_KEYS``.

Every ``EncryptedTextField`` of every model is found by introspection (tokens of social
accounts and of the revocation outbox, PKCE verifiers, webhook signing secrets, stored
idempotent answers...), so a column added later is rotated without touching this module.

Rows are read in primary-key order, a batch at a time, as ciphertext (raw SQL: the field
would decrypt them). A value the first key already opens is left alone, which makes a run
resumable: after an interruption the next run skips what is done and carries on. Each
batch is written in one short transaction, and each value only if it is still the one
read (``WHERE col = <old ciphertext>``): a token the service rewrote meanwhile (a refresh)
is already under the first key and is not overwritten with the older one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings
from django.db import connection, models, transaction

from accounts.crypto import token_cipher
from accounts.fields import EncryptedTextField

DEFAULT_BATCH_SIZE = 500
LISTED_UNREADABLE = 20


@dataclass(frozen=True)
class EncryptedColumn:
    model: type[models.Model]
    field: str

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.field}"


@dataclass
class ColumnRotation:
    """What a run found and did in one column."""

    column: str
    stored: int = 0  # non-empty values
    seen: int = 0
    reencrypted: int = 0
    current: int = 0  # already under the first key
    unreadable: int = 0  # no configured key opens them: left as they are
    unreadable_ids: list[str] = field(default_factory=list)

    @property
    def to_reencrypt(self) -> int:
        return self.seen - self.current - self.unreadable


def encrypted_columns() -> list[EncryptedColumn]:
    """Every encrypted column of every installed model, in a stable order."""
    columns = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for model_field in model._meta.concrete_fields:
            if isinstance(model_field, EncryptedTextField):
                columns.append(EncryptedColumn(model, model_field.name))
    return sorted(columns, key=lambda column: column.label)


def _batches(column: EncryptedColumn, batch_size: int) -> Iterator[list[tuple]]:
    """(pk, ciphertext) rows with a value, in primary-key order (keyset pages)."""
    meta = column.model._meta
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    value = quote(meta.get_field(column.field).column)
    after = None
    while True:
        where = f"{value} <> ''" + (f" AND {pk} > %s" if after is not None else "")
        params = [after] if after is not None else []
        with connection.cursor() as cursor:
            cursor.execute(
                # Names come from model metadata, values are parameters.
                f"SELECT {pk}, {value} FROM {table} WHERE {where} ORDER BY {pk} LIMIT %s",  # noqa: S608
                [*params, batch_size],
            )
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _stored_count(column: EncryptedColumn) -> int:
    return (
        column.model._default_manager.exclude(**{column.field: ""})
        .exclude(**{f"{column.field}__isnull": True})
        .count()
    )


def _write(column: EncryptedColumn, changes: list[tuple[str, object, str]]) -> None:
    meta = column.model._meta
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    value = quote(meta.get_field(column.field).column)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET {value} = %s WHERE {pk} = %s AND {value} = %s",  # noqa: S608
            changes,
        )


def token_key_rotate(
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    on_batch: Callable[[ColumnRotation], None] | None = None,
) -> list[ColumnRotation]:
    """Re-encrypt every stored secret that the first key does not open yet.

    With ``dry_run`` nothing is written: the report counts what a run would re-encrypt (a
    check that the older keys can be dropped: nothing to re-encrypt, nothing unreadable).
    ``on_batch`` is called after each batch with the column's running totals.
    """
    primary = Fernet(settings.TOKEN_ENCRYPTION_KEYS[0].encode())
    cipher = token_cipher()
    report = []
    for column in encrypted_columns():
        rotation = ColumnRotation(column=column.label, stored=_stored_count(column))
        report.append(rotation)
        for rows in _batches(column, batch_size):
            changes = []
            for pk, ciphertext in rows:
                rotation.seen += 1
                token = ciphertext.encode()
                try:
                    primary.decrypt(token)
                except InvalidToken:
                    pass
                else:
                    rotation.current += 1
                    continue
                try:
                    rotated = cipher.rotate(token).decode()
                except InvalidToken:
                    rotation.unreadable += 1
                    if len(rotation.unreadable_ids) < LISTED_UNREADABLE:
                        rotation.unreadable_ids.append(str(pk))
                    continue
                changes.append((rotated, pk, ciphertext))
            if changes and not dry_run:
                _write(column, changes)
                rotation.reencrypted += len(changes)
            if on_batch is not None:
                on_batch(rotation)
    return report
