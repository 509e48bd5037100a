"""Which real store errors are waited out (docs/reliability.md#transient-store-errors)."""

from __future__ import annotations

import errno
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from spurline.exceptions import StoreFull, StoreUnavailable
from spurline.store import transient
from spurline.store.db import Database


def test_a_locked_sqlite_file_is_transient_and_a_bad_query_is_not(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with pytest.raises(OperationalError) as locked, engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
        assert "database is locked" in str(locked.value)
        assert transient.kind(locked.value) == "transient"
        with pytest.raises(OperationalError) as missing, engine.begin() as conn:
            conn.execute(text("SELECT * FROM no_such_table"))
        assert transient.kind(missing.value) is None
    finally:
        holder.close()
        engine.dispose()


def test_a_lock_released_within_the_patience_is_waited_out(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})

    def insert() -> int:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            return 1

    try:
        with pytest.raises(StoreUnavailable, match="database is locked"):
            transient.call(insert, budget_s=0.3)
        threading.Timer(0.5, holder.execute, ["COMMIT"]).start()
        started = time.monotonic()
        assert transient.call(insert, budget_s=10) == 1
        assert 0.4 < time.monotonic() - started < 5
    finally:
        holder.close()
        engine.dispose()


def test_no_space_is_a_full_store() -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    assert transient.kind(full) == "full"
    assert isinstance(transient.unavailable(full), StoreFull)
    assert "no space left on the store's disk" in str(transient.unavailable(full))
    assert transient.kind(OSError(errno.EACCES, "Permission denied")) is None


def _unreachable_postgres() -> Database:
    with socket.socket() as s:  # a port nothing listens on: every connection is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return Database(f"postgresql+psycopg://postgres@127.0.0.1:{port}/x", retry_s=60)


def test_a_short_patience_write_fails_on_time_behind_a_patient_one() -> None:
    db = _unreachable_postgres()
    try:
        patient = db.writer.submit(lambda c: c.execute(text("SELECT 1")))
        time.sleep(0.2)  # the writer is retrying the patient write
        started = time.monotonic()
        hasty = db.writer.submit(lambda c: c.execute(text("SELECT 1")), patience=0.3)
        with pytest.raises(StoreUnavailable, match="Connection refused"):
            hasty.result(timeout=10)
        assert time.monotonic() - started < 3
        assert not patient.done()
    finally:
        started = time.monotonic()
        db.writer.close()  # stopping gives up at once instead of waiting 60 s
        assert time.monotonic() - started < 5
        assert isinstance(patient.exception(), StoreUnavailable)
        db.read_engine.dispose()
        db.write_engine.dispose()
