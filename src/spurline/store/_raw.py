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
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")


def executemany(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> int:
    """Run ``sql`` once per row of ``rows`` on ``conn``'s transaction; the rows it
    changed in all (both sqlite3 and psycopg sum them).

    Raises:
        sqlalchemy.exc.DBAPIError: the driver's error wrapped as SQLAlchemy would
            (``OperationalError`` for a lost connection or a locked or full store, the
            connection invalidated on a disconnect), so callers handle both paths alike;
            the values are never part of the message (they may hold secrets).
    """

    def run(cur: Any) -> int:
        cur.executemany(sql, rows)
        return int(cur.rowcount)

    return _on_cursor(conn, sql, run)


def fetchall(conn: Connection, sql: str, values: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` once with ``values`` on ``conn``'s transaction; the rows it returns
    (none for a statement without results). Errors as :func:`executemany`'s."""

    def run(cur: Any) -> list[tuple[Any, ...]]:
        cur.execute(sql, values)
        return list(cur.fetchall()) if cur.description is not None else []

    return _on_cursor(conn, sql, run)


def _on_cursor(conn: Connection, sql: str, fn: Callable[[Any], T]) -> T:
    dialect = conn.dialect
    driver = conn.connection.driver_connection
    cur = driver.cursor()  # type: ignore[union-attr]
    try:
        return fn(cur)
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
            ismulti=True,
        ) from exc
    finally:
        with contextlib.suppress(Exception):  # a lost connection's cursor may not close
            cur.close()


def db_time(value: datetime | None, pg: bool) -> Any:
    """What ``UtcDateTime`` binds: aware on PostgreSQL, naive UTC text on SQLite."""
    if value is None or pg:
        return value
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def db_time_out(value: Any, pg: bool) -> datetime | None:
    """What ``UtcDateTime`` reads back: an aware UTC datetime (SQLite stores naive UTC text)."""
    if value is None:
        return None
    if pg:
        return value.astimezone(UTC)  # type: ignore[no-any-return]
    return datetime.fromisoformat(value + "+00:00")


def db_json(value: Any) -> str:
    """What the JSON column type binds: the JSON text (None is JSON ``null``, as
    SQLAlchemy's JSON type stores it)."""
    return orjson.dumps(value).decode()


def placeholders(template: str, pg: bool) -> str:
    """``template`` with ``{}`` as the driver's placeholder and ``{json}`` as one that
    PostgreSQL casts to jsonb."""
    mark = "%s" if pg else "?"
    return template.replace("{json}", "CAST(%s AS jsonb)" if pg else "?").replace("{}", mark)
