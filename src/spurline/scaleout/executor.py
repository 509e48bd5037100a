"""CeleryExecutor: the engine's :class:`~spurline.engine.runs.Executor` on a message queue.

In an API process it only enqueues and waits for events. In a worker process it also
executes the runs the worker receives (:meth:`CeleryExecutor.run_here`), with a
:class:`~spurline.engine.runs.LocalExecutor` on the worker's event loop; the
Runtime's run watch (``SPURLINE_CONTROL_POLL_S``) sees through :meth:`active` and
:meth:`interrupt` which of them were canceled or taken over elsewhere and stops them.
A run executing here that waits on other runs gives its slot back meanwhile
(:mod:`spurline.scaleout.slots`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol

from sqlalchemy import Connection
from tenacity import AsyncRetrying, stop_after_delay, wait_exponential, wait_random

from spurline.engine.clock import now
from spurline.engine.executor import RunEngine
from spurline.engine.records import RunRecord, TaskRecord
from spurline.engine.runs import LocalExecutor
from spurline.engine.states import RUN_ACTIVE, RunStatus
from spurline.scaleout.celery_app import EXECUTE_RUN, make_celery
from spurline.scaleout.slots import RunSlot, Slots, waiting_on_runs
from spurline.settings import Settings
from spurline.store import leases, transient
from spurline.store import runs as run_queries
from spurline.store.db import Database

log = logging.getLogger(__name__)


class RunEndWaiter(Protocol):
    """Waits for a run's end on notifications (the process's event hub,
    :class:`spurline.services.events.EventHub`)."""

    async def wait_run_end(
        self, run_id: str, timeout: float, status_now: Callable[[], Awaitable[RunStatus]]
    ) -> RunStatus | None:
        """The run's status once it left PENDING/RUNNING; None after ``timeout`` s."""
        ...


