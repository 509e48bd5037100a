"""The composition root: one process's store, engine, executor and services, wired.

Only entry points import this module: the API's app factory, the CLI and the worker
process. Everything else receives the narrow parts it needs (a
:class:`~spurline.services._store.Store`, the engine, the executor) from here, so
no layer reaches back into the whole process (docs/architecture.md#layers).

:class:`Runtime` keeps thin delegating methods (``start_run``, ``read``,
``cancel_run`` ...) so that routes and commands read as before; the use cases
themselves live in :mod:`spurline.services`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Connection

from spurline.engine.children import BATCH, CHILDREN
from spurline.engine.executor import RunEngine
from spurline.engine.records import RunRecord, RunSnapshot, StartOptions, TaskRecord
from spurline.engine.runs import Executor, LocalExecutor
from spurline.engine.states import RunStatus
from spurline.nodes._limits import LIMITS, Limits
from spurline.nodes.llm.nodes import LLM_CALLS, PROVIDER_KEYS
from spurline.nodes.registry import node_types
from spurline.services import metrics
from spurline.services._files import sweep
from spurline.services._store import LeaseHolder, Store
from spurline.services.auth import AuthService
from spurline.services.batch import BatchService
from spurline.services.children import ChildRunService
from spurline.services.datasets import DatasetService
from spurline.services.events import EventHub
from spurline.services.llm_calls import LlmCallService
from spurline.services.notifications import NotificationService
from spurline.services.partial_runs import PartialRunService
from spurline.services.process_slot import ProcessSlot
from spurline.services.provider_keys import SecretKeys
from spurline.services.recovery import LeaseKeeper
from spurline.services.retention import retention_loop
from spurline.services.runs import RunService
from spurline.services.schedules import ScheduleService
from spurline.services.secrets import SECRETS, SecretService
from spurline.services.triggers import TriggerService
from spurline.settings import Settings
from spurline.store import control
from spurline.store.db import Database
from spurline.store.persistence import SqlPersistence
from spurline.store.provider_keys import ProviderKeys

log = logging.getLogger(__name__)
T = TypeVar("T")


class Runtime:
    """Spurline in one process.

    Args:
        settings: configuration (database URL, executor, limits).
        migrate: apply Alembic migrations on start (docs/architecture.md#store).

    Attributes:
        runs: run use cases (:class:`~spurline.services.runs.RunService`).
        batches: batch runs (:class:`~spurline.services.batch.BatchService`).
        datasets: dataset uploads (:class:`~spurline.services.datasets.DatasetService`).
        children: child runs (:class:`~spurline.services.children.ChildRunService`).
        leases: lease renewal and recovery (:class:`~spurline.services.recovery.LeaseKeeper`).
        schedules: schedules and the scheduler
            (:class:`~spurline.services.schedules.ScheduleService`).
        triggers: webhook triggers (:class:`~spurline.services.triggers.TriggerService`).
    """

    def __init__(self, settings: Settings, *, migrate: bool = True) -> None:
        self.settings = settings
        self.db = Database(settings.resolved_database_url(), retry_s=settings.store_retry_s)
        if migrate:
            self.db.upgrade()
        self.store = Store(self.db)
        self.auth = AuthService(self.db, settings)
        self.secrets = SecretService(self.db, settings)
        self.persistence = SqlPersistence(self.db, self.secrets.redactor)
        self.engine = RunEngine(
            self.persistence,
            node_types(),
            log_cap=(settings.log_cap_bytes, settings.log_cap_lines),
            max_crashes=settings.max_crashes,
        )
        self.engine.services[SECRETS] = self.secrets
        self.engine.services[LIMITS] = Limits.from_settings(settings)
        # who this process is as a lease owner; its slot tells which owners on this
        # host and home are dead (docs/reliability.md#clean-shutdown)
        self.slot = ProcessSlot(settings.home.resolve())
        self.owner = self.slot.owner
        self.hub = EventHub(self.db, settings.events_poll_s)
        self.lease = LeaseHolder(self.owner, settings.lease_s)
        self.executor: Executor = self._make_executor()
        home = settings.home.resolve()
        self.runs = RunService(
            self.store,
            self.persistence,
            self.engine,
            self.executor,
            self.lease,
            settings.blocking_timeout_s,
        )
        self.batches = BatchService(
            self.store, self.persistence, self.engine, self.executor, self.lease, home / "outputs"
        )
        self.datasets = DatasetService(self.store, home / "datasets")
        self.children = ChildRunService(
            self.store,
            self.engine,
            self.executor,
            max_depth=settings.max_depth,
            max_child_runs=settings.max_child_runs,
        )
        self.leases = LeaseKeeper(
            self.store, self.executor, self.lease, settings.control_poll_s, self.slot
        )
        self.engine.services[CHILDREN] = self.children
        self.engine.services[BATCH] = self.batches
        self.partial_runs = PartialRunService(
            self.store, self.persistence, self.engine, self.executor, self.lease
        )
        self.llm_calls = LlmCallService(self.store, self.secrets.redactor)
        self.provider_keys: ProviderKeys = SecretKeys(self.secrets)
        self.engine.services[PROVIDER_KEYS] = self.provider_keys.get
        self.engine.services[LLM_CALLS] = self.llm_calls.record
        self.notifications = NotificationService(
            self.store, settings, self.owner, self.runs.process_pause_action
        )
        metrics.install()
        self.schedules = ScheduleService(
            self.store, self.runs, settings.schedule_poll_s, settings.schedule_grace_s
        )
        self.triggers = TriggerService(self.store, self.engine, self.runs)
        self._background: list[asyncio.Task[None]] = []
        # the background tasks that take work in: stopped first on shutdown
        self._intake: list[asyncio.Task[None]] = []
        self._drain_until: float | None = None

    def _make_executor(self) -> Executor:
        """The executor ``SPURLINE_EXECUTOR`` names: in-process, or Celery workers
        (docs/architecture.md#executors)."""
        if self.settings.executor == "celery":
            from spurline.scaleout.executor import CeleryExecutor

            return CeleryExecutor(self.db, self.engine, self.settings, self.owner, self.hub)
        local = LocalExecutor(self.engine)
        # Several runs at once: their writes gain more from the writer thread's group
        # commits than one run's steps gain from committing inline (docs/architecture.md#store)
        self.db.writer.inline_if = lambda: local.executing() <= 1
        return local

    # -- lifecycle ------------------------------------------------------------
    async def start(self, *, recover: bool = True, schedules: bool = False) -> None:
        """Keep this process's leases fresh and stop local executions of runs canceled
        elsewhere; with ``recover``, also take over orphaned runs now and keep watching
        for them (servers and workers do, a one-off CLI run does not). With
        ``schedules`` (API servers), also fire due schedules unless ``SPURLINE_SCHEDULER``
        is off (docs/operations.md).
        """
        self.hub.start()
        self._background = [
            asyncio.create_task(self.leases.heartbeat(), name="spurline-heartbeat"),
            asyncio.create_task(self.leases.watch_runs(), name="spurline-run-watch"),
        ]
        if recover:
            self._background.append(
                asyncio.create_task(self._warm_python_pool(), name="spurline-warm-pool")
            )
            await self.sweep_files()
            await self.recover()
            self._intake.append(
                asyncio.create_task(self.leases.watch_orphans(), name="spurline-recovery")
            )
            self._background += [
                # servers and workers send the webhooks and apply retention; a one-off
                # CLI process leaves its runs' deliveries to them (docs/operations.md)
                asyncio.create_task(self.notifications.run_forever(), name="spurline-webhooks"),
                asyncio.create_task(
                    retention_loop(self.store, self.settings), name="spurline-retention"
                ),
            ]
            if schedules and self.settings.scheduler:
                self._intake.append(
                    asyncio.create_task(self.schedules.loop(), name="spurline-scheduler")
                )

    async def sweep_files(self) -> list[Path]:
        """Remove what interrupted writes left under ``SPURLINE_HOME`` (``.part`` files,
        unrecorded dataset files; docs/reliability.md#disk-full); returns their paths."""
        outputs = self.settings.home.resolve() / "outputs"
        removed = await self.datasets.sweep()
        return removed + await asyncio.to_thread(sweep, outputs)

    async def recover(self) -> list[str]:
        """Take over PENDING/RUNNING runs whose lease expired and resume them.

        Returns the ids of the runs this process took over.
        """
        return await self.leases.recover()

    async def stop_lost_runs(self) -> list[str]:
        """Interrupt local executions of runs canceled (or taken over) by another process;
        returns their ids (see :meth:`LeaseKeeper.stop_lost_runs`)."""
        return await self.leases.stop_lost_runs()

    async def _warm_python_pool(self) -> None:
        """Start the PythonFuncNode workers now, so a server's first runs (or a batch's
        first rows) do not wait for processes to start."""
        from spurline.nodes._sandbox import default_pool

        try:
            pool = default_pool()
            await pool.warm()
            await pool.call("return {}", {}, self.settings.python_timeout_s)
        except Exception as exc:  # e.g. the server stopped meanwhile, closing the pool
            # one line, not a traceback: the pool starts again on first use
            log.warning("could not start the Python worker pool: %s", exc)

    @property
    def lease_s(self) -> float:
        """Lease length in seconds (``SPURLINE_LEASE_S``)."""
        return self.settings.lease_s

    def begin_shutdown(self, grace_s: float | None = None) -> None:
        """Stop taking work in (orphan takeovers, schedules) and give the runs executing
        here ``grace_s`` seconds (default ``SPURLINE_SHUTDOWN_GRACE_S``) to finish;
        :meth:`shutdown` waits for them (docs/reliability.md#clean-shutdown). Called on
        SIGTERM; the first call counts.
        """
        if self._drain_until is not None:
            return
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        self._drain_until = asyncio.get_running_loop().time() + grace
        self.leases.accepting = False
        for task in self._intake:
            task.cancel()
        if grace and self.executor.active():
            log.info(
                "shutting down: %d run(s) executing here get %g s to finish",
                len(self.executor.active()),
                grace,
            )

    async def shutdown(self) -> list[str]:
        """Hand this process's runs over and close (docs/reliability.md#clean-shutdown).

        After :meth:`begin_shutdown`, waits until the runs executing here stopped or
        its grace ran out; without it, waits for nothing. The runs still executing
        are then interrupted (the attempts in flight are stored as interrupted, which
        counts no crash) and their leases released, so another process takes them
        over at once. Returns the ids of the runs released.
        """
        loop = asyncio.get_running_loop()
        self.begin_shutdown(0.0)  # no grace unless one was given before
        deadline = self._drain_until or loop.time()
        while self.executor.active() and loop.time() < deadline:
            await asyncio.sleep(min(0.05, max(deadline - loop.time(), 0)))
        self.engine.handing_over = True
        await self.executor.close()
        try:
            released = await self.leases.release()
        except Exception:  # their leases then expire: taken over later, not lost
            log.exception("could not release the leases")
            released = []
        await self.close()
        return released

    async def close(self) -> None:
        """Interrupt local runs (they resume on the next start) and close the store."""
        for task in self._intake + self._background:
            task.cancel()
        await asyncio.gather(*self._intake, *self._background, return_exceptions=True)
        # each part is closed even when one before it fails: a hub left open keeps a
        # PostgreSQL listener thread reconnecting for ever
        try:
            await self.notifications.close()
            await self.executor.close()
        finally:
            try:
                await self.hub.close()
            finally:
                self.db.close()
                self.slot.close()

    # -- delegations kept for routes and commands ------------------------------
    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run a read query in a worker thread (see :meth:`Store.read`)."""
        return await self.store.read(fn)

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Run a write through the group-commit writer (see :meth:`Store.write`)."""
        return await self.store.write(fn)

    def view(self, snap: RunSnapshot) -> dict[str, Any]:
        """RunResponseSchema of a snapshot (see :meth:`RunService.view`), typed as a plain
        dict for the commands and routes that read or extend it."""
        return cast(dict[str, Any], self.runs.view(snap))

    async def start_run(
        self,
        workflow_id: str,
        initial_inputs: dict[str, Any] | None,
        parent_run_id: str | None = None,
        options: StartOptions | None = None,
        *,
        running: bool = False,
    ) -> tuple[RunRecord, list[TaskRecord]]:
        """Start a run (see :meth:`RunService.start_run` for ``running`` and the errors
        raised)."""
        return await self.runs.start_run(
            workflow_id, initial_inputs, parent_run_id, options, running=running
        )

    async def wait(self, run_id: str, timeout: float | None = None) -> RunStatus | None:
        """Wait for a run to leave PENDING/RUNNING (see :meth:`RunService.wait`)."""
        return await self.runs.wait(run_id, timeout)

    async def snapshot(self, run_id: str) -> RunSnapshot:
        """The run with its tasks and version; NotFound when absent."""
        return await self.runs.snapshot(run_id)

    async def process_pause_action(
        self, run_id: str, decision: control.PauseDecision
    ) -> RunSnapshot:
        """Resolve a pause (see :meth:`RunService.process_pause_action`)."""
        return await self.runs.process_pause_action(run_id, decision)

    async def cancel_run(
        self, run_id: str, message: str = "Canceled by request", actor: str | None = None
    ) -> RunSnapshot:
        """Cancel a run and its children (see :meth:`RunService.cancel_run`)."""
        return await self.runs.cancel_run(run_id, message, actor)

    async def retry_run(self, run_id: str, actor: str | None = None) -> RunSnapshot:
        """Retry a FAILED or CANCELED run in place (see :meth:`RunService.retry_run`)."""
        return await self.runs.retry_run(run_id, actor)

    async def remove_output_files(self, file_ids: list[str]) -> None:
        """Delete output-file records and their files (see
        :meth:`RunService.remove_output_files`)."""
        await self.runs.remove_output_files(file_ids)
