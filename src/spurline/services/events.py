"""The event hub: one process's view of the run event stream (docs/observability.md).

Events are written to the store with the changes they describe
(:mod:`spurline.store.events`). The hub learns that new ones exist from this
process's writer right after a commit, from PostgreSQL ``LISTEN spurline_events``
for commits of other processes (API servers, Celery workers), and, as a backstop, by
looking every ``SPURLINE_EVENTS_POLL_S`` seconds (another process on the same SQLite
file cannot notify). It then reads them once, in id order, and hands each to the
subscribers whose filter matches: SSE clients and waiters for a run's end.

A commit's signal says which runs and kinds of events it wrote (its hints): when
no subscriber wants any of them, the hub does not read them then. Their ids stay
after the newest handed out, so the next read (a wanted commit, an unknown one, or
the poll, at the latest ``SPURLINE_EVENTS_POLL_S`` after the last read) takes and
filters them: a blocking run's waiter is not woken by each of its tasks.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy.engine import make_url

from spurline.engine.states import RUN_ACTIVE, RunStatus
from spurline.services._store import log_loop_error
from spurline.store import events
from spurline.store.db import Database

log = logging.getLogger(__name__)

# A subscriber further behind than this is told to read from the store instead.
_QUEUE_LIMIT = 10_000
_READ_LIMIT = 5_000
# With more subscribers than this, new events are read and fanned out at most once
# per _FAN_OUT_GAP_S: waking hundreds of streams per commit costs more than the wait.
_FAN_OUT_MANY = 32
_FAN_OUT_GAP_S = 0.02


@dataclass(eq=False)
class Subscription:
    """What one subscriber receives: events matching its filter, in id order.

    ``overflowed`` is set when it fell more than a queue's length behind; its events
    since then must be read from the store (:meth:`EventHub.replay`).
    """

    run_id: str | None = None
    workflow_id: str | None = None
    kinds: tuple[str, ...] = ()
    queue: deque[events.Event] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False

    def matches(self, e: events.Event) -> bool:
        """Whether ``e`` passes this subscription's filter."""
        return self.wants(e.run_id, e.workflow_id, e.kind)

    def wants(self, run_id: str, workflow_id: str, kind: str) -> bool:
        """Whether an event of that run, workflow and kind passes the filter."""
        return (
            (self.run_id is None or run_id == self.run_id)
            and (self.workflow_id is None or workflow_id == self.workflow_id)
            and (not self.kinds or kind in self.kinds)
        )

    def put(self, e: events.Event) -> None:
        """Queue ``e`` (called by the hub)."""
        if len(self.queue) >= _QUEUE_LIMIT:
            self.queue.clear()
            self.overflowed = True
        elif not self.overflowed:
            self.queue.append(e)
        self.ready.set()

    async def next_batch(self, timeout: float | None) -> list[events.Event] | None:
        """Wait for events; ``[]`` on timeout, None when overflowed (read the store)."""
        if not self.queue and not self.overflowed:
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a
                # cancellation that comes as the event is set
                async with asyncio.timeout(timeout):
                    await self.ready.wait()
            except TimeoutError:
                return []
        self.ready.clear()
        if self.overflowed:
            self.overflowed = False
            return None
        out = list(self.queue)
        self.queue.clear()
        return out


