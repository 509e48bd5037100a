"""The group-commit writer: one failing op fails alone, the writer keeps working after
errors, and the store stays usable by other connections while the writer holds its own;
on SQLite an async write commits on the calling thread when the writer is idle, and
never waits there for another process's lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from concurrent.futures import Future
from typing import Any

import pytest
from sqlalchemy import Connection, make_url, text

from spurline.store.db import BUSY_TIMEOUT_MS, Database, WriteQueue


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


def _on_thread(v: int, threads: list[str]) -> Any:
    def op(conn: Connection) -> int:
        threads.append(threading.current_thread().name)
        return _insert(v)(conn)  # type: ignore[no-any-return]

    return op


def test_an_idle_sqlite_writer_commits_an_async_write_on_the_calling_thread(db: Database) -> None:
    threads: list[str] = []
    assert asyncio.run(db.writer.arun(_on_thread(1, threads))) == 1
    assert _values(db) == [1]
    # SQLite commits inline (docs/architecture.md#store); PostgreSQL always queues
    expected = "MainThread" if db.dialect == "sqlite" else "spurline-writer"
    assert threads == [expected]


def test_an_inline_write_never_waits_for_another_processs_lock(db: Database, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("inline writes are SQLite's")
    holder = sqlite3.connect(make_url(db.url).database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # as another process writing would
    threads: list[str] = []

    async def main() -> tuple[int, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        write = asyncio.create_task(db.writer.arun(_on_thread(7, threads)))
        await asyncio.sleep(0.5)
        assert not write.done()  # the queue waits for the lock
        holder.execute("COMMIT")
        value = await asyncio.wait_for(write, 10)
        ticker.cancel()
        return value, ticks

    try:
        value, ticks = asyncio.run(main())
    finally:
        holder.close()
    assert value == 7
    assert ticks >= 20  # the event loop ran on while the lock was held
    # the inline try was refused at BEGIN, before the op ran; the writer thread ran it
    assert threads == ["spurline-writer"]
    assert _values(db) == [7]
    # and the queue's writes wait for locks again: the refused try's connection went
    # back to the pool with SQLite's busy timeout restored
    busy_timeout = "PRAGMA busy_timeout"
    assert db.writer.run(lambda c: c.exec_driver_sql(busy_timeout).scalar()) == BUSY_TIMEOUT_MS


def test_a_failing_inline_write_raises_its_error_and_commits_nothing(db: Database) -> None:
    assert asyncio.run(db.writer.arun(_insert(3))) == 3
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        asyncio.run(db.writer.arun(_insert(3)))
    assert asyncio.run(db.writer.arun(_insert(4))) == 4
    assert _values(db) == [3, 4]
