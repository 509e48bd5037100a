"""Reruns: a new run of a finished run's workflow with the same (or changed) inputs,
on the same (or the latest) version, optionally from a chosen node on: that node and
everything that depends on it execute again, the other nodes' outputs are reused
(docs/operations.md). The new run names the original (``rerun_of``); the original
lists its reruns (``reruns``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from spurline.engine.records import RunRecord, StartOptions, TaskRecord
from spurline.engine.states import RUN_FINISHED, TaskStatus
from spurline.exceptions import Conflict, InputsInvalid
from spurline.store import runs as run_q
from spurline.store import workflows as wf_q

if TYPE_CHECKING:
    from spurline.services.runs import RunService


@dataclass(frozen=True)
class RerunRequest:
    """What to change in a rerun; every field is optional.

    Attributes:
        initial_inputs: new inputs (default: the original run's).
        latest_version: run the workflow's current version, not the original's.
        from_node: reuse the outputs of every node that neither is this node nor
            depends on it (needs the original's version).
        options: tags and metadata (default: the original's), idempotency key.
    """

    initial_inputs: dict[str, Any] | None = None
    latest_version: bool = False
    from_node: str | None = None
    options: StartOptions = field(default_factory=StartOptions)


def _problem(field: str, msg: str) -> InputsInvalid:
    return InputsInvalid([{"path": (field,), "msg": msg, "type": "value_error"}])


async def rerun(
    runs: RunService, run_id: str, req: RerunRequest
) -> tuple[RunRecord, list[TaskRecord]]:
    """Start the rerun of a finished (COMPLETED, FAILED or CANCELED) run.

    Raises:
        NotFound: unknown run.
        Conflict: the run has not finished, or is a batch run or a child run.
        InputsInvalid: inputs that do not fit, an unknown ``from_node``, or
            ``from_node`` with a version other than the original's.
    """
    key = req.options.idempotency_key
    original, old_tasks = await runs.store.read(lambda c: run_q.get_run_and_tasks(c, run_id))
    if original.status not in RUN_FINISHED:
        raise Conflict(f"Run {run_id} is {original.status.value}; only a finished run is rerun")
    if original.rows_total is not None or original.parent_task_id or original.scope:
        raise Conflict(f"Run {run_id} is a batch or child run; rerun its parent instead")
    version_id = original.workflow_version_id
    if req.latest_version:
        wf = await runs.store.read(lambda c: wf_q.get_workflow(c, original.workflow_id))
        version_id = wf.current_version_id
    inputs = original.initial_inputs if req.initial_inputs is None else req.initial_inputs
    options = req.options
    if not options.tags and options.metadata is None:
        options = replace(options, tags=tuple(original.tags or ()), metadata=original.run_metadata)
    run, tasks = await runs.prepare_run(
        original.workflow_id, inputs, options=options, version_id=version_id
    )
    run.rerun_of = original.id
    if req.from_node is not None:
        if version_id != original.workflow_version_id:
            raise _problem("from_node", "a rerun from a node runs the original run's version")
        plan = await runs.engine.plan_for(version_id or "")
        if req.from_node not in plan.graph.nodes:
            msg = f"from_node {req.from_node!r} is no top-level node of the run's workflow"
            raise _problem("from_node", msg)
        again = {req.from_node} | plan.graph.downstream({req.from_node})
        if run.initial_inputs != original.initial_inputs:
            again |= {plan.input_node_id} | plan.graph.downstream({plan.input_node_id})
        _reuse(tasks, old_tasks, again)
    first = await runs.insert_run(run, tasks, key)
    if first is not None:
        return await runs.run_and_tasks(first)
    await runs.launch(run, tasks)
    return run, tasks


def _reuse(tasks: list[TaskRecord], old_tasks: list[TaskRecord], again: set[str]) -> None:
    """Copy into ``tasks`` the COMPLETED executions of the nodes not in ``again``."""
    old = {t.node_id: t for t in old_tasks}
    for task in tasks:
        prior = old.get(task.node_id)
        if task.node_id in again or prior is None or prior.status is not TaskStatus.COMPLETED:
            continue
        task.status = TaskStatus.COMPLETED
        task.inputs, task.outputs = prior.inputs, prior.outputs
        task.start_time, task.end_time = prior.start_time, prior.end_time
        task.attempts = prior.attempts
