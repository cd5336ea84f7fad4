"""Database helpers shared by the apps' services."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field
from django.db.models.sql import Query


def select_rows(
    sql: str, params, fields: list[Field | None], *, using: str = DEFAULT_DB_ALIAS
) -> list[list]:
    """Run a SELECT written once (for a path where building it through the ORM cost more
    than running it) and return its rows converted the way the ORM converts ``fields``, the
    model field each column holds, in order (``None``: left as it comes).

    The same SQL then reads the same Python values on every backend: SQLite hands back text
    for UUIDs and date-times and integers for booleans; both hand back JSON as text. Pass
    parameters prepared by their fields (``field.get_db_prep_value``) for the same reason.
    """
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    compiler = Query(None).get_compiler(connection=connection)
    converters = compiler.get_converters(
        [field.get_col(field.model._meta.db_table) if field else None for field in fields]
    )
    if not converters:
        return [list(row) for row in rows]
    return list(compiler.apply_converters(rows, converters))
