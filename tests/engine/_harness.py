"""Test node types and helpers to execute definitions on :class:`MemoryPersistence`.

The node types here record every call in ``CALLS`` so tests can prove what ran,
how often and with what inputs; they are registered in this process's node
registry under names no real workflow uses.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from pydantic import Field

from spurline.engine.clock import new_id, now
from spurline.engine.definition import definition_hash
from spurline.engine.executor import RunEngine
from spurline.engine.persistence import MemoryPersistence
from spurline.engine.records import RunRecord, TaskRecord, VersionRecord
from spurline.engine.runs import new_run
from spurline.engine.states import RunStatus
from spurline.exceptions import NodeFailed
from spurline.nodes.base import BaseNode, NodeConfig, NodeContext
from spurline.nodes.registry import node_types, parse_definition, register

#: node id -> list of the inputs of each call.
CALLS: dict[str, list[dict[str, Any]]] = defaultdict(list)
#: asyncio events by name, for nodes that wait on each other.
EVENTS: dict[str, asyncio.Event] = {}


class ProbeConfig(NodeConfig):
    """``fail_times``: raise on the first n calls; ``error``: its message;
    ``retryable``: whether that error may be retried; ``output``: what to return;
    ``sleep_s``: await this long first; ``set_event``/``wait_event``: rendezvous names;
    ``bad_output``: return ``BAD_OUTPUTS[name]`` instead.
    """

    fail_times: int = 0
    error: str = "probe failed"
    retryable: bool = True
    output: Any = Field(default_factory=lambda: {"ok": True})
    sleep_s: float = 0.0
    set_event: str | None = None
    wait_event: str | None = None
    bad_output: str | None = None


#: Values a definition cannot carry (JSON has no NaN, bytes or sets), by name.
BAD_OUTPUTS: dict[str, Any] = {
    "nan": {"x": float("nan")},
    "bytes": {"x": b"raw"},
    "set": {"x": {1, 2}},
}


class ProbeNode(BaseNode):
    """An inline node that records its calls, and can fail or return what it is told."""

    node_type = "TestProbeNode"
    config_model = ProbeConfig
    config: ProbeConfig

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        CALLS[self.id].append(inputs)
        if len(CALLS[self.id]) <= self.config.fail_times:
            if self.config.retryable:
                raise ValueError(f"{self.config.error} (call {len(CALLS[self.id])})")
            raise NodeFailed(f"NodeFailed: {self.config.error}", retryable=False)
        if self.config.bad_output:
            bad: dict[str, Any] = BAD_OUTPUTS[self.config.bad_output]
            return bad
        result: dict[str, Any] = self.config.output
        return result


class AsyncProbeNode(ProbeNode):
    """Like ProbeNode but does I/O-like waiting, so the engine runs it as an asyncio task."""

    node_type = "TestAsyncProbeNode"
    inline = False

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        if self.config.set_event:
            EVENTS.setdefault(self.config.set_event, asyncio.Event()).set()
        if self.config.wait_event:
            event = EVENTS.setdefault(self.config.wait_event, asyncio.Event())
            await asyncio.wait_for(event.wait(), 10)
        if self.config.sleep_s:
            await asyncio.sleep(self.config.sleep_s)
        return await super().run(inputs, ctx)


register(ProbeNode)
register(AsyncProbeNode)


def node(node_id: str, node_type: str = "TestProbeNode", **config: Any) -> dict[str, Any]:
    """A definition node titled like its id."""
    return {"id": node_id, "node_type": node_type, "config": config}


def link(source: str, target: str, route: str | None = None) -> dict[str, Any]:
    """A link; ``route`` becomes ``source_handle``."""
    out: dict[str, Any] = {"source_id": source, "target_id": target}
    if route is not None:
        out["source_handle"] = route
    return out


def add_version(store: MemoryPersistence, definition: dict[str, Any]) -> VersionRecord:
    """Validate ``definition`` and store it as a version of workflow ``W1``."""
    parsed = parse_definition(definition).dump()
    at = now()
    version = VersionRecord(
        new_id("V"), "W1", 1, "test", None, parsed, definition_hash(parsed), at, at
    )
    store.add_version(version)
    return version


async def create(
    store: MemoryPersistence, engine: RunEngine, definition: dict[str, Any], inputs: Any = None
) -> tuple[RunRecord, list[TaskRecord]]:
    """Store a PENDING run of ``definition`` (not executed)."""
    version = add_version(store, definition)
    plan = await engine.plan_for(version.id)
    run, tasks = new_run(plan, "W1", inputs or {})
    await store.create_run(run, tasks)
    return run, tasks


async def execute(
    definition: dict[str, Any], inputs: Any = None
) -> tuple[RunStatus, RunRecord, dict[str, TaskRecord]]:
    """Create and execute a run; returns (status, stored run, stored tasks by node id)."""
    store = MemoryPersistence()
    engine = RunEngine(store, node_types())
    run, _ = await create(store, engine, definition, inputs)
    status = await engine.execute(run.id)
    stored, tasks = await store.load_run(run.id)
    return status, stored, {t.node_id: t for t in tasks}


def statuses(tasks: dict[str, TaskRecord]) -> dict[str, tuple[str, str | None]]:
    """node id -> (status, error)."""
    return {nid: (t.status.value, t.error) for nid, t in tasks.items()}
