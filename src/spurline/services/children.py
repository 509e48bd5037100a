"""Child runs through the normal run machinery (docs/child-runs-and-batches.md): the ``children``
service
behind SubworkflowNode and ForLoopNode, and the window that keeps at most N children
of one parent executing (shared with the batch dispatcher in :mod:`spurline.services.batch`).

Children are created in chunks (one write per chunk), handed to the runtime's
executor and awaited there. A child of a node (``parent_task_id`` set) or a batch
row is never taken over on its own by lease recovery: its parent resumes it, since
the parent's node or dispatcher is what waits for it (see ``store.leases.expired``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from spurline.engine.children import ChildResult
from spurline.engine.nodetype import NodeContext
from spurline.engine.plan import Plan
from spurline.engine.records import RunRecord, TaskRecord
from spurline.engine.runs import new_run
from spurline.engine.scopes import decode_scope, encode_scope
from spurline.engine.states import RUN_ACTIVE, RunStatus
from spurline.exceptions import NodeFailed, NotFound, RunCanceled
from spurline.store import children as child_q
from spurline.store import runs as run_q
from spurline.store import workflows as wf_q

if TYPE_CHECKING:
    from spurline.engine.executor import RunEngine
    from spurline.engine.runs import Executor
    from spurline.services._store import Store

#: Most children created in one write.
CHUNK = 256


class ParentStopped(Exception):
    """The parent run left RUNNING (canceled) while its children were dispatched."""


class ChildWindow:
    """Executes children of one parent, at most ``limit`` at a time.

    Args:
        executor: where the children execute.
        limit: most children in flight.
        on_done: called with ``(child_id, status)`` as each child ends.
    """

    def __init__(
        self,
        executor: Executor,
        limit: int,
        on_done: Callable[[str, RunStatus], Awaitable[None]] | None = None,
    ) -> None:
        self.executor = executor
        self.limit = max(limit, 1)
        self.on_done = on_done
        self.ready: deque[str] = deque()
        self._waiting: dict[asyncio.Task[RunStatus | None], str] = {}

    async def drive(self, fill: Callable[[int], Awaitable[list[str] | None]]) -> None:
        """Run ``ready`` children, then those ``fill(n)`` creates, until none is left.

        ``fill(n)`` creates at least ``n`` more children when rows remain and returns
        their ids, ``[]`` when nothing is left, None when the parent stopped.

        Raises:
            ParentStopped: ``fill`` returned None.
        """
        exhausted = False
        try:
            while True:
                while len(self._waiting) < self.limit and not (exhausted and not self.ready):
                    if not self.ready:
                        ids = await fill(self.limit - len(self._waiting))
                        if ids is None:
                            raise ParentStopped
                        exhausted = not ids
                        self.ready.extend(ids)
                        continue
                    await self._start(self.ready.popleft())
                if not self._waiting:
                    return
                done, _ = await asyncio.wait(self._waiting, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    child_id = self._waiting.pop(task)
                    status = task.result() or RunStatus.FAILED
                    if self.on_done is not None:
                        await self.on_done(child_id, status)
        finally:
            await self._stop()

    async def _start(self, child_id: str) -> None:
        await self.executor.submit(child_id)
        waiter = asyncio.create_task(self.executor.wait(child_id, math.inf))
        self._waiting[waiter] = child_id

    async def _stop(self) -> None:
        """Stop waiting; children still executing are interrupted (their parent
        resumes them when it runs again)."""
        if not self._waiting:
            return
        for task in self._waiting:
            task.cancel()
        await asyncio.gather(*self._waiting, return_exceptions=True)
        for child_id in self._waiting.values():
            await self.executor.interrupt(child_id)
        self._waiting.clear()


class ChildRunService:
    """:class:`spurline.engine.children.ChildRuns` on the store and an executor.

    Args:
        store: async database access.
        engine: the run engine (plans of child workflows and bodies).
        executor: where child runs execute.
    """

    def __init__(
        self,
        store: Store,
        engine: RunEngine,
        executor: Executor,
        *,
        max_depth: int = 10,
        max_child_runs: int = 100_000,
    ) -> None:
        self.store = store
        self.engine = engine
        self.executor = executor
        self.max_depth = max_depth
        self.max_child_runs = max_child_runs
        # root run -> (monotonic time of its last exact count, that count plus the
        # children this process created since); see _tree_size
        self._sizes: dict[str, tuple[float, int]] = {}

    async def run_children(
        self,
        ctx: NodeContext,
        inputs: list[dict[str, Any]],
        *,
        workflow_id: str | None = None,
        max_concurrency: int = 1,
    ) -> list[ChildResult]:
        parent = await self.store.read(lambda c: run_q.get_run(c, ctx.run_id))
        plan, child_wf = await self._plan(parent, ctx.node_id, workflow_id)
        task_id = ctx.task_id
        existing = await self.store.read(lambda c: child_q.child_states(c, parent.id, task_id))
        latest = {s.seq: s for s in existing}  # seq order, newest id last: a retry wins
        window = ChildWindow(self.executor, max_concurrency)
        window.ready.extend(s.id for s in latest.values() if s.status in RUN_ACTIVE)
        reusable = {
            s.seq for s in latest.values() if s.status in (*RUN_ACTIVE, RunStatus.COMPLETED)
        }
        todo = deque(seq for seq in range(len(inputs)) if seq not in reusable)
        if todo:
            await self._check_bounds(parent, len(todo))

        async def fill(n: int) -> list[str] | None:
            seqs = [todo.popleft() for _ in range(min(max(n, CHUNK), len(todo)))]
            if not seqs:
                return []
            made = [self._child(plan, child_wf, parent, task_id, seq, inputs[seq]) for seq in seqs]
            ok = await self.store.write(lambda c: child_q.insert_children(c, parent.id, made))
            return [run.id for run, _ in made] if ok else None

        try:
            await window.drive(fill)
        except ParentStopped:
            raise RunCanceled(parent.id) from None
        limit = len(existing) + len(inputs) + 1
        rows = await self.store.read(
            lambda c: child_q.child_results(c, parent.id, parent_task_id=task_id, limit=limit)
        )
        by_seq = {r.seq: r for r in rows if r.seq < len(inputs)}
        missing = [seq for seq in range(len(inputs)) if seq not in by_seq]
        if missing:
            raise RunCanceled(parent.id)  # children vanished: the parent was deleted/canceled
        return [by_seq[seq] for seq in range(len(inputs))]

    async def _check_bounds(self, parent: RunRecord, new: int) -> None:
        """Refuse children nested deeper than ``max_depth`` below their root run, or
        more than ``max_child_runs`` in the root's whole tree, before creating any
        (docs/reliability.md#bounded-nesting).

        Raises:
            NodeFailed: naming the limit, its setting and the value reached.
        """
        limit = self.max_depth
        chain = await self.store.read(lambda c: child_q.lineage(c, parent.id, limit))
        if len(chain) > limit:
            msg = (
                f"sub-workflows and loops nest deeper than SPURLINE_MAX_DEPTH={limit} below "
                "the root run; a workflow that reaches itself nests without end"
            )
            raise NodeFailed(msg, retryable=False)
        root = chain[-1]
        size = await self._tree_size(root, new)
        if size + new > self.max_child_runs:
            msg = (
                f"starting {new} more child runs would make {size + new} under root run "
                f"{root}, past SPURLINE_MAX_CHILD_RUNS={self.max_child_runs}"
            )
            raise NodeFailed(msg, retryable=False)

    async def _tree_size(self, root: str, new: int) -> int:
        """The root's tree size, counted again unless a count under a second old leaves
        room for twice as many as are asked for: a batch of many rows each starting a
        child would otherwise count the whole tree once per row (about 50 ms at 90,000
        runs on SQLite). Near the limit the count is always exact."""
        at = time.monotonic()
        cached = self._sizes.get(root)
        if cached and at - cached[0] < 1.0 and cached[1] + 2 * new <= self.max_child_runs // 2:
            self._sizes[root] = (cached[0], cached[1] + new)
            return cached[1]
        size = await self.store.read(lambda c: child_q.tree_size(c, root))
        if len(self._sizes) > 1000:
            self._sizes = {k: v for k, v in self._sizes.items() if at - v[0] < 1.0}
        self._sizes[root] = (at, size + new)
        return size

    async def _plan(
        self, parent: RunRecord, node_id: str, workflow_id: str | None
    ) -> tuple[Plan, str]:
        engine = self.engine
        if workflow_id is None:
            assert parent.workflow_version_id is not None
            scope = encode_scope([*decode_scope(parent.scope), node_id])
            return await engine.plan_for(parent.workflow_version_id, scope), parent.workflow_id
        try:
            wf = await self.store.read(lambda c: wf_q.get_workflow(c, workflow_id))
        except NotFound:
            msg = f"config.workflow_id {workflow_id!r} names no workflow"
            raise NodeFailed(msg, retryable=False) from None
        assert wf.current_version_id is not None
        return await engine.plan_for(wf.current_version_id), wf.id

    @staticmethod
    def _child(
        plan: Plan,
        workflow_id: str,
        parent: RunRecord,
        task_id: str | None,
        seq: int,
        fields: dict[str, Any],
    ) -> tuple[RunRecord, list[TaskRecord]]:
        return new_run(
            plan,
            workflow_id,
            {plan.input_node_id: fields},
            parent_run_id=parent.id,
            run_type="interactive",
            seq=seq,
            parent_task_id=task_id,
        )