class EventHub:
    """Fans the store's new events out to this process's subscribers.

    Args:
        db: the store.
        poll_s: seconds between looks for events nobody announced.
    """

    def __init__(self, db: Database, poll_s: float = 1.0) -> None:
        self.db = db
        self.poll_s = poll_s
        self.subscribers: set[Subscription] = set()
        self._wanting: tuple[Subscription, ...] = ()  # the subscribers, for other threads
        self._last: int | None = None  # newest event handed out; None while idle
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._listener: _PgListener | None = None
        # what the signals since the last look said: hints, or None (unknown: read)
        self._hints: list[events.Hint] | None = []

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        """Start the pump on the running loop and take this process's commit signals."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.db.writer.on_events = self.wake_threadsafe
        self._pump_task = asyncio.create_task(self._pump(), name="spurline-events")

    async def close(self) -> None:
        """Stop the pump and the listener."""
        self.db.writer.on_events = None
        if self._pump_task is not None:
            self._pump_task.cancel()
            await asyncio.gather(self._pump_task, return_exceptions=True)
        if self._listener is not None:
            await asyncio.to_thread(self._listener.stop)

    def wake_threadsafe(self, hints: list[events.Hint] | None = None) -> None:
        """Say new events exist (callable from any thread); ``hints`` say what they
        are, None when that is not known."""
        # Most commits are wanted by nobody (a blocking run's waiter wants only its
        # run's end): deciding here spares the event loop a wake-up per commit. The
        # tuple is replaced whole on (un)subscribing, so reading it here is safe.
        wanting = self._wanting
        if hints is not None and not any(s.wants(*h) for s in wanting for h in hints):
            return
        loop = self._loop
        if loop is not None and self._wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._signal, hints)

    def _signal(self, hints: list[events.Hint] | None) -> None:
        if hints is None or self._hints is None:
            self._hints = None
        else:
            self._hints.extend(hints)
        if self._wake is not None:
            self._wake.set()

    def _wanted(self, hints: list[events.Hint]) -> bool:
        return any(sub.wants(*h) for sub in self.subscribers for h in hints)

    # -- subscribing ---------------------------------------------------------------
    @asynccontextmanager
    async def subscribe(
        self,
        *,
        run_id: str | None = None,
        workflow_id: str | None = None,
        kinds: tuple[str, ...] = (),
    ) -> AsyncIterator[Subscription]:
        """Receive new events matching the filter while the block runs.

        Events committed before entering are not delivered: read them with
        :meth:`replay` after entering (then no event falls between the two).
        """
        if self._last is None:
            self._last = await self.newest()
        if self.db.dialect == "postgresql" and self._listener is None:
            self._listener = _PgListener(self.db.url, self.wake_threadsafe)
        sub = Subscription(run_id, workflow_id, kinds)
        self.subscribers.add(sub)
        self._wanting = tuple(self.subscribers)
        try:
            yield sub
        finally:
            self.subscribers.discard(sub)
            self._wanting = tuple(self.subscribers)
            if not self.subscribers:
                self._last = None

    async def newest(self) -> int:
        """The newest event id in the store."""
        return await asyncio.to_thread(self.db.read, events.last_id)

    async def replay(
        self, after: int, sub: Subscription, limit: int = _READ_LIMIT
    ) -> list[events.Event]:
        """Stored events matching ``sub``'s filter with ``id > after`` (at most ``limit``)."""
        return await asyncio.to_thread(
            self.db.read,
            lambda c: events.read(
                c,
                after,
                run_id=sub.run_id,
                workflow_id=sub.workflow_id,
                kinds=sub.kinds,
                limit=limit,
            ),
        )

    # -- the pump --------------------------------------------------------------------
    async def stream(self, sub: Subscription, after: int) -> AsyncIterator[list[events.Event]]:
        """Stored events of ``sub``'s filter after ``after``, then live ones as they
        are committed, in batches: in id order, none missed, none twice
        (docs/observability.md). ``sub`` must have been entered before (see
        :meth:`subscribe`).
        """
        last = after
        while batch := await self.replay(last, sub):
            last = batch[-1].id
            yield batch
        while True:
            live = await sub.next_batch(None)
            if live is None:  # fell behind: read what was missed from the store
                while batch := await self.replay(last, sub):
                    last = batch[-1].id
                    yield batch
                continue
            fresh = [e for e in live if e.id > last]
            if fresh:
                last = fresh[-1].id
                yield fresh

    async def stored(self, sub: Subscription, after: int) -> AsyncIterator[list[events.Event]]:
        """Every stored event of ``sub``'s filter after ``after``, in batches."""
        while batch := await self.replay(after, sub):
            after = batch[-1].id
            yield batch

    async def wait_run_end(
        self, run_id: str, timeout: float, status_now: Callable[[], Awaitable[RunStatus]]
    ) -> RunStatus | None:
        """Wait until the run is no longer PENDING/RUNNING, woken by its run events
        instead of polling; None when ``timeout`` seconds pass first.

        ``status_now`` reads the stored status (after subscribing, so no change is
        missed between the read and the wait).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self.subscribe(run_id=run_id, kinds=(events.RUN,)) as sub:
            while True:
                status = await status_now()
                if status not in RUN_ACTIVE:
                    return status
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                await sub.next_batch(remaining)

    async def _pump(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        read_at = loop.time()
        while True:
            polled = False
            try:
                async with asyncio.timeout(self.poll_s):  # see Subscription.next_batch
                    await self._wake.wait()
            except TimeoutError:
                polled = True
            self._wake.clear()
            hints, self._hints = self._hints, []
            if (
                not polled
                and hints is not None
                and loop.time() - read_at < self.poll_s
                and not self._wanted(hints)
            ):
                continue  # nobody wants these yet: a later read takes them
            if len(self.subscribers) > _FAN_OUT_MANY:
                # many subscribers: one write to each per _FAN_OUT_GAP_S at most, the
                # commits of that time read and sent together
                gap = read_at + _FAN_OUT_GAP_S - loop.time()
                if gap > 0:
                    await asyncio.sleep(gap)
                self._wake.clear()  # this read takes what was signalled meanwhile
                self._hints = []
            read_at = loop.time()
            try:
                await self._deliver()
            except Exception:  # the next wake or poll tries again
                log_loop_error(log, "reading new events failed")
                await asyncio.sleep(self.poll_s)

    async def _deliver(self) -> None:
        while self.subscribers and self._last is not None:
            batch = await asyncio.to_thread(
                self.db.read, partial(events.read, after=self._last, limit=_READ_LIMIT)
            )
            if not batch or self._last is None:
                return
            self._last = batch[-1].id
            for sub in list(self.subscribers):
                for e in batch:
                    if sub.matches(e):
                        sub.put(e)
            if len(batch) < _READ_LIMIT:
                return


class _PgListener:
    """A thread with its own PostgreSQL connection that ``LISTEN``s for event commits
    and calls ``wake`` with each notification's hints (None after reconnecting)."""

    def __init__(self, url: str, wake: Callable[[list[events.Hint] | None], None]) -> None:
        self.conninfo = (
            make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self.wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spurline-listen", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {events.CHANNEL}")
                    self.wake(None)  # catch up with what was committed while not listening
                    while not self._stop.is_set():
                        for n in conn.notifies(timeout=0.5, stop_after=1):
                            self.wake(events.decode_hints(n.payload))
            except Exception as exc:
                # never the URL: it may hold a password
                log.warning(
                    "event listener lost its database connection (%s); reconnecting",
                    type(exc).__name__,
                )
                self._stop.wait(1.0)

    def stop(self) -> None:
        """Stop listening and wait for the thread."""
        self._stop.set()
        self._thread.join(timeout=5)
