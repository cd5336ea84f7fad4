"""Database helpers shared by the apps' services."""

from __future__ import annotations

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet


def lock_rows(queryset: QuerySet) -> int:
    """Lock the queryset's rows (``FOR UPDATE``, in primary-key order so two lockers cannot
    deadlock) without bringing them into Python; returns how many were locked.

    Call it inside a transaction. On a backend without row locks (SQLite) the write
    transaction already holds the whole database, so there is nothing to do.
    """
    connection = connections[queryset.db]
    if not connection.features.has_select_for_update:
        return 0
    locked = queryset.select_for_update(of=("self",)).order_by("pk").values("pk")
    try:
        sql, params = locked.query.get_compiler(queryset.db).as_sql()
    except EmptyResultSet:  # e.g. .none() or pk__in=[]: nothing to lock
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({sql}) AS locked_rows", params)  # noqa: S608
        return cursor.fetchone()[0]
