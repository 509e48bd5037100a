"""Run use cases: start a run, wait for it, read it, and the pause / cancel / retry
actions (see docs/runs-api.md for the rules, docs/architecture.md for the path of a run).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from spurline.engine.clock import now
from spurline.engine.definition import WorkflowDefinition
from spurline.engine.executor import RunEngine
from spurline.engine.graph import Graph
from spurline.engine.pauses import PauseAction
from spurline.engine.persistence import Persistence
from spurline.engine.records import RunRecord, RunSnapshot, StartOptions, TaskRecord
from spurline.engine.runs import Executor, LocalExecutor, check_initial_inputs, new_run
from spurline.engine.scopes import decode_scope, resolve
from spurline.engine.states import RUN_ACTIVE, RunStatus, TaskStatus
from spurline.engine.views import RunResponseSchema, run_outputs, run_view
from spurline.exceptions import InputsInvalid, NotFound
from spurline.services._store import LeaseHolder, Store
from spurline.store import control, files, starts
from spurline.store import runs as run_queries
from spurline.store import workflows as wf_queries

#: Parsed graphs of versions with a PAUSED task kept for views (most recent first out).
GRAPH_CACHE = 256
#: Workflows whose current version a process remembers (all forgotten when full).
CURRENT_CACHE = 4096


class VersionMoved(Exception):
    """The version a run was prepared for is no longer its workflow's current one (or
    the workflow is gone): nothing was stored."""


log = logging.getLogger(__name__)


class RunService:
    """Starts runs and acts on them.

    Args:
        store: async database access.
        persistence: the engine's view of the store (run creation, status reads).
        engine: the run engine (plans, in-process hand-over).
        executor: where runs execute.
        lease: this process as a lease owner.
        blocking_timeout_s: default wait of :meth:`wait` (``SPURLINE_BLOCKING_TIMEOUT_S``).
    """

    def __init__(
        self,
        store: Store,
        persistence: Persistence,
        engine: RunEngine,
        executor: Executor,
        lease: LeaseHolder,
        blocking_timeout_s: float,
    ) -> None:
        self.store = store
        self.persistence = persistence
        self.engine = engine
        self.executor = executor
        self.lease = lease
        self.blocking_timeout_s = blocking_timeout_s
        self._graphs: OrderedDict[str, Graph] = OrderedDict()
        # workflow id -> its current version as this process last read it: a start
        # reads it no more; the insert's transaction checks it (start_run)
        self._current: dict[str, str] = {}

    # -- reads ----------------------------------------------------------------
    def view(self, snap: RunSnapshot) -> RunResponseSchema:
        """RunResponseSchema of a snapshot (docs/runs-api.md#run)."""
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
            if len(self._graphs) > GRAPH_CACHE:
                self._graphs.popitem(last=False)
        return graph

    async def completed_outputs(self, run_id: str) -> dict[str, Any] | None:
        """The ``outputs`` of a COMPLETED run (what a blocking run answers,
        docs/runs-api.md#running), else None; NotFound when absent. Reads the run and
        its tasks only: no version, reruns or view are built for the common answer."""
        ended = getattr(self.persistence, "ended_outputs", None)
        kept = ended(run_id) if ended is not None else None
        if kept is not None:  # as the run's ending transaction stored them (start_run)
            return cast(dict[str, Any], kept)
        run, tasks = await self.run_and_tasks(run_id)
        return run_outputs(tasks) if run.status is RunStatus.COMPLETED else None

    async def snapshot(self, run_id: str) -> RunSnapshot:
        """The run with its tasks and version; NotFound when absent."""
        return await self.store.read(lambda c: run_queries.get_snapshot(c, run_id))

    # -- runs -----------------------------------------------------------------
    async def start_run(
        self,
        workflow_id: str,
        initial_inputs: dict[str, Any] | None,
        parent_run_id: str | None = None,
        options: StartOptions | None = None,
        *,
        running: bool = False,
    ) -> tuple[RunRecord, list[TaskRecord]]:
        """Create a run of the workflow's current version and hand it to the executor.
        ``options.actor`` is who starts it, recorded as ``started_by`` (docs/security.md §4).

        With ``options.idempotency_key`` naming a run started within 24 h, that run is
        returned and nothing is started (docs/operations.md).

        ``running``: when this process executes the run (:class:`LocalExecutor`), it is
        stored PENDING and made RUNNING in one transaction (both events and the
        RUNNING hooks as before), sparing the engine's own transaction for it
        (docs/architecture.md#path-of-a-run). For callers that answer only once
        the run ends (a blocking run): the records returned are then RUNNING.

        Raises:
            NotFound: unknown workflow.
            InputsInvalid: inputs that do not fit the InputNode, or an unknown parent run.
        """
        options = options or StartOptions()
        key = options.idempotency_key
        if key is not None:
            known = await self.store.read(lambda c: starts.run_of_key(c, key, now()))
            if known is not None:
                return await self.run_and_tasks(known)
        started = running and isinstance(self.executor, LocalExecutor)
        # the version last read as current: checked in the insert's transaction
        known = self._current.get(workflow_id)
        while True:
            run, tasks = await self.prepare_run(
                workflow_id, initial_inputs, parent_run_id, options, current=known
            )
            then = _made_running(run.id) if started else None
            try:
                first = await insert_run_once(self.store, run, tasks, key, then, known)
                break
            except VersionMoved:  # a new version since: read it (NotFound: deleted)
                self._current.pop(workflow_id, None)
                known = None  # so this try is the last: nothing is checked then
        if first is not None:
            return await self.run_and_tasks(first)
        if started:
            run.status = RunStatus.RUNNING
            want = getattr(self.persistence, "want_outputs", None)
            if want is not None:  # the caller answers with them (completed_outputs)
                want(run.id)
        await self.launch(run, tasks, started)
        return run, tasks

    async def prepare_run(
        self,
        workflow_id: str,
        initial_inputs: dict[str, Any] | None,
        parent_run_id: str | None = None,
        options: StartOptions | None = None,
        version_id: str | None = None,
        *,
        current: str | None = None,
    ) -> tuple[RunRecord, list[TaskRecord]]:
        """A new PENDING run (not stored yet) of ``version_id`` (default: the workflow's
        current version), leased to this process, or queued when the executor sends
        runs to a queue (its ``queued_lease``, see :meth:`launch`).

        ``current``: the workflow's current version as last read, not read again (the
        insert checks it, see :func:`insert_run_once`).

        Raises:
            NotFound: unknown workflow.
            InputsInvalid: inputs that do not fit the InputNode, or an unknown parent run.
        """
        options = options or StartOptions()
        if current is None:
            current = await self.store.read(lambda c: wf_queries.current_version_id(c, workflow_id))
            assert current is not None
            if len(self._current) >= CURRENT_CACHE:
                self._current.clear()
            self._current[workflow_id] = current
        plan = await self.engine.plan_for(version_id or current)
        inputs = check_initial_inputs(plan, initial_inputs)
        if parent_run_id is not None:
            try:
                await self.persistence.run_status(parent_run_id)
            except NotFound:
                msg = f"parent_run_id {parent_run_id!r} names no run"
                raise InputsInvalid(
                    [{"path": ("parent_run_id",), "msg": msg, "type": "not_found"}]
                ) from None
        run, tasks = new_run(
            plan, workflow_id, inputs, parent_run_id=parent_run_id, run_type=options.run_type
        )
        run.tags = list(dict.fromkeys(options.tags)) or None
        run.run_metadata = dict(options.metadata) if options.metadata else None
        run.started_by = options.actor
        queued_lease = getattr(self.executor, "queued_lease", None)
        if queued_lease is not None:
            # an executor sending runs to a queue stores them queued at once, sparing a
            # write per run before the message goes (docs/architecture.md#leases-and-recovery)
            run.lease_owner, run.lease_expires_at = queued_lease(run.start_time)
        else:
            run.lease_owner = self.lease.owner
            run.lease_expires_at = run.start_time + timedelta(seconds=self.lease.lease_s)
        return run, tasks

    async def insert_run(
        self, run: RunRecord, tasks: list[TaskRecord], idempotency_key: str | None = None
    ) -> str | None:
        """Store a prepared run (see :func:`insert_run_once`)."""
        return await insert_run_once(self.store, run, tasks, idempotency_key)

    async def launch(self, run: RunRecord, tasks: list[TaskRecord], started: bool = False) -> None:
        """Hand a stored PENDING run to the executor (``started``: stored RUNNING already,
        see :meth:`start_run`)."""
        if isinstance(self.executor, LocalExecutor):  # it executes in this process
            self.engine.hand_over(run, tasks, started)
        send_queued = getattr(self.executor, "submit_queued", None)
        if send_queued is not None and run.lease_owner is None:
            await send_queued(run.id)  # stored with its queued lease (see prepare_run)
            return
        await self.executor.submit(run.id)

    async def run_and_tasks(self, run_id: str) -> tuple[RunRecord, list[TaskRecord]]:
        """A stored run and its tasks; NotFound when absent."""
        return await self.store.read(lambda c: run_queries.get_run_and_tasks(c, run_id))

    async def wait(self, run_id: str, timeout: float | None = None) -> RunStatus | None:
        """Wait for a run to leave PENDING/RUNNING; None when ``timeout`` passes first."""
        limit = self.blocking_timeout_s if timeout is None else timeout
        return await self.executor.wait(run_id, limit)

    # -- control (docs/runs-api.md#pause-cancel-retry) -------------------
    async def process_pause_action(
        self, run_id: str, decision: control.PauseDecision
    ) -> RunSnapshot:
        """Approve, override or decline a PAUSED run; an approved run resumes here.

        Raises:
            NotFound: unknown run.
            Conflict: the run is not PAUSED (exactly one of racing actions wins), the
                node is not paused, or several are and ``node_id`` is missing.
        """
        claim = self.lease.claim()
        canceled = await self.store.write(
            lambda c: control.resolve_pause(c, run_id, decision, claim)
        )
        if decision.action is PauseAction.DECLINE:
            for rid in canceled:
                await self.executor.interrupt(rid)
        else:
            await self.executor.submit(run_id)
        return await self.snapshot(run_id)

    async def cancel_run(
        self, run_id: str, message: str = "Canceled by request", actor: str | None = None
    ) -> RunSnapshot:
        """Cancel a PENDING/RUNNING/PAUSED run, its unfinished tasks and its child runs, and
        interrupt what runs here (other processes notice within ``control_poll_s``).
        ``actor`` is recorded as ``canceled_by`` and named in the message.

        Raises:
            NotFound: unknown run.
            Conflict: the run already finished.
        """
        at = now()
        if actor is not None:
            message = f"Canceled by {actor}"
        ids = await self.store.write(
            lambda c: run_queries.cancel_run_tree(c, run_id, at, message, canceled_by=actor)
        )
        log.info("run canceled (%s)", message, extra={"run_id": run_id})
        for rid in ids:
            await self.executor.interrupt(rid)
        return await self.snapshot(run_id)

    async def retry_run(self, run_id: str, actor: str | None = None) -> RunSnapshot:
        """Re-execute the FAILED and CANCELED tasks of a FAILED or CANCELED run here, in
        place (docs/operations.md). ``actor`` is recorded as ``retried_by``
        (docs/security.md §4).

        Raises:
            NotFound: unknown run.
            Conflict: the run is not FAILED or CANCELED.
        """
        claim = self.lease.claim()
        again = await self.store.write(
            lambda c: control.retry_run(c, run_id, claim, retried_by=actor)
        )
        log.info("run retried: %d task(s) execute again", again, extra={"run_id": run_id})
        await self.executor.submit(run_id)
        return await self.snapshot(run_id)

    async def remove_output_files(self, file_ids: list[str]) -> None:
        """Delete output-file records and their files (after their runs were deleted)."""
        paths = await self.store.write(lambda c: files.delete_output_files(c, file_ids))
        for path in paths:
            Path(path).unlink(missing_ok=True)


def _made_running(run_id: str) -> Callable[[Connection], object]:
    """The write that makes a run just inserted RUNNING, in the insert's transaction."""
    return lambda conn: run_queries.transition_run(conn, run_id, RUN_ACTIVE, RunStatus.RUNNING)


async def insert_run_once(
    store: Store,
    run: RunRecord,
    tasks: list[TaskRecord],
    idempotency_key: str | None = None,
    then: Callable[[Connection], object] | None = None,
    current: str | None = None,
) -> str | None:
    """Store a prepared run (and whatever ``then`` writes, in the same transaction).

    ``current``: the run's version, to be its workflow's current one when the run is
    stored (checked in the same transaction).

    Returns:
        None, or the id of the run ``idempotency_key`` already started within 24 h (then
        nothing is stored). Race-safe across processes: the key is unique in the store
        (docs/operations.md).

    Raises:
        VersionMoved: ``current`` is no longer current; nothing was stored.
    """

    def op(conn: Connection) -> str | VersionMoved | None:
        if current is not None and not wf_queries.is_current(conn, run.workflow_id, current):
            return VersionMoved()  # returned: raised in the writer it would fail the group
        first = starts.insert_run(conn, run, tasks, idempotency_key)
        if first is None and then is not None:
            then(conn)
        return first

    try:
        done = await store.write(op)
    except IntegrityError:
        if idempotency_key is None:
            raise
        first = await store.read(lambda c: starts.run_of_key(c, idempotency_key, now()))
        if first is None:
            raise
        return first
    if isinstance(done, VersionMoved):
        raise done
    return done
