"""The group-commit writer: one failing op fails alone, the writer keeps working after
errors, and the store stays usable by other connections while the writer holds its own.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest
from sqlalchemy import Connection, text

from spurline.store.db import Database, WriteQueue


@pytest.fixture
def db(db: Database) -> Database:
    """The store's database with a ``probe`` table to write to."""
    db.writer.run(lambda c: c.execute(text("CREATE TABLE probe (v INTEGER UNIQUE)")))
    return db


def _insert(v: int) -> Any:
    def op(conn: Connection) -> int:
        conn.execute(text("INSERT INTO probe (v) VALUES (:v)"), {"v": v})
        return v

    return op


def _values(db: Database) -> list[int]:
    return db.read(lambda c: [r[0] for r in c.execute(text("SELECT v FROM probe ORDER BY v"))])


def _group(writer: WriteQueue, ops: list[Any]) -> list[Future[Any]]:
    # queue the ops while the writer is busy so they commit as one group
    gate: Future[None] = Future()
    writer.submit(lambda c: gate.result(timeout=10))
    futures = [writer.submit(op) for op in ops]
    gate.set_result(None)
    return futures


def test_a_failing_op_fails_alone_and_the_rest_of_its_group_commits(db: Database) -> None:
    ok1, dup, ok2 = _group(db.writer, [_insert(1), _insert(1), _insert(2)])

    assert (ok1.result(timeout=10), ok2.result(timeout=10)) == (1, 2)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        dup.result(timeout=10)
    assert _values(db) == [1, 2]


def test_writer_keeps_committing_after_a_failed_group(db: Database) -> None:
    for f in _group(db.writer, [_insert(5), _insert(5)]):
        f.exception(timeout=10)

    assert db.writer.run(_insert(6)) == 6
    assert _values(db) == [5, 6]


def test_migrations_run_while_the_writer_holds_its_connection(db: Database) -> None:
    db.writer.run(_insert(7))

    db.upgrade()  # needs a write connection of its own; must not wait for the writer's

    assert db.writer.run(_insert(8)) == 8
    assert _values(db) == [7, 8]
