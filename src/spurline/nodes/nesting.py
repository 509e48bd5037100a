"""SubworkflowNode and ForLoopNode: bodies executed as child runs
(docs/runs-api.md#workflow-definitions, docs/child-runs-and-batches.md).

Both hand their work to the ``children`` service (:class:`spurline.engine.children.ChildRuns`)
found in ``NodeContext.services``; every body execution is a child run recorded with
``parent_run_id`` (and ``seq``) through the normal run machinery.

* **SubworkflowNode** runs its embedded ``subworkflow`` definition, or the current
  version of ``config.workflow_id``, once. The child's InputNode receives
  ``config.input_map`` (``{field: "Title.path"}``) resolved against the node's inputs,
  or, without a map, the union of its predecessors' output objects. The node's
  output is the child's OutputNode output.
* **ForLoopNode** runs the nodes whose ``parent_id`` is the loop (with their own
  InputNode and OutputNode) once per element of the list at ``config.iterate_over``
  (a path such as ``"Title.items"``), or ``config.num_iterations`` times, at most
  ``config.max_concurrency`` at a time. Iteration ``i``'s InputNode receives the
  loop's inputs ``{predecessor_title: output}`` (less the list being iterated, so
  n iterations do not store n copies of it) plus ``index`` = i and (with
  ``iterate_over``) ``item`` = the element. The loop outputs
  ``{"results": [output of iteration 0, 1, ...]}`` in iteration order.

A child that does not complete fails the node with the child's run id in the error.
"""

from __future__ import annotations

from typing import Any, cast

from pydantic import Field

from spurline.engine.children import CHILDREN, ChildResult, ChildRuns
from spurline.engine.jsonvalue import resolve_path
from spurline.engine.states import RunStatus
from spurline.exceptions import DefinitionInvalid, NodeFailed
from spurline.nodes.base import BaseNode, NodeConfig, NodeContext

#: Most iterations one loop execution may start.
MAX_ITERATIONS = 100_000


def _service(ctx: NodeContext) -> ChildRuns:
    service = ctx.services.get(CHILDREN)
    if service is None:
        raise NodeFailed("child runs are not available in this engine", retryable=False)
    return cast(ChildRuns, service)


def _check_failed(results: list[ChildResult]) -> None:
    for result in results:
        if result.status is not RunStatus.COMPLETED:
            raise NodeFailed(result.failure(), retryable=False)


def _body_io_problems(members: list[Any], where: str) -> list[str]:
    inputs = [n.id for n in members if n.node_type == "InputNode"]
    outputs = [n.id for n in members if n.node_type == "OutputNode"]
    problems = []
    if len(inputs) != 1:
        problems.append(f"{where} needs exactly one InputNode, found {len(inputs)}")
    if len(outputs) > 1:
        problems.append(f"{where} has at most one OutputNode, found {', '.join(outputs)}")
    return problems


def _without(data: dict[str, Any], path: list[str]) -> dict[str, Any]:
    """``data`` less the value at ``path`` (copied along the path, never mutated), so
    each iteration does not carry the whole list it iterates over."""
    head, rest = path[0], path[1:]
    out = dict(data)
    if not rest:
        out.pop(head, None)
    elif isinstance(out.get(head), dict):
        out[head] = _without(out[head], rest)
    return out


class SubworkflowConfig(NodeConfig):
    """``workflow_id`` (when no ``subworkflow`` is embedded) and ``input_map``."""

    workflow_id: str | None = None
    input_map: dict[str, str] = Field(default_factory=dict)


class SubworkflowNode(BaseNode):
    """Runs a sub-workflow as one child run; outputs the child's OutputNode output."""

    node_type = "SubworkflowNode"
    category = "Workflow"
    config_model = SubworkflowConfig
    config: SubworkflowConfig
    inline = False

    @classmethod
    def check(cls, node: Any, config: Any, definition: Any) -> list[str]:
        if (node.subworkflow is None) == (config.workflow_id is None):
            return ["give exactly one of an embedded 'subworkflow' or 'config.workflow_id'"]
        if node.subworkflow is None:
            return []
        from spurline.nodes.registry import parse_definition

        try:
            parse_definition(node.subworkflow)
        except DefinitionInvalid as exc:
            return [f"subworkflow: {p.get('msg')}" for p in exc.problems]
        return []

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        if self.config.input_map:
            fields = {k: resolve_path(inputs, p) for k, p in self.config.input_map.items()}
        else:
            fields = {}
            for value in inputs.values():
                if isinstance(value, dict):
                    fields.update(value)
        results = await _service(ctx).run_children(
            ctx, [fields], workflow_id=self.config.workflow_id
        )
        _check_failed(results)
        return results[0].outputs or {}


class ForLoopConfig(NodeConfig):
    """``iterate_over`` (a list path) or ``num_iterations``; ``max_concurrency``."""

    iterate_over: str | None = Field(default=None, min_length=1)
    num_iterations: int | None = Field(default=None, ge=0, le=MAX_ITERATIONS)
    max_concurrency: int = Field(default=1, ge=1, le=1000)


class ForLoopNode(BaseNode):
    """Runs its body once per item (or ``num_iterations`` times) as child runs."""

    node_type = "ForLoopNode"
    category = "Loops"
    config_model = ForLoopConfig
    config: ForLoopConfig
    inline = False

    @classmethod
    def check(cls, node: Any, config: Any, definition: Any) -> list[str]:
        problems = []
        if (config.iterate_over is None) == (config.num_iterations is None):
            problems.append("give exactly one of 'config.iterate_over' or 'config.num_iterations'")
        members = definition.members(node.id)
        if not members:
            problems.append("the loop body is empty: no node has this loop as parent_id")
        else:
            problems += _body_io_problems(members, "the loop body")
        return problems

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        cfg = self.config
        if cfg.iterate_over is not None:
            items = resolve_path(inputs, cfg.iterate_over)
            if not isinstance(items, list):
                got = "nothing" if items is None else type(items).__name__
                raise NodeFailed(
                    f"iterate_over {cfg.iterate_over!r} must name a list, got {got}",
                    retryable=False,
                )
            if len(items) > MAX_ITERATIONS:
                msg = f"iterate_over has {len(items)} items; the limit is {MAX_ITERATIONS}"
                raise NodeFailed(msg, retryable=False)
            context = _without(inputs, cfg.iterate_over.split("."))
            fields = [{**context, "item": item, "index": i} for i, item in enumerate(items)]
        else:
            fields = [{**inputs, "index": i} for i in range(cfg.num_iterations or 0)]
        results = await _service(ctx).run_children(ctx, fields, max_concurrency=cfg.max_concurrency)
        _check_failed(results)
        return {"results": [r.outputs for r in results]}
