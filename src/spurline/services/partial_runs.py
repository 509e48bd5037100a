"""Partial runs: one node of a workflow run with given inputs, as PySpur's editor
does when a node is tested on its own (``POST /wf/{id}/run_partial/``, see
docs/pyspur.md).

A partial run is an ordinary run of the workflow's current version with
``run_type="partial"``: the predecessors whose outputs are given start COMPLETED
with them, the nodes the chosen node does not need start CANCELED (skipped), and
the rest execute as in any run, so the run is recorded, listed and traceable.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from spurline.engine.clock import now
from spurline.engine.executor import RunEngine
from spurline.engine.graph import Graph
from spurline.engine.persistence import Persistence
from spurline.engine.records import RunRecord, TaskRecord
from spurline.engine.runs import Executor, check_initial_inputs, new_run
from spurline.engine.states import TaskStatus
from spurline.exceptions import InputsInvalid
from spurline.services._store import LeaseHolder, Store
from spurline.store import workflows as wf_queries

RUN_TYPE = "partial"


def nodes_to_run(graph: Graph, node_id: str, given: set[str]) -> set[str]:
    """``node_id`` and every predecessor it needs, stopping at nodes in ``given``."""
    need: set[str] = set()
    stack = [node_id]
    while stack:
        nid = stack.pop()
        if nid in need:
            continue
        need.add(nid)
        stack.extend(p for p in graph.predecessors(nid) if p not in given)
    return need


class PartialRunService:
    """Starts partial runs (see the module docstring).

    Args:
        store: async database access.
        persistence: the engine's view of the store (run creation).
        engine: the run engine (plans).
        executor: where runs execute.
        lease: this process as a lease owner.
    """

    def __init__(
        self,
        store: Store,
        persistence: Persistence,
        engine: RunEngine,
        executor: Executor,
        lease: LeaseHolder,
    ) -> None:
        self.store = store
        self.persistence = persistence
        self.engine = engine
        self.executor = executor
        self.lease = lease

    async def start(
        self,
        workflow_id: str,
        node_id: str,
        initial_inputs: dict[str, Any] | None,
        partial_outputs: dict[str, Any] | None,
        rerun_predecessors: bool = False,
    ) -> tuple[RunRecord, list[TaskRecord]]:
        """Start a partial run that executes ``node_id``.

        Args:
            partial_outputs: ``{node_id: output}`` of predecessors; ignored when
                ``rerun_predecessors`` is true.

        Raises:
            NotFound: unknown workflow.
            DefinitionInvalid: the workflow's version is a draft that breaks a rule.
            InputsInvalid: ``node_id`` is not a top-level node, an output is not an
                object, or inputs that do not fit the InputNode.
        """
        wf = await self.store.read(lambda c: wf_queries.get_workflow(c, workflow_id))
        assert wf.current_version_id is not None
        plan = await self.engine.plan_for(wf.current_version_id)
        given = _given_outputs(
            plan.graph, node_id, {} if rerun_predecessors else partial_outputs or {}
        )
        to_run = nodes_to_run(plan.graph, node_id, set(given))
        inputs = check_initial_inputs(plan, initial_inputs)
        run, tasks = new_run(plan, wf.id, inputs, run_type=RUN_TYPE)
        at = now()
        for task in tasks:
            if task.node_id in given:
                task.status, task.outputs = TaskStatus.COMPLETED, given[task.node_id]
                task.start_time = task.end_time = at
            elif task.node_id not in to_run:
                task.status, task.end_time = TaskStatus.CANCELED, at
        run.lease_owner = self.lease.owner
        run.lease_expires_at = run.start_time + timedelta(seconds=self.lease.lease_s)
        await self.persistence.create_run(run, tasks)
        await self.executor.submit(run.id)
        return run, tasks


def _given_outputs(graph: Graph, node_id: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """The usable ``partial_outputs``: those of other top-level nodes.

    Raises:
        InputsInvalid: ``node_id`` is not a top-level node, or an output is not an object.
    """
    problems: list[dict[str, Any]] = []
    if node_id not in graph.nodes:
        msg = f"node_id {node_id!r} is not a top-level node of the workflow"
        problems.append({"path": ("node_id",), "msg": msg, "type": "not_found"})
    given: dict[str, Any] = {}
    for nid, out in outputs.items():
        if nid == node_id or nid not in graph.nodes:
            continue
        if not isinstance(out, dict):
            msg = f"the output of {nid!r} must be an object"
            problems.append({"path": ("partial_outputs", nid), "msg": msg, "type": "type"})
        else:
            given[nid] = out
    if problems:
        raise InputsInvalid(problems)
    return given
