"""The asyncio DAG executor: runs one run's tasks to an end state (docs/runs-api.md#running).

Scheduling: a node becomes ready when every predecessor has finished. It then runs
with the inputs its links delivered, or is skipped (CANCELED, no error) when every
incoming link was an untaken route or came from a skipped node, or is CANCELED when
a predecessor failed (docs/runs-api.md#running). Independent branches run concurrently.

Durability: state changes are buffered and committed in one write before anything
with an effect outside the engine starts (a non-inline node) and before waiting,
so each step is committed before the next one, and nodes that finish together
share one commit; what is buffered when nothing is left to start or wait for is
committed with the run's end. Inline nodes have no side effects, so a crash that
loses their buffered results only makes them run again.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import traceback
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast

from spurline.engine.children import BATCH, BatchRunner
from spurline.engine.clock import new_id, now
from spurline.engine.jsonvalue import json_problem
from spurline.engine.logcap import LogCapture
from spurline.engine.nodetype import NodeContext, NodePaused, NodeTypes
from spurline.engine.persistence import Persistence
from spurline.engine.plan import Plan
from spurline.engine.records import (
    CRASH_LIMIT_ERROR,
    CRASHED_ERROR,
    INTERRUPTED_ERROR,
    AttemptRecord,
    AttemptTally,
    LogLine,
    PauseRecord,
    RunRecord,
    TaskRecord,
)
from spurline.engine.states import RUN_ACTIVE, RunStatus, TaskStatus
from spurline.exceptions import (
    NodeFailed,
    NodeTimeout,
    OutputNotJSON,
    RunCanceled,
    StoreUnavailable,
)

log = logging.getLogger(__name__)

_ENGINE_WRITABLE = frozenset({TaskStatus.PENDING, TaskStatus.RUNNING})


class RunEngine:
    """Executes runs against a :class:`Persistence`.

    Args:
        persistence: where runs and tasks are read and written.
        node_types: the node registry (``node_type`` -> class implementing
            :class:`~spurline.engine.nodetype.Node`), handed over by the composition root.
        services: hooks handed to nodes through ``NodeContext.services``.
        log_cap: (bytes, lines) kept of each attempt's log (docs/observability.md).
        max_crashes: times a task may crash the process executing it before it ends
            FAILED instead of running again (docs/reliability.md#poison-runs).

    Attributes:
        handing_over: set by a process shutting down (docs/reliability.md#clean-shutdown):
            a run whose execution is then canceled stores the attempts it had in flight
            as interrupted, so the process that takes it over counts no crash.
    """

    def __init__(
        self,
        persistence: Persistence,
        node_types: NodeTypes,
        services: dict[str, Any] | None = None,
        log_cap: tuple[int, int] = (1 << 20, 10_000),
        max_crashes: int = 3,
    ) -> None:
        self.persistence = persistence
        self.node_types = node_types
        self.services = services or {}
        self.log_cap = log_cap
        self.max_crashes = max_crashes
        self.handing_over = False
        self._plans: OrderedDict[str, Plan] = OrderedDict()
        # bounded: records of runs never executed (a canceled batch's rows) age out
        self._handed: OrderedDict[str, tuple[RunRecord, list[TaskRecord], bool]] = OrderedDict()

    def hand_over(self, run: RunRecord, tasks: list[TaskRecord], started: bool = False) -> None:
        """Give ``execute`` the records of a run this process has just created and
        committed, so it starts from them instead of reading them back (one read per
        run). Copies are kept: the caller's records stay as they are.

        ``started``: the records were read in the transaction that made the run
        RUNNING (a worker's claim, :mod:`spurline.scaleout.executor`), so ``execute``
        does not write that transition again.
        """
        self._handed[run.id] = (copy.copy(run), [copy.copy(t) for t in tasks], started)
        if len(self._handed) > 4096:
            self._handed.popitem(last=False)

    async def plan_for(self, version_id: str, scope: str | None = None) -> Plan:
        """The (cached) plan of a version, or of one of its bodies (``scope``);
        versions are immutable, so caching is safe.
        """
        key = f"{version_id}\n{scope}" if scope else version_id
        plan = self._plans.get(key)
        if plan is None:
            version = await self.persistence.get_version(version_id)
            # checking a large definition takes a while: never on the event loop
            # (docs/reliability.md#validation-and-bad-input)
            plan = await asyncio.to_thread(Plan.of, version, self.node_types, scope)
            self._plans[key] = plan
            if len(self._plans) > 256:
                self._plans.popitem(last=False)
        return plan

    async def execute(self, run_id: str) -> RunStatus:
        """Run ``run_id`` from its recorded state until it completes, fails or pauses.

        COMPLETED tasks are not executed again; RUNNING ones (left by a process that
        died) are, unless they crashed their process ``max_crashes`` times in a row: then
        they end FAILED (docs/reliability.md#poison-runs). Returns the run's status at
        the end. A run that is not PENDING or RUNNING is left alone. A batch parent
        (``rows_total`` set) is handed to the ``services["batch"]`` runner
        (:class:`~spurline.engine.children.BatchRunner`): executing it means
        dispatching its rows (docs/child-runs-and-batches.md).
        """
        handed = self._handed.pop(run_id, None)
        # handed-over records are what was just committed; the conditional RUNNING
        # transition below still sees a cancel that came in between
        if handed is None:
            run, tasks = await self.persistence.load_run(run_id)
            started = False
        else:
            run, tasks, started = handed
        if run.status not in RUN_ACTIVE or run.workflow_version_id is None:
            return run.status
        if run.rows_total is not None and BATCH in self.services:
            return await cast(BatchRunner, self.services[BATCH]).execute_batch(run)
        plan = await self.plan_for(run.workflow_version_id, run.scope)
        if not started:
            started = await self.persistence.transition_run(run_id, RUN_ACTIVE, RunStatus.RUNNING)
        if not started:
            return await self.persistence.run_status(run_id)
        execution = _Execution(self, run, tasks, plan)
        in_flight = [t.id for t in tasks if t.status is TaskStatus.RUNNING]
        if in_flight:
            execution.tallies = await self.persistence.attempt_tallies(in_flight)
        try:
            return await execution.go()
        except RunCanceled:
            return await self.persistence.run_status(run_id)


class _Execution:
    """The state of one run while it executes in this process."""

    def __init__(self, engine: RunEngine, run: RunRecord, tasks: list[TaskRecord], plan: Plan):
        self.engine = engine
        self.p = engine.persistence
        self.run = run
        self.plan = plan
        self.tasks = {t.node_id: t for t in tasks}
        self.buffer: dict[str, TaskRecord] = {}
        self.finished_attempts: list[AttemptRecord] = []
        # what starts each node's next attempt (docs/observability.md)
        self.started_by: dict[str, str] = {}
        self.waiting: dict[str, int] = {}
        self.doomed: set[str] = set()
        self.ready: deque[str] = deque()
        # A PAUSED node that holds the whole run: nothing new starts until it is resolved.
        self.hold = False
        # stored attempts of the tasks a previous process left RUNNING
        self.tallies: dict[str, AttemptTally] = {}
        # nodes that crashed their process before (crashes in a row), and the one of
        # them running alone now (docs/reliability.md#poison-runs)
        self.suspects: dict[str, int] = {}
        self.alone: str | None = None

    # -- set-up ---------------------------------------------------------------
    def _prepare(self) -> None:
        g = self.plan.graph
        for nid in g.order:
            task = self.tasks[nid]
            if task.status is TaskStatus.RUNNING:  # in flight when its process stopped
                self._resume_in_flight(task)
            elif task.status is TaskStatus.PENDING and task.attempts:
                self.started_by[nid] = "run retry"
            if task.status is TaskStatus.PAUSED and self._holds(nid):
                self.hold = True
            preds = g.predecessors(nid)
            if task.status is TaskStatus.CANCELED and any(
                self.tasks[p].status is TaskStatus.FAILED or p in self.doomed for p in preds
            ):
                self.doomed.add(nid)
            self.waiting[nid] = sum(1 for p in preds if not self._finished(p))
        ready = [
            nid
            for nid in g.order
            if self.tasks[nid].status is TaskStatus.PENDING and self.waiting[nid] == 0
        ]
        # suspects first, the likeliest culprit first: each runs alone, then the rest
        ready.sort(key=lambda nid: -self.suspects.get(nid, 0))
        self.ready.extend(ready)

    def _resume_in_flight(self, task: TaskRecord) -> None:
        """A task a previous process left RUNNING runs again, or ends FAILED when it
        crashed its process ``max_crashes`` times in a row (docs/reliability.md#poison-runs).

        Its attempt in flight is stored already when that process shut down and handed
        it over (not a crash); else the process died, and that attempt is a crash.
        """
        last, crashes = self.tallies.get(task.id, AttemptTally(0, 0))
        crashed = bool(task.attempts) and last < task.attempts
        limit = self.engine.max_crashes
        if crashed and crashes + 1 >= limit:
            if crashes:
                self.started_by[task.node_id] = "takeover"
            error = (
                f"{CRASH_LIMIT_ERROR}the node crashed its executor {crashes + 1} times (the "
                "process executing it died each time); it is not run again (at most "
                f"{limit}, SPURLINE_MAX_CRASHES)"
            )
            self._lost_attempt(task, error)
            task.status, task.end_time, task.error, task.traceback = (
                TaskStatus.FAILED,
                now(),
                error,
                None,
            )
            log.warning(
                "node crashed its executor %d times; failing it",
                crashes + 1,
                extra={"run_id": self.run.id, "node_id": task.node_id, "attempt": task.attempts},
            )
            self.buffer[task.node_id] = task
            return
        if crashed:
            if crashes:  # it followed a crash, so a takeover started it
                self.started_by[task.node_id] = "takeover"
            self._lost_attempt(task)
            crashes += 1
        if crashes:
            self.suspects[task.node_id] = crashes
        task.status, task.start_time = TaskStatus.PENDING, None
        self.started_by[task.node_id] = "takeover"

    def _holds(self, node_id: str) -> bool:
        return bool(getattr(self.plan.nodes[node_id], "holds_whole_run", False))

    def _finished(self, node_id: str) -> bool:
        return self.tasks[node_id].status in (
            TaskStatus.COMPLETED,
            TaskStatus.FAILED,
            TaskStatus.CANCELED,
        )

    # -- main loop ------------------------------------------------------------
    async def go(self) -> RunStatus:
        self._prepare()
        in_flight: dict[asyncio.Task[None], str] = {}
        try:
            while True:
                starts = self._drain_ready(len(in_flight))
                if not starts and not in_flight:
                    break  # the buffer goes with the run's end (_conclude)
                await self._flush()
                for nid, inputs in starts:
                    task = asyncio.create_task(self._execute(nid, inputs))
                    in_flight[task] = nid
                done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for finished in done:
                    nid = in_flight.pop(finished)
                    finished.result()
                    if nid == self.alone:
                        self.alone = None
                    self._release(nid)
        except asyncio.CancelledError:
            if self.engine.handing_over:
                await self._hand_over(in_flight)
            raise
        finally:
            for task in in_flight:
                task.cancel()
        return await self._conclude()

    async def _hand_over(self, in_flight: dict[asyncio.Task[None], str]) -> None:
        """This process shuts down (docs/reliability.md#clean-shutdown): stop the nodes in
        flight, then store what finished and each attempt stopped as interrupted, so the
        process that takes the run over runs those nodes again without counting a crash.
        """
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        for nid in in_flight.values():
            task_record = self.tasks[nid]
            if task_record.status is TaskStatus.RUNNING:
                self._lost_attempt(task_record, INTERRUPTED_ERROR)
        try:
            await self._flush()
        except Exception:  # the taker-over then counts these attempts as crashes
            log.exception("could not store the interrupted attempts", extra={"run_id": self.run.id})

    def _drain_ready(self, busy: int) -> list[tuple[str, dict[str, Any]]]:
        """Settle every ready node that needs no waiting; return those to start.

        ``busy``: nodes of this run in flight. A suspect (a node that crashed its
        process before) starts only when none is, and nothing starts beside it, so a
        crash it causes again is charged to it alone (docs/reliability.md#poison-runs).
        """
        starts: list[tuple[str, dict[str, Any]]] = []
        while self.ready and not self.hold and self.alone is None:
            suspect = self.ready[0] in self.suspects
            if suspect and (busy or starts):
                break
            nid = self.ready.popleft()
            task = self.tasks[nid]
            decision, inputs = self._decide(nid)
            if decision != "run":
                task.status, task.end_time = TaskStatus.CANCELED, now()
                if decision == "doom":
                    self.doomed.add(nid)
                self.buffer[nid] = task
                self._release(nid)
                continue
            at = now()
            task.status, task.start_time, task.ready_time, task.inputs = (
                TaskStatus.RUNNING,
                at,
                at,
                inputs,
            )
            task.attempts += 1
            self.buffer[nid] = task
            node = self.plan.nodes[nid]
            # A node with retries takes the full path, which counts attempts and waits
            # retry_delay_s between them; an inline first try would go uncounted.
            if node.inline and not node.config.max_retries:
                starts_now = self._run_inline(nid, inputs)
                if starts_now is not None:
                    starts.append(starts_now)
            else:
                starts.append((nid, inputs))
            if suspect and starts:
                self.alone = nid
        return starts

    def _decide(self, nid: str) -> tuple[str, dict[str, Any]]:
        g = self.plan.graph
        if nid == self.plan.input_node_id:
            return "run", dict((self.run.initial_inputs or {}).get(nid) or {})
        links = g.incoming[nid]
        if not links:
            return "run", {}
        inputs: dict[str, Any] = {}
        for link in links:
            src = self.tasks[link.source_id]
            if src.status is TaskStatus.FAILED or link.source_id in self.doomed:
                return "doom", {}
            if src.status is not TaskStatus.COMPLETED or src.outputs is None:
                continue
            node = self.plan.nodes[link.source_id]
            taken = node.routes_taken(src.outputs)
            if taken is not None and link.source_handle not in taken:
                continue
            title = self.plan.title(link.source_id)
            inputs.setdefault(title, node.link_payload(src.outputs, link))
        return ("run", inputs) if inputs else ("skip", {})

    def _run_inline(self, nid: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """Inline nodes finish at once; one that turns out to wait is started as a task."""
        ctx = self._context(nid)
        coro = self.plan.nodes[nid].run(inputs, ctx)
        try:
            coro.send(None)
        except StopIteration as stop:
            self._record_output(nid, stop.value, ctx)
            self._release(nid)
            return None
        except StoreUnavailable:
            coro.close()
            raise  # the store's fault, not the node's: the run waits for the store
        except Exception as exc:
            coro.close()
            if isinstance(exc, NodePaused):
                # Pausing takes the full path; a pause that holds the whole run
                # stops the other ready nodes from starting right now.
                self.hold = self.hold or self._holds(nid)
                return nid, inputs
            self._record_error(nid, exc, ctx)
            self._release(nid)
            return None
        coro.close()
        return nid, inputs

    async def _execute(self, nid: str, inputs: dict[str, Any]) -> None:
        node = self.plan.nodes[nid]
        cfg = node.config
        task = self.tasks[nid]
        first = task.attempts
        while True:
            ctx = self._context(nid)
            try:
                coro = node.run(inputs, ctx)
                if cfg.timeout_s is not None and not node.times_itself:
                    # asyncio.timeout, not wait_for: no task per call, and on Python
                    # 3.11 wait_for can lose a run's cancel that comes as the node ends
                    async with asyncio.timeout(cfg.timeout_s):
                        out = await coro
                else:
                    out = await coro
            except NodePaused as pause:
                self._end_attempt(nid, ctx, TaskStatus.PAUSED)
                await self._pause(nid, pause.message)
                return
            except StoreUnavailable:
                # A node that reached the store (child runs, streamed output) did not
                # fail: the run stops and resumes when the store is back
                # (docs/reliability.md#transient-store-errors).
                raise
            except (TimeoutError, Exception) as exc:
                if isinstance(exc, TimeoutError) and not isinstance(exc, NodeFailed):
                    exc = NodeTimeout(f"TimeoutError: ran longer than {cfg.timeout_s:g} s")
                retryable = not isinstance(exc, NodeFailed) or exc.retryable
                if retryable and task.attempts - first < cfg.max_retries:
                    delay = getattr(exc, "retry_after", None) or cfg.retry_delay_s
                    log.info(
                        "node failed; retrying (%s)",
                        exc,
                        extra={"run_id": self.run.id, "node_id": nid, "attempt": task.attempts},
                    )
                    self._end_attempt(nid, ctx, TaskStatus.FAILED, exc)
                    task.attempts += 1
                    task.ready_time = now()
                    self.started_by[nid] = "node retry"
                    self.buffer[nid] = task
                    await self._flush()  # the failed attempt is visible while waiting
                    await asyncio.sleep(delay)
                    continue
                self._record_error(nid, exc, ctx)
                return
            self._record_output(nid, out, ctx)
            return

    def _context(self, nid: str) -> NodeContext:
        return NodeContext(
            run_id=self.run.id,
            node_id=nid,
            task_id=self.tasks[nid].id,
            initial_inputs=self.run.initial_inputs or {},
            timeout_s=self.plan.nodes[nid].config.timeout_s,
            services=self.engine.services,
            capture=LogCapture(*self.engine.log_cap),
            publish=self._publisher(nid),
        )

    def _publisher(self, nid: str) -> Callable[[str, str], Awaitable[None]]:
        """Stores the streamed lines of the current attempt of ``nid`` at once, up to
        the log cap in bytes; past it one ``meta`` line says so and the rest is not
        stored (docs/observability.md, "Streamed output")."""
        task = self.tasks[nid]
        attempt, cap = task.attempts, self.engine.log_cap[0]
        left, full = cap, False

        async def publish(stream: str, text: str) -> None:
            nonlocal left, full
            if full:
                return
            size = len(text.encode("utf-8", "replace"))
            line = LogLine(now(), stream, "INFO", text)
            if size > left:  # lines that filled the cap exactly still get the marker after
                full = True
                line = LogLine(
                    line.time, "meta", "WARNING", f"… streamed output past {cap} bytes not stored …"
                )
            left -= size
            await self.p.append_logs(self.run.id, task.id, nid, attempt, [line])

        return publish

    # -- attempts (docs/observability.md) ---------------------------------------
    def _end_attempt(
        self,
        nid: str,
        ctx: NodeContext,
        status: TaskStatus,
        exc: BaseException | None = None,
    ) -> None:
        """Buffer the record of the attempt that just ended, with its log lines."""
        task = self.tasks[nid]
        at = now()
        if ctx.started_at is not None:  # the code began later than the task was ready
            task.start_time = ctx.started_at
        error = tb = None
        if exc is not None:
            error, tb = _error_text(exc), _traceback_text(exc)
        attempt = AttemptRecord(
            id=new_id("A"),
            task_id=task.id,
            run_id=task.run_id,
            node_id=nid,
            number=task.attempts,
            status=status,
            ready_time=task.ready_time,
            start_time=ctx.started_at or task.ready_time or at,
            end_time=at,
            error=error,
            traceback=tb,
            started_by=self.started_by.pop(nid, "run"),
        )
        if ctx.capture is not None:
            attempt.logs = [
                LogLine(datetime.fromtimestamp(t, UTC), stream, level, line)
                for t, stream, level, line in ctx.capture.entries()
            ]
        self.finished_attempts.append(attempt)

    def _lost_attempt(self, task: TaskRecord, error: str = CRASHED_ERROR) -> None:
        """The attempt a dead process left RUNNING becomes a FAILED record (``error``
        says why: its process died, or shut down and handed it over)."""
        if not task.attempts:
            return
        self.finished_attempts.append(
            AttemptRecord(
                id=new_id("A"),
                task_id=task.id,
                run_id=task.run_id,
                node_id=task.node_id,
                number=task.attempts,
                status=TaskStatus.FAILED,
                ready_time=task.ready_time,
                start_time=task.start_time,
                end_time=now(),
                error=error,
                started_by=self.started_by.pop(task.node_id, "run"),
            )
        )

    # -- recording ------------------------------------------------------------
    def _record_output(self, nid: str, out: Any, ctx: NodeContext) -> None:
        problem = json_problem(out) if isinstance(out, dict) else "output is not an object"
        if problem:
            self._record_error(nid, OutputNotJSON(f"OutputNotJSON: {problem}"), ctx)
            return
        task = self.tasks[nid]
        self._end_attempt(nid, ctx, TaskStatus.COMPLETED)
        task.status, task.end_time, task.outputs, task.error, task.traceback = (
            TaskStatus.COMPLETED,
            self.finished_attempts[-1].end_time,
            out,
            None,
            None,
        )
        self.buffer[nid] = task

    def _record_error(self, nid: str, exc: BaseException, ctx: NodeContext) -> None:
        task = self.tasks[nid]
        self._end_attempt(nid, ctx, TaskStatus.FAILED, exc)
        attempt = self.finished_attempts[-1]
        task.status, task.end_time, task.error, task.traceback = (
            TaskStatus.FAILED,
            attempt.end_time,
            attempt.error,
            attempt.traceback,
        )
        log.info(
            "node failed: %s",
            attempt.error,
            extra={"run_id": self.run.id, "node_id": nid, "attempt": attempt.number},
        )
        self.buffer[nid] = task

    async def _pause(self, nid: str, message: str) -> None:
        """PAUSED task and its pause record, in one conditional write
        (docs/runs-api.md#pause-cancel-retry)."""
        if self._holds(nid):
            self.hold = True
        await self._flush()
        task = self.tasks[nid]
        task.status = TaskStatus.PAUSED
        pause = PauseRecord(new_id("P"), self.run.id, nid, message, now(), input_data=task.inputs)
        if not await self.p.pause_task(task, pause, _ENGINE_WRITABLE):
            raise RunCanceled(self.run.id)

    def _release(self, nid: str) -> None:
        if not self._finished(nid):
            return
        for succ in self.plan.graph.successors(nid):
            self.waiting[succ] -= 1
            if self.waiting[succ] == 0 and self.tasks[succ].status is TaskStatus.PENDING:
                self.ready.append(succ)

    async def _flush(self) -> None:
        if not self.buffer and not self.finished_attempts:
            return
        batch = list(self.buffer.values())
        self.buffer.clear()
        attempts, self.finished_attempts = self.finished_attempts, []
        written = await self.p.save_tasks(batch, _ENGINE_WRITABLE, attempts)
        if written != len(batch):
            raise RunCanceled(self.run.id)

    async def _conclude(self) -> RunStatus:
        ordered = [self.tasks[nid] for nid in self.plan.graph.order]
        failed = [t for t in ordered if t.status is TaskStatus.FAILED]
        paused = [t for t in ordered if t.status is TaskStatus.PAUSED]
        changes: dict[str, Any]
        if failed or paused:
            await self._flush()
        if failed:
            status = RunStatus.FAILED
            first = failed[0]
            extra = f" ({len(failed) - 1} more node(s) failed)" if len(failed) > 1 else ""
            message = f"Node '{first.node_id}' failed: {first.error}{extra}"
            changes = {"end_time": now(), "message": message}
            await self._cancel_waiting(ordered)
        elif paused:
            status = RunStatus.PAUSED
            changes = {"message": self._pause_message(paused[0].node_id)}
        else:
            status = RunStatus.COMPLETED
            changes = {"end_time": now(), "message": None}
        ok = await self._end_run(status, changes)
        return status if ok else await self.p.run_status(self.run.id)

    async def _end_run(self, status: RunStatus, changes: dict[str, Any]) -> bool:
        """The run's end, and the task records still buffered with it in one write
        (one transaction per run fewer). Raises RunCanceled when a task was no longer
        the engine's to write, as :meth:`_flush` does; then the run is left as it is.
        """
        batch = list(self.buffer.values())
        self.buffer.clear()
        attempts, self.finished_attempts = self.finished_attempts, []
        running = frozenset({RunStatus.RUNNING})
        if not batch and not attempts:
            return await self.p.transition_run(self.run.id, running, status, changes)
        ended = await self.p.save_tasks_and_end_run(
            batch, _ENGINE_WRITABLE, attempts, self.run.id, running, status, changes
        )
        if ended is None:
            raise RunCanceled(self.run.id)
        return ended

    async def _cancel_waiting(self, ordered: list[TaskRecord]) -> None:
        """A failed run is finished, so nothing in it may wait on a person: tasks still
        PAUSED (and the PENDING ones behind them) end CANCELED. A retry of the run
        executes them again, pause included (docs/runs-api.md#running,
        docs/runs-api.md#pause-cancel-retry).
        """
        at = now()
        waiting = [t for t in ordered if t.status in (TaskStatus.PAUSED, TaskStatus.PENDING)]
        for task in waiting:
            task.status, task.end_time = TaskStatus.CANCELED, at
        if waiting:
            await self.p.save_tasks(waiting, frozenset({TaskStatus.PAUSED, TaskStatus.PENDING}))

    def _pause_message(self, nid: str) -> str:
        message = getattr(self.plan.nodes[nid].config, "message", None)
        return str(message) if message else f"Paused at node '{nid}'"


def _error_text(exc: BaseException) -> str:
    """The task's ``error``: ``Type: message`` (a NodeFailed's message already is)."""
    return str(exc) if isinstance(exc, NodeFailed) else f"{type(exc).__name__}: {exc}"


def _traceback_text(exc: BaseException) -> str | None:
    """The traceback to keep: the node code's own (PythonFuncNode), else the node
    implementation's; None for failures the engine itself decided (time limits,
    outputs JSON cannot hold).
    """
    if isinstance(exc, NodeFailed):
        return exc.traceback
    return "".join(traceback.format_exception(exc)).rstrip("\n")
