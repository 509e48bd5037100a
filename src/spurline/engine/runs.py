"""Creating runs and handing them to an executor (docs/runs-api.md#task, docs/runs-api.md#running).

``new_run`` checks the initial inputs and builds the run with one PENDING task per
top-level node, so the task list shows the whole plan from the start.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
from typing import Any, Protocol

from spurline.engine.clock import new_id, now
from spurline.engine.executor import RunEngine
from spurline.engine.plan import Plan
from spurline.engine.records import RunRecord, TaskRecord
from spurline.engine.states import RUN_FINISHED, RunStatus
from spurline.exceptions import InputsInvalid, StoreUnavailable

log = logging.getLogger(__name__)


def check_initial_inputs(plan: Plan, initial_inputs: Any) -> dict[str, Any]:
    """Validate ``{input_node_id: {field: value}}`` against the InputNode
    (docs/runs-api.md#workflow-definitions).

    Returns the inputs as a dict (``{}`` for None).

    Raises:
        InputsInvalid: keys that are not the InputNode's id, values that are not
            objects, or (with ``enforce_schema``) missing or mistyped fields.
    """
    inputs = {} if initial_inputs is None else initial_inputs
    problems: list[dict[str, Any]] = []
    if not isinstance(inputs, dict):
        msg = "initial_inputs must be an object {input_node_id: {field: value}}"
        raise InputsInvalid([{"path": ("initial_inputs",), "msg": msg, "type": "type"}])
    input_id = plan.input_node_id
    for key in inputs:
        if key != input_id:
            msg = (
                f"initial_inputs names {key!r}, which is not the workflow's InputNode "
                f"({input_id!r})"
            )
            problems.append({"path": ("initial_inputs", key), "msg": msg, "type": "node"})
    node = plan.nodes[input_id]
    for msg in node.input_problems(inputs.get(input_id, {})):
        problems.append({"path": ("initial_inputs", input_id), "msg": msg, "type": "input"})
    if problems:
        raise InputsInvalid(problems)
    return inputs


def new_run(
    plan: Plan,
    workflow_id: str,
    initial_inputs: dict[str, Any],
    *,
    parent_run_id: str | None = None,
    run_type: str = "interactive",
    seq: int | None = None,
    parent_task_id: str | None = None,
) -> tuple[RunRecord, list[TaskRecord]]:
    """A PENDING run of ``plan`` and one PENDING task per top-level node, in topological order.

    A plan of a body (``plan.scope``) makes a run of that body (docs/child-runs-and-batches.md).
    """
    run = RunRecord(
        id=new_id("R"),
        workflow_id=workflow_id,
        workflow_version_id=plan.version_id,
        status=RunStatus.PENDING,
        start_time=now(),
        initial_inputs=initial_inputs,
        parent_run_id=parent_run_id,
        run_type=run_type,
        seq=seq,
        parent_task_id=parent_task_id,
        scope=plan.scope,
    )
    tasks = [
        TaskRecord(
            id=new_id("T"),
            run_id=run.id,
            node_id=nid,
            node_type=plan.graph.nodes[nid].node_type,
            position=i,
        )
        for i, nid in enumerate(plan.graph.order)
    ]
    return run, tasks


class Executor(Protocol):
    """Where runs execute: in this process (:class:`LocalExecutor`) or on workers."""

    async def submit(self, run_id: str) -> None:
        """Start executing a stored PENDING/RUNNING run in the background."""
        ...

    async def wait(self, run_id: str, timeout: float) -> RunStatus | None:
        """Wait until the run is no longer PENDING/RUNNING; None on timeout."""
        ...

    async def interrupt(self, run_id: str) -> None:
        """Stop work in flight for a run whose stored state is already final."""
        ...

    async def close(self) -> None:
        """Stop accepting runs and interrupt what is running."""
        ...

    def active(self) -> list[str]:
        """Ids of the runs this process is executing (their leases are renewed)."""
        ...


#: Context variables an execution must not inherit from whoever submitted it, with
#: the value it gets instead: an execution outlives the request that started it (a
#: request's short store patience must not bound it). Layers below register theirs;
#: everything else (a worker's slot, say) is inherited.
REQUEST_ONLY: list[tuple[contextvars.ContextVar[Any], Any]] = []


def execution_context() -> contextvars.Context:
    """A copy of the current context with the :data:`REQUEST_ONLY` variables reset."""
    ctx = contextvars.copy_context()
    for var, value in REQUEST_ONLY:
        ctx.run(var.set, value)
    return ctx


class LocalExecutor:
    """Runs each run as an asyncio task in this process's event loop.

    An execution stopped by :class:`~spurline.exceptions.StoreUnavailable` (the store
    stayed down past its retries) is not failed: it starts again from the stored
    state every ``store_pause_s`` seconds until the store is back
    (docs/reliability.md#transient-store-errors).
    """

    def __init__(self, engine: RunEngine, poll_s: float = 0.05, store_pause_s: float = 5.0) -> None:
        self.engine = engine
        self.poll_s = poll_s
        self.store_pause_s = store_pause_s
        self._tasks: dict[str, asyncio.Task[RunStatus]] = {}
        # Runs submitted again while their execution was still finishing (a pause
        # resolved, or a retry, right after the run stopped): executed once more.
        self._again: set[str] = set()

    def executing(self) -> int:
        """How many runs this executor is executing now."""
        return len(self._tasks)

    async def submit(self, run_id: str) -> None:
        running = self._tasks.get(run_id)
        if running is not None and not running.done():
            self._again.add(run_id)
            return
        task = asyncio.create_task(
            self._execute(run_id), name=f"run {run_id}", context=execution_context()
        )
        self._tasks[run_id] = task

    async def _execute(self, run_id: str) -> RunStatus:
        try:
            while True:
                try:
                    status = await self.engine.execute(run_id)
                except StoreUnavailable as exc:
                    log.warning(
                        "%s; the run resumes when it is back", exc, extra={"run_id": run_id}
                    )
                    await asyncio.sleep(self.store_pause_s)
                    continue
                if run_id not in self._again:
                    return status
                self._again.discard(run_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("engine error", extra={"run_id": run_id})
            await self.engine.persistence.transition_run(
                run_id,
                frozenset({RunStatus.PENDING, RunStatus.RUNNING}),
                RunStatus.FAILED,
                {"end_time": now(), "message": "Internal engine error; see the server log"},
            )
            return RunStatus.FAILED
        finally:
            self._again.discard(run_id)
            if self._tasks.get(run_id) is asyncio.current_task():
                del self._tasks[run_id]

    async def wait(self, run_id: str, timeout: float) -> RunStatus | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            task = self._tasks.get(run_id)
            remaining = deadline - loop.time()
            if task is not None:
                limit = None if math.isinf(remaining) else max(remaining, 0)
                try:
                    status = await asyncio.wait_for(asyncio.shield(task), limit)
                except TimeoutError:
                    return None
                except (asyncio.CancelledError, Exception):
                    me = asyncio.current_task()
                    if not task.done() or (me is not None and me.cancelling()):
                        raise  # this waiter itself was canceled, not only the run
                else:
                    if status not in (RunStatus.PENDING, RunStatus.RUNNING):
                        return status  # the execution's own answer: no read needed
            status = await self.engine.persistence.run_status(run_id)
            if status not in (RunStatus.PENDING, RunStatus.RUNNING):
                return status
            if remaining <= 0:
                return None
            await asyncio.sleep(min(self.poll_s, max(remaining, 0)))

    async def interrupt(self, run_id: str) -> None:
        task = self._tasks.get(run_id)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def execution(self, run_id: str) -> asyncio.Task[RunStatus] | None:
        """The task executing the run in this process, or None."""
        task = self._tasks.get(run_id)
        return None if task is None or task.done() else task

    def active(self) -> list[str]:
        """Ids of runs executing in this process."""
        return [rid for rid, t in self._tasks.items() if not t.done()]


__all__ = [
    "REQUEST_ONLY",
    "RUN_FINISHED",
    "Executor",
    "LocalExecutor",
    "check_initial_inputs",
    "execution_context",
    "new_run",
]
