"""Database connections: SQLite (WAL) or PostgreSQL, with one writer per process.

Every write in a process goes through :class:`WriteQueue`, a thread that owns one
connection and commits whatever is queued in one transaction (group commit). On
SQLite that means no two writers of this process ever contend for the lock, and
a write transaction starts with ``BEGIN IMMEDIATE`` so writers of other processes
wait on ``busy_timeout`` instead of failing with "database is locked". Reads use
their own pooled connections and never write.

Transient errors (a lost connection, a failover, a lock, a full disk) are retried
with backoff for a bounded time (:mod:`spurline.store.transient`); a connection the
error broke is thrown away and the next attempt gets a fresh one, so work in flight
carries on when the store is back (docs/reliability.md#transient-store-errors).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from tenacity import RetryCallState, Retrying, retry_if_exception

from spurline.exceptions import StoreDamaged
from spurline.store import events, transient
from spurline.store._raw import db_json, fetchall

log = logging.getLogger(__name__)
T = TypeVar("T")
WriteOp = Callable[[Connection], T]
#: an op, the future of its result, and the monotonic time its retries stop
_Item = tuple[WriteOp[Any], Future[Any], float]


def damaged(exc: BaseException, url: str) -> StoreDamaged | None:
    """``exc`` as :class:`StoreDamaged` when it says the store is corrupt, else None
    (docs/reliability.md#a-damaged-store).

    SQLite: ``SQLITE_CORRUPT*`` ("database disk image is malformed") and
    ``SQLITE_NOTADB`` ("file is not a database"); PostgreSQL: SQLSTATE class XX
    (``data_corrupted``, ``index_corrupted``).
    """
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    name = str(getattr(orig, "sqlite_errorname", ""))
    state = str(getattr(orig, "sqlstate", "") or "")
    if not (name.startswith("SQLITE_CORRUPT") or name == "SQLITE_NOTADB" or state[:2] == "XX"):
        return None
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        where = str(parsed.database)
    else:
        where = parsed.render_as_string(hide_password=True)
    reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return StoreDamaged(where, reason)


def make_engine(url: str, *, write: bool) -> Engine:
    """A SQLAlchemy engine for ``url``; SQLite files get WAL, foreign keys, busy timeout."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"json_serializer": db_json, "json_deserializer": orjson.loads}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        # write: the writer thread keeps one connection; one more serves migrations and
        # the writer's one-op-per-transaction retries
        engine = create_engine(
            url, pool_size=1 if write else 8, max_overflow=1 if write else 32, **kwargs
        )
        _sqlite_pragmas(engine, begin="BEGIN IMMEDIATE" if write else "BEGIN")
        return engine
    kwargs.update(pool_size=2 if write else 10, max_overflow=0 if write else 20, pool_pre_ping=True)
    return create_engine(url, **kwargs)


#: how long a SQLite write waits for another connection's write lock (the queue's
#: writes; an inline try waits 0, see WriteQueue.arun)
BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(engine: Engine, begin: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a process crash (kill -9); only an OS
        # crash or power loss can drop the last commits.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # SQLite's default WAL checkpoint (every 1,000 pages) stays: checkpointing ten
        # times less often took 12 % less CPU per node step, but on a small disk the
        # WAL (up to ~40 MB) then held the space the next commits needed, and a full
        # disk stayed full after space was freed (tests/faults/test_disk_full.py).
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # on the driver's cursor: through exec_driver_sql it cost ~40 us of every
        # transaction (docs/architecture.md#store)
        fetchall(conn, begin)


class WriteQueue:
    """One writer thread; ops queued together commit in one transaction.

    An op is a function of a :class:`Connection` run inside the transaction. When a
    group fails, its ops are retried one transaction each, so one bad op fails
    alone and the others still commit.

    With ``inline`` (SQLite files), :meth:`arun` commits on the calling thread when
    nothing is queued, the writer is idle and ``inline_if()`` holds (the runtime: at
    most one run executing here), sparing two thread wake-ups per write; that try
    never waits for a lock, so anything else goes through the queue
    (docs/architecture.md#store).
    """

    def __init__(
        self, engine: Engine, max_group: int = 256, retry_s: float = 60.0, inline: bool = False
    ) -> None:
        self.engine = engine
        self.inline = inline
        self.inline_if: Callable[[], bool] = lambda: True
        self.max_group = max_group
        self.url = engine.url.render_as_string(hide_password=False)
        # default patience of a write (docs/reliability.md#transient-store-errors)
        self.retry_s = retry_s
        # called (in the writer thread) after a commit that wrote events, with their hints
        self.on_events: Callable[[list[events.Hint]], None] | None = None
        # The writer keeps its connection between groups: checking one out of the pool
        # and resetting it on return cost ~40 us of a ~95 us empty transaction.
        self._conn: Connection | None = None
        # whether _conn waits for other connections' write locks (SQLite's busy
        # timeout): changed only when an inline try or a queued group needs the other
        self._waits = True
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._stopping = False
        # held by whoever uses the writer connection: the writer thread for a group,
        # or an inline write (arun)
        self._busy = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="spurline-writer", daemon=True)
        self._thread.start()

    def submit(self, op: WriteOp[T], patience: float | None = None) -> Future[T]:
        """Queue ``op``; the future resolves with its result after the commit.

        Transient errors are retried for ``patience`` seconds from now (default: the
        context's request patience, else ``retry_s``); past it the future fails with
        :class:`~spurline.exceptions.StoreUnavailable` (docs/reliability.md#transient-store-errors).
        """
        fut: Future[T] = Future()
        deadline = time.monotonic() + transient.patience(patience, self.retry_s)
        self._queue.put((op, fut, deadline))
        return fut

    def run(self, op: WriteOp[T], patience: float | None = None) -> T:
        """Queue ``op`` and wait for its committed result (from a non-writer thread)."""
        return self.submit(op, patience).result()

    async def arun(self, op: WriteOp[T], patience: float | None = None) -> T:
        """Await ``op``'s committed result without waiting on the event loop: inline
        when the writer is idle (``inline``), else through the queue."""
        if (
            self.inline
            and self._queue.empty()
            and self.inline_if()
            and self._busy.acquire(blocking=False)
        ):
            try:
                done, result = self._try_inline(op)
            finally:
                self._busy.release()
            if done:
                return result  # type: ignore[no-any-return]
        return await asyncio.wrap_future(self.submit(op, patience))

    def _try_inline(self, op: WriteOp[Any]) -> tuple[bool, Any]:
        """One try of ``op`` in a transaction of its own, failing at once rather than
        waiting for another process's lock; ``(False, None)`` when it did not commit
        (the transaction rolled back: the queue runs ``op`` again, with its retries)."""
        try:
            results, written = self._transaction([(op, None, 0.0)], wait=False)  # type: ignore[list-item]
        except Exception:
            self._release()
            return False, None
        self._announce(written)
        return True, results[0]

    def close(self) -> None:
        """Finish queued ops and stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _loop(self) -> None:
        while not self._stopping:
            item = self._queue.get()
            if item is None:
                break
            group = [item]
            with self._busy:
                self._take(group)
                self._commit(group)
        with self._busy:
            self._release()

    def _take(self, group: list[_Item]) -> list[_Item]:
        """Move what is queued into ``group`` (up to ``max_group``); returns the items
        taken, each already marked running (a canceled one is dropped)."""
        taken: list[_Item] = []
        while len(group) < self.max_group and not self._stopping:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                self._stopping = True
                break
            group.append(nxt)
            taken.append(nxt)
        return taken

    def _connection(self, wait: bool) -> Connection:
        """The writer's connection (opened when needed), set to wait for other
        connections' write locks or to fail at once."""
        if self._conn is None:
            self._conn = self.engine.connect()
            self._waits = True  # as the connect hook set it
        if self._waits != wait:
            self._set_waits(self._conn, wait)
        return self._conn

    def _set_waits(self, conn: Connection, wait: bool) -> None:
        timeout = BUSY_TIMEOUT_MS if wait else 0
        conn.connection.driver_connection.execute(f"PRAGMA busy_timeout={timeout}")  # type: ignore[union-attr]
        self._waits = wait

    def _release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            if not self._waits:  # back to the pool as every other connection is
                with contextlib.suppress(Exception):  # broken: the pool discards it
                    self._set_waits(conn, True)
            self._waits = True
            try:
                conn.close()
            except Exception:  # a broken connection is discarded by the pool anyway
                log.exception("closing the writer connection failed")

    def _transaction(
        self, live: list[_Item], wait: bool = True
    ) -> tuple[list[Any], list[events.Hint]]:
        conn = self._connection(wait)
        events.discard(conn)
        try:
            with conn.begin():
                results = [op(conn) for op, _, _ in live]
                written = events.flush(conn)
        except Exception:
            # start clean: the connection may be broken; the next attempt gets a new one
            self._release()
            raise
        return results, written

    def _commit(self, group: list[_Item]) -> None:
        live = [item for item in group if item[1].set_running_or_notify_cancel()]

        def out_of_patience(state: RetryCallState) -> bool:
            # Between attempts: ops whose patience ran out fail alone, and ops queued
            # meanwhile join the retry behind the others (in order), so a request's
            # short patience is kept even while the engine's writes wait out an outage.
            nonlocal live
            exc = state.outcome.exception() if state.outcome else None
            live += [i for i in self._take(list(live)) if i[1].set_running_or_notify_cancel()]
            # closing (the process stops): nothing waits for the store any longer
            at = float("inf") if self._stopping else time.monotonic()
            for _, fut, deadline in live:
                if deadline <= at:
                    fut.set_exception(transient.unavailable(exc or RuntimeError("store")))
            live = [item for item in live if item[2] > at]
            transient.note(exc)
            return not live

        if not live:
            return
        try:
            try:
                # the common case, without building tenacity's machinery (~14 us per
                # group, on every node step)
                results, written = self._transaction(live)
            except Exception as first:
                if not transient.is_transient(first):
                    raise
                transient.note(first)
                retrying = Retrying(
                    stop=out_of_patience,
                    wait=transient.WAIT,
                    retry=retry_if_exception(transient.is_transient),
                    reraise=True,
                )
                results, written = retrying(lambda: self._transaction(live))
        except Exception as exc:
            if transient.is_transient(exc):
                return  # every op was answered by out_of_patience
            # one bad op must not fail the others: each commits alone
            for item in live:
                self._commit_alone(*item)
            return
        self._announce(written)
        for (_, fut, _), result in zip(live, results, strict=True):
            fut.set_result(result)

    def _announce(self, written: list[events.Hint]) -> None:
        if written and self.on_events is not None:
            try:
                self.on_events(written)
            except Exception:  # a listener's problem must not fail the write
                log.exception("event listener failed")

    def _commit_alone(self, op: WriteOp[Any], fut: Future[Any], deadline: float) -> None:
        def once() -> tuple[Any, list[events.Hint]]:
            with self.engine.begin() as conn:
                events.discard(conn)
                result = op(conn)
                return result, events.flush(conn)

        try:
            result, written = transient.call(once, max(deadline - time.monotonic(), 0.0))
        except Exception as exc:
            fut.set_exception(damaged(exc, self.url) or exc)
            return
        self._announce(written)
        fut.set_result(result)


class Database:
    """The store's connections: a read engine and a :class:`WriteQueue`.

    Args:
        url: SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://...``).
        retry_s: how long a read or write keeps retrying a transient error by default
            (``SPURLINE_STORE_RETRY_S``, docs/reliability.md#transient-store-errors).
    """

    def __init__(self, url: str, retry_s: float = 60.0) -> None:
        self.url = url
        self.retry_s = retry_s
        self.dialect = make_url(url).get_backend_name()
        self.read_engine = make_engine(url, write=False)
        self.write_engine = make_engine(url, write=True)
        self.writer = WriteQueue(
            self.write_engine, retry_s=retry_s, inline=self.dialect == "sqlite"
        )
        self._reads = 0
        self._no_reads = threading.Condition()

    def upgrade(self) -> None:
        """Apply every Alembic migration not applied yet (docs/architecture.md#executors)."""
        from spurline.store.migrate import upgrade

        try:
            upgrade(self.write_engine)
        except Exception as exc:
            found = damaged(exc, self.url)
            if found is None:
                raise
            raise found from exc

    def read(self, fn: Callable[[Connection], T], patience: float | None = None) -> T:
        """Run ``fn`` in a read-only transaction (one consistent snapshot).

        Transient errors are retried for ``patience`` seconds (default: the context's
        request patience, else ``retry_s``).

        Raises:
            StoreUnavailable: the store kept failing past the patience.
        """

        def once() -> T:
            with self.read_engine.connect() as conn, conn.begin():
                return fn(conn)

        with self._no_reads:
            self._reads += 1
        try:
            return transient.call(once, transient.patience(patience, self.retry_s))
        except DBAPIError as exc:
            found = damaged(exc, self.url)
            if found is None:
                raise
            raise found from exc
        finally:
            with self._no_reads:
                self._reads -= 1
                self._no_reads.notify_all()

    def close(self) -> None:
        """Stop the writer, let reads in flight finish, and dispose of the pools.

        A read still running in a worker thread (its awaiting task was canceled)
        would otherwise hand its connection back to a pool already disposed, where
        nothing ever closes it.
        """
        self.writer.close()
        with self._no_reads:
            self._no_reads.wait_for(lambda: self._reads == 0, timeout=30)
        self.read_engine.dispose()
        self.write_engine.dispose()
