"""The composition root: one process's store, engine and executor, wired together.

Both the HTTP API and the CLI drive Spurline through a :class:`Runtime`; neither
holds logic of its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from spurline.batch import BatchService
from spurline.children import ChildRunService
from spurline.datasets import DatasetService
from spurline.engine.children import BATCH, CHILDREN
from spurline.engine.clock import new_id, now
from spurline.engine.definition import WorkflowDefinition
from spurline.engine.executor import RunEngine
from spurline.engine.graph import Graph
from spurline.engine.pauses import PauseAction
from spurline.engine.records import RunRecord, RunSnapshot, StartOptions, TaskRecord
from spurline.engine.runs import Executor, LocalExecutor, check_initial_inputs, new_run
from spurline.engine.scopes import decode_scope, resolve
from spurline.engine.states import RunStatus, TaskStatus
from spurline.engine.views import run_view
from spurline.exceptions import InputsInvalid, NotFound
from spurline.schedules import ScheduleService
from spurline.settings import Settings
from spurline.store import control, files, leases, starts
from spurline.store import runs as run_queries
from spurline.store import workflows as wf_queries
from spurline.store.db import Database
from spurline.store.persistence import SqlPersistence
from spurline.triggers import TriggerService

log = logging.getLogger(__name__)
T = TypeVar("T")


class Runtime:
    """Spurline in one process.

    Args:
        settings: configuration (database URL, executor, limits).
        migrate: apply Alembic migrations on start (SPEC §7).
    """

    def __init__(self, settings: Settings, *, migrate: bool = True) -> None:
        self.settings = settings
        self.db = Database(settings.resolved_database_url())
        if migrate:
            self.db.upgrade()
        self.persistence = SqlPersistence(self.db)
        self.engine = RunEngine(self.persistence)
        self.batches = BatchService(self)
        self.datasets = DatasetService(self)
        self.engine.services[CHILDREN] = ChildRunService(self)
        self.engine.services[BATCH] = self.batches
        self.schedules = ScheduleService(self)
        self.triggers = TriggerService(self)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{new_id()}"
        self.executor: Executor = self._make_executor()
        self._graphs: OrderedDict[str, Graph] = OrderedDict()
        self._background: list[asyncio.Task[None]] = []

    def _make_executor(self) -> Executor:
        """The executor ``SPURLINE_EXECUTOR`` names: in-process, or Celery workers (SPEC §7)."""
        if self.settings.executor == "celery":
            from spurline.worker.executor import CeleryExecutor

            return CeleryExecutor(self.db, self.engine, self.settings, self.owner)
        return LocalExecutor(self.engine)

    # -- lifecycle ------------------------------------------------------------
    async def start(self, *, recover: bool = True, schedules: bool = False) -> None:
        """Keep this process's leases fresh and stop local executions of runs canceled
        elsewhere; with ``recover``, also take over orphaned runs now and keep watching
        for them (servers and workers do, a one-off CLI run does not). With
        ``schedules`` (API servers), also fire due schedules unless ``SPURLINE_SCHEDULER``
        is off (docs/operations.md).
        """
        self._background = [
            asyncio.create_task(self._heartbeat(), name="spurline-heartbeat"),
            asyncio.create_task(self._watch_runs(), name="spurline-run-watch"),
        ]
        if recover:
            self._background.append(
                asyncio.create_task(self._warm_python_pool(), name="spurline-warm-pool")
            )
            await self.recover()
            self._background.append(
                asyncio.create_task(self._watch_orphans(), name="spurline-recovery")
            )
            if schedules and self.settings.scheduler:
                self._background.append(
                    asyncio.create_task(self.schedules.loop(), name="spurline-scheduler")
                )

    async def recover(self) -> list[str]:
        """Take over PENDING/RUNNING runs whose lease expired and resume them.

        Returns the ids of the runs this process took over.
        """
        taken = await self.write(
            partial(leases.take_over_expired, owner=self.owner, at=now(), lease_s=self.lease_s)
        )
        for run_id in taken:
            log.info("taking over run %s", run_id)
            await self.executor.submit(run_id)
        return taken

    async def _warm_python_pool(self) -> None:
        """Start the PythonFuncNode workers now, so a server's first runs (or a batch's
        first rows) do not wait for processes to start."""
        from spurline.nodes._sandbox import default_pool

        try:
            await default_pool().call("return {}", {}, self.settings.python_timeout_s)
        except Exception:  # the pool starts again on first use
            log.exception("could not start the Python worker pool")

    @property
    def lease_s(self) -> float:
        """Lease length in seconds (``SPURLINE_LEASE_S``)."""
        return self.settings.lease_s

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.write(
                    partial(
                        leases.renew,
                        owner=self.owner,
                        run_ids=self.executor.active(),
                        at=now(),
                        lease_s=self.lease_s,
                    )
                )
            except Exception:  # the next beat tries again; a lost lease is taken over
                log.exception("lease renewal failed")

    async def _watch_orphans(self) -> None:
        while True:
            try:
                await asyncio.sleep(await self._until_next_expiry())
                await self.recover()
            except Exception:
                log.exception("orphan recovery failed")
                await asyncio.sleep(self.lease_s / 2)

    async def _until_next_expiry(self) -> float:
        """Seconds to sleep before looking for orphans again: until the first lease of
        another process runs out (so a dead process's runs are taken over right when
        their leases expire), at most half a lease.
        """
        cap = self.lease_s / 2
        nxt = await self.read(lambda c: leases.next_expiry(c, self.owner))
        if nxt is None:
            return cap
        return min(max((nxt - now()).total_seconds() + 0.05, 0.05), cap)

    async def _watch_runs(self) -> None:
        while True:
            await asyncio.sleep(self.settings.control_poll_s)
            try:
                await self.stop_lost_runs()
            except Exception:
                log.exception("checking the runs executing here failed")

    async def stop_lost_runs(self) -> list[str]:
        """Interrupt local executions of runs canceled (or taken over) by another process.

        Returns the ids interrupted. Runs every ``SPURLINE_CONTROL_POLL_S`` seconds, so a
        cancel made through another server or the CLI stops the nodes here that fast.
        """
        active = self.executor.active()
        if not active:
            return []
        lost = await self.read(lambda c: leases.executing_elsewhere(c, self.owner, active))
        for run_id in lost:
            log.info("run %s was canceled or taken over elsewhere; interrupting it", run_id)
            await self.executor.interrupt(run_id)
        return lost

    # -- reads ----------------------------------------------------------------
    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run a read query in a worker thread (the event loop never waits on the DB)."""
        return await asyncio.to_thread(self.db.read, fn)

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Run a write through the group-commit writer."""
        return await self.db.writer.arun(fn)

    def view(self, snap: RunSnapshot) -> dict[str, Any]:
        """RunResponseSchema of a snapshot (SPEC §2.1)."""
        graph = None
        if snap.version is not None and any(t.status is TaskStatus.PAUSED for t in snap.tasks):
            graph = self._graph(snap.version.id, snap.version.definition, snap.run.scope)
        return run_view(snap.run, snap.tasks, snap.version, now(), graph, snap.reruns)

    def _graph(self, version_id: str, definition: dict[str, Any], scope: str | None) -> Graph:
        key = f"{version_id}\n{scope}" if scope else version_id
        graph = self._graphs.get(key)
        if graph is None:
            parsed = WorkflowDefinition.model_validate(definition)
            graph = Graph.of(resolve(parsed, decode_scope(scope)))
            self._graphs[key] = graph
            if len(self._graphs) > 256:
                self._graphs.popitem(last=False)
        return graph

    # -- runs -----------------------------------------------------------------
    async def start_run(
        self,
        workflow_id: str,
        initial_inputs: dict[str, Any] | None,
        parent_run_id: str | None = None,
        options: StartOptions | None = None,
    ) -> tuple[RunRecord, list[TaskRecord]]:
        """Create a run of the workflow's current version and hand it to the executor.

        With ``options.idempotency_key`` naming a run started within 24 h, that run is
        returned and nothing is started (docs/operations.md).

        Raises:
            NotFound: unknown workflow.
            InputsInvalid: inputs that do not fit the InputNode, or an unknown parent run.
        """
        options = options or StartOptions()
        key = options.idempotency_key
        if key is not None:
            known = await self.read(lambda c: starts.run_of_key(c, key, now()))
            if known is not None:
                return await self.run_and_tasks(known)
        run, tasks = await self.prepare_run(workflow_id, initial_inputs, parent_run_id, options)
        first = await self.insert_run(run, tasks, key)
        if first is not None:
            return await self.run_and_tasks(first)
        await self.launch(run, tasks)
        return run, tasks

    async def prepare_run(
        self,
        workflow_id: str,
        initial_inputs: dict[str, Any] | None,
        parent_run_id: str | None = None,
        options: StartOptions | None = None,
        version_id: str | None = None,
    ) -> tuple[RunRecord, list[TaskRecord]]:
        """A new PENDING run (not stored yet) of ``version_id`` (default: the workflow's
        current version), leased to this process.

        Raises:
            NotFound: unknown workflow.
            InputsInvalid: inputs that do not fit the InputNode, or an unknown parent run.
        """
        options = options or StartOptions()
        wf = await self.read(lambda c: wf_queries.get_workflow(c, workflow_id))
        assert wf.current_version_id is not None
        plan = await self.engine.plan_for(version_id or wf.current_version_id)
        inputs = check_initial_inputs(plan, initial_inputs)
        if parent_run_id is not None:
            try:
                await self.persistence.run_status(parent_run_id)
            except NotFound:
                msg = f"parent_run_id {parent_run_id!r} names no run"
                raise InputsInvalid(
                    [{"loc": ["body", "parent_run_id"], "msg": msg, "type": "not_found"}]
                ) from None
        run, tasks = new_run(
            plan, wf.id, inputs, parent_run_id=parent_run_id, run_type=options.run_type
        )
        run.tags = list(dict.fromkeys(options.tags)) or None
        run.run_metadata = dict(options.metadata) if options.metadata else None
        run.lease_owner = self.owner
        run.lease_expires_at = run.start_time + timedelta(seconds=self.lease_s)
        return run, tasks

    async def insert_run(
        self,
        run: RunRecord,
        tasks: list[TaskRecord],
        idempotency_key: str | None = None,
        then: Callable[[Connection], object] | None = None,
    ) -> str | None:
        """Store a prepared run (and whatever ``then`` writes, in the same transaction);
        returns None, or the id of the run ``idempotency_key`` already started (then
        nothing is stored). Race-safe across processes: the key is unique in the store
        (docs/operations.md)."""

        def op(conn: Connection) -> str | None:
            first = starts.insert_run(conn, run, tasks, idempotency_key)
            if first is None and then is not None:
                then(conn)
            return first

        try:
            return await self.write(op)
        except IntegrityError:
            if idempotency_key is None:
                raise
            first = await self.read(lambda c: starts.run_of_key(c, idempotency_key, now()))
            if first is None:
                raise
            return first

    async def launch(self, run: RunRecord, tasks: list[TaskRecord]) -> None:
        """Hand a stored PENDING run to the executor."""
        if isinstance(self.executor, LocalExecutor):  # it executes in this process
            self.engine.hand_over(run, tasks)
        await self.executor.submit(run.id)

    async def run_and_tasks(self, run_id: str) -> tuple[RunRecord, list[TaskRecord]]:
        """A stored run and its tasks; NotFound when absent."""
        return await self.read(lambda c: run_queries.get_run_and_tasks(c, run_id))

    async def wait(self, run_id: str, timeout: float | None = None) -> RunStatus | None:
        """Wait for a run to leave PENDING/RUNNING; None when ``timeout`` passes first."""
        limit = self.settings.blocking_timeout_s if timeout is None else timeout
        return await self.executor.wait(run_id, limit)

    async def snapshot(self, run_id: str) -> RunSnapshot:
        """The run with its tasks and version; NotFound when absent."""
        return await self.read(lambda c: run_queries.get_snapshot(c, run_id))

    # -- control (SPEC §5) ---------------------------------------------------
    def _claim(self) -> control.Claim:
        return control.Claim(self.owner, now(), self.lease_s)

    async def process_pause_action(
        self, run_id: str, decision: control.PauseDecision
    ) -> RunSnapshot:
        """Approve, override or decline a PAUSED run; an approved run resumes here.

        Raises:
            NotFound: unknown run.
            Conflict: the run is not PAUSED (exactly one of racing actions wins), the
                node is not paused, or several are and ``node_id`` is missing.
        """
        claim = self._claim()
        canceled = await self.write(lambda c: control.resolve_pause(c, run_id, decision, claim))
        if decision.action is PauseAction.DECLINE:
            for rid in canceled:
                await self.executor.interrupt(rid)
        else:
            await self.executor.submit(run_id)
        return await self.snapshot(run_id)

    async def cancel_run(self, run_id: str, message: str = "Canceled by request") -> RunSnapshot:
        """Cancel a PENDING/RUNNING/PAUSED run, its unfinished tasks and its child runs, and
        interrupt what runs here (other processes notice within ``control_poll_s``).

        Raises:
            NotFound: unknown run.
            Conflict: the run already finished.
        """
        at = now()
        ids = await self.write(lambda c: run_queries.cancel_run_tree(c, run_id, at, message))
        for rid in ids:
            await self.executor.interrupt(rid)
        return await self.snapshot(run_id)

    async def retry_run(self, run_id: str) -> RunSnapshot:
        """Re-execute the FAILED and CANCELED tasks of a FAILED or CANCELED run here, in
        place (docs/operations.md).

        Raises:
            NotFound: unknown run.
            Conflict: the run is not FAILED or CANCELED.
        """
        claim = self._claim()
        await self.write(lambda c: control.retry_run(c, run_id, claim))
        await self.executor.submit(run_id)
        return await self.snapshot(run_id)

    async def remove_output_files(self, file_ids: list[str]) -> None:
        """Delete output-file records and their files (after their runs were deleted)."""
        paths = await self.write(lambda c: files.delete_output_files(c, file_ids))
        for path in paths:
            Path(path).unlink(missing_ok=True)

    async def close(self) -> None:
        """Interrupt local runs (they resume on the next start) and close the store."""
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.executor.close()
        self.db.close()
