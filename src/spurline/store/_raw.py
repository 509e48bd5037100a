"""Hot write statements run on the driver's cursor, bypassing SQLAlchemy's execution
layer (docs/architecture.md#store).

Every node step writes its task, its finished attempt and its events. Through
SQLAlchemy each statement costs ~40 us of Python (execution context, event hooks,
per-row type processing) before SQLite or PostgreSQL does anything; these few
statements are written in SQL once and their values converted here exactly as the
column types would (:class:`~spurline.store.orm.UtcDateTime`, JSON), inside the same
transaction as everything else the writer commits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


def executemany(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> int:
    """Run ``sql`` once per row of ``rows`` on ``conn``'s transaction; the rows it
    changed in all (both sqlite3 and psycopg sum them).

    Raises:
        sqlalchemy.exc.DBAPIError: the driver's error wrapped as SQLAlchemy would
            (``OperationalError`` for a lost connection or a locked or full store, the
            connection invalidated on a disconnect), so callers handle both paths alike;
            the values are never part of the message (they may hold secrets).
    """
    with _cursor(conn, sql, many=True) as cur:
        cur.executemany(sql, rows)
        return int(cur.rowcount)


def execute(conn: Connection, sql: str) -> None:
    """Run ``sql`` (no parameters, no result: ``BEGIN IMMEDIATE``) on ``conn``'s driver
    connection; errors are wrapped as by :func:`executemany`. A transaction's BEGIN
    costs ~5 us here against ~40 us through SQLAlchemy's execution layer, on every
    write group and every read."""
    with _cursor(conn, sql, many=False) as cur:
        cur.execute(sql)


@contextlib.contextmanager
def _cursor(conn: Connection, sql: str, *, many: bool) -> Iterator[Any]:
    dialect = conn.dialect
    driver = conn.connection.driver_connection
    cur = driver.cursor()  # type: ignore[union-attr]
    try:
        yield cur
    except dialect.loaded_dbapi.Error as exc:
        lost = dialect.is_disconnect(exc, driver, cur)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            sql,
            None,
            exc,
            dialect.loaded_dbapi.Error,
            hide_parameters=True,
            connection_invalidated=lost,
            dialect=dialect,
            ismulti=many,
        ) from exc
    finally:
        with contextlib.suppress(Exception):  # a lost connection's cursor may not close
            cur.close()


def db_time(value: datetime | None, pg: bool) -> Any:
    """What ``UtcDateTime`` binds: aware on PostgreSQL, naive UTC text on SQLite."""
    if value is None or pg:
        return value
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def db_json(value: Any) -> str:
    """What the JSON column type binds: the JSON text (None is JSON ``null``, as
    SQLAlchemy's JSON type stores it)."""
    return orjson.dumps(value).decode()


def placeholders(template: str, pg: bool) -> str:
    """``template`` with ``{}`` as the driver's placeholder and ``{json}`` as one that
    PostgreSQL casts to jsonb."""
    mark = "%s" if pg else "?"
    return template.replace("{json}", "CAST(%s AS jsonb)" if pg else "?").replace("{}", mark)