class CeleryExecutor:
    """Runs execute on ``spurline worker`` processes; see the module docstring.

    Args:
        db: this process's store (for leases).
        engine: the run engine (used when this process is a worker).
        settings: broker URL, queue name, lease and queue-wait times.
        owner: this process's lease owner id.
        hub: this process's event hub (waiting for a run's end).
    """

    def __init__(
        self,
        db: Database,
        engine: RunEngine,
        settings: Settings,
        owner: str,
        hub: RunEndWaiter,
    ) -> None:
        self.db = db
        self.hub = hub
        self.settings = settings
        self.owner = owner
        self.app = make_celery(settings)
        self.runner = LocalExecutor(engine)
        #: runs doing work at once here; a worker sets its ``--concurrency``
        self.slots = Slots()
        self._resending: set[asyncio.Task[None]] = set()

    # -- Executor protocol ------------------------------------------------------
    async def submit(self, run_id: str) -> None:
        """Give the committed run a queued lease, then send ``execute_run(run_id)``.

        The run row is committed before this is called, so a worker never receives
        an id it cannot read. A broker that cannot be reached is logged, not raised:
        the run is recorded, and when its queued lease expires
        (``SPURLINE_QUEUE_WAIT_S``) the lease takeover enqueues it again.
        """
        queued = await self.db.writer.arun(
            partial(
                leases.mark_queued,
                run_id=run_id,
                owner=self.owner,
                at=now(),
                wait_s=self.settings.queue_wait_s,
            )
        )
        if not queued:
            log.info(
                "run not enqueued: no longer active or executing elsewhere",
                extra={"run_id": run_id},
            )
            return
        await self._send_logged(run_id)

    def queued_lease(self, at: datetime) -> tuple[None, datetime]:
        """``(lease_owner, lease_expires_at)`` of a run created at ``at`` and stored
        queued, to be sent with :meth:`submit_queued`: no owner, and the queue wait
        (``SPURLINE_QUEUE_WAIT_S``) for its message to reach a worker, after which
        the lease takeover enqueues it again (docs/architecture.md#leases-and-recovery).
        """
        return None, at + timedelta(seconds=self.settings.queue_wait_s)

    async def submit_queued(self, run_id: str) -> None:
        """Send the message of a run committed with a :meth:`queued_lease`; what
        :meth:`submit` does without its write (the run is queued already)."""
        await self._send_logged(run_id)

    async def _send_logged(self, run_id: str) -> None:
        try:
            await asyncio.to_thread(self._send, run_id)
        except Exception as exc:
            # The broker restarts or is unreachable: an expected state, one line in the
            # log, and the message is sent again in the background as soon as it is
            # back rather than when the queued lease runs out
            # (docs/reliability.md#transient-store-errors).
            log.warning(
                "could not enqueue the run (%s: %s); retrying",
                type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
                extra={"run_id": run_id},
            )
            task = asyncio.create_task(self._resend(run_id), name=f"resend {run_id}")
            self._resending.add(task)
            task.add_done_callback(self._resending.discard)

    async def _resend(self, run_id: str) -> None:
        """Send ``run_id``'s message with backoff until the broker takes it, for as long
        as its queued lease lasts; after that the lease takeover enqueues it."""
        retrying = AsyncRetrying(
            stop=stop_after_delay(self.settings.queue_wait_s),
            wait=wait_exponential(multiplier=0.2, max=2.0) + wait_random(0, 0.5),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await asyncio.to_thread(self._send, run_id)
        except Exception as exc:
            log.warning(
                "the broker is still unreachable (%s); the lease takeover will enqueue the run",
                type(exc).__name__,
                extra={"run_id": run_id},
            )
        else:
            log.info("run enqueued after the broker came back", extra={"run_id": run_id})

    async def resend_queued(self) -> int:
        """Send again the message of every run waiting in the queue; returns how many.

        Called when a worker's broker connection comes back: a broker restarted
        without persistence (Redis' default as a cache) lost the messages it held,
        and those runs would otherwise wait for their queued lease to run out
        (``SPURLINE_QUEUE_WAIT_S``). A message that was not lost arrives twice; the
        second is refused by the lease claim (docs/reliability.md#transient-store-errors).
        """
        run_ids = await asyncio.to_thread(self.db.read, lambda c: leases.queued(c, now()))
        for run_id in run_ids:
            await self._send_logged(run_id)
        if run_ids:
            log.info("broker reconnected: %d queued run(s) enqueued again", len(run_ids))
        return len(run_ids)

    def _send(self, run_id: str) -> None:
        self.app.send_task(EXECUTE_RUN, args=[run_id], queue=self.settings.queue_name)

    async def wait(self, run_id: str, timeout: float) -> RunStatus | None:
        """Wait until the run leaves PENDING/RUNNING; None on timeout.

        Woken by the run's events (PostgreSQL ``LISTEN``, see
        :class:`~spurline.services.events.EventHub`), not by polling. Once a lease
        length, the waiter also enqueues the run again if its lease lapsed: a child
        run, which the orphan takeover leaves to its parent, then still completes
        when the worker executing it died. Called by a run executing on this worker
        (a parent waiting on a child), the waiting run gives its slot back until the
        wait ends (docs/reliability.md#no-starvation).
        """
        async with waiting_on_runs():
            return await self._wait(run_id, timeout)

    async def _wait(self, run_id: str, timeout: float) -> RunStatus | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        status_now = partial(self.runner.engine.persistence.run_status, run_id)
        while True:
            remaining = deadline - loop.time()
            status = await self.hub.wait_run_end(
                run_id, max(min(remaining, self.settings.lease_s), 0), status_now
            )
            if status is not None:
                return status
            if deadline - loop.time() <= 0:
                return None
            await self._requeue_if_lapsed(run_id)

    async def _requeue_if_lapsed(self, run_id: str) -> None:
        requeue = partial(
            leases.requeue_lapsed, run_id=run_id, at=now(), wait_s=self.settings.queue_wait_s
        )
        # after a store outage the run's worker renews its lapsed lease first
        # (docs/reliability.md#transient-store-errors)
        settled = self.settings.lease_s + transient.BACKOFF_MAX_S
        requeued = await self.db.writer.arun(
            lambda c: requeue(c) if transient.quiet_for(settled) else False
        )
        if requeued:
            log.info("run waited on had lost its worker; enqueued again", extra={"run_id": run_id})
            await self._send_logged(run_id)

    async def interrupt(self, run_id: str) -> None:
        """Stop the run if it executes in this process; elsewhere the worker's run
        watch notices the final state in the store within ``SPURLINE_CONTROL_POLL_S``.
        """
        await self.runner.interrupt(run_id)

    async def close(self) -> None:
        """Interrupt the runs executing here (their leases lapse and they are taken over)."""
        for task in list(self._resending):
            task.cancel()
        await asyncio.gather(*self._resending, return_exceptions=True)
        await self.runner.close()
        self.app.close()

    def active(self) -> list[str]:
        """Runs executing in this process (none in an API process)."""
        return self.runner.active()

    # -- worker side ------------------------------------------------------------
    async def run_here(self, run_id: str) -> RunStatus | None:
        """Claim a run received from the queue and execute it in this process.

        Waits for a free slot first. Returns the status it stopped in; RUNNING when
        it goes on executing here without a slot, waiting on other runs (the queue
        task that brought it may end, so the pool thread serves its children;
        docs/reliability.md#no-starvation); None when it was not claimed (a duplicate
        message, a run already finished) or was stopped because its lease was lost to
        another process.
        """
        slot = await self.slots.take()
        again = run_id in self.runner.active()
        try:
            claimed = await self.db.writer.arun(
                partial(
                    _claim,
                    run_id=run_id,
                    owner=self.owner,
                    at=now(),
                    lease_s=self.settings.lease_s,
                    start=not again,
                )
            )
        except BaseException:
            slot.end()
            raise
        if not claimed:
            slot.end()
            return None
        if run_id in self.runner.active():
            # Submitted again while still executing here (a pause resolved as it
            # stopped): its execution goes on once more, on the slot it has.
            slot.end()
            await self.runner.submit(run_id)
            return RunStatus.RUNNING
        if not isinstance(claimed, bool):
            run, tasks, started = claimed
            self.runner.engine.hand_over(run, tasks, started)
        token = slot.bind()
        try:
            await self.runner.submit(run_id)
        finally:
            slot.unbind(token)
        execution = self.runner.execution(run_id)
        if execution is None:
            slot.end()
        else:
            execution.add_done_callback(lambda _: slot.end())
        return await self._until_stopped_or_parked(run_id, slot)

    async def _until_stopped_or_parked(self, run_id: str, slot: RunSlot) -> RunStatus | None:
        parked = asyncio.ensure_future(slot.parked.wait())
        ended: asyncio.Future[RunStatus | None] | None = None
        try:
            while True:
                ended = asyncio.ensure_future(self.runner.wait(run_id, 1.0))
                await asyncio.wait({ended, parked}, return_when=asyncio.FIRST_COMPLETED)
                if not ended.done():
                    return RunStatus.RUNNING
                status = ended.result()
                if status is not None:
                    return status
                if run_id not in self.runner.active():
                    return None
        finally:
            for waiter in (parked, ended):
                if waiter is not None:
                    waiter.cancel()


def _claim(
    conn: Connection, *, run_id: str, owner: str, at: datetime, lease_s: float, start: bool
) -> bool | tuple[RunRecord, list[TaskRecord], bool]:
    """A worker's claim on a run it received (:func:`spurline.store.leases.claim`), and
    in the same transaction, when ``start``, the run's records and its RUNNING
    transition: one transaction instead of three (claim, read, transition) per run.

    Returns False when not claimed; True when claimed without ``start``; else the run
    (RUNNING when ``started``), its tasks and ``started``. A batch parent is not made
    RUNNING here: its dispatcher does that (docs/child-runs-and-batches.md).
    """
    if not leases.claim(conn, run_id=run_id, owner=owner, at=at, lease_s=lease_s):
        return False
    if not start:
        return True
    run, tasks = run_queries.get_run_and_tasks(conn, run_id)
    started = False
    if run.workflow_version_id is not None and run.rows_total is None:
        started = run_queries.transition_run(conn, run_id, RUN_ACTIVE, RunStatus.RUNNING)
        if started:
            run.status = RunStatus.RUNNING
    return run, tasks, started
