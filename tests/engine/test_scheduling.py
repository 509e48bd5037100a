"""Scheduling (SPEC §3, §4.1, §4.2): order, concurrency, joins, skip versus doom."""

from __future__ import annotations

import asyncio

import pytest
from tests.engine._harness import CALLS, execute, link, node, statuses

from spurline.engine.definition import WorkflowDefinition
from spurline.engine.graph import Graph
from spurline.engine.states import RunStatus, TaskStatus
from spurline.nodes.registry import parse_definition

ROUTES = {
    "left": {"conditions": [{"variable": "in.side", "operator": "equals", "value": "L"}]},
    "right": {"conditions": [{"variable": "in.side", "operator": "equals", "value": "R"}]},
}


def graph(nodes: list[dict[str, object]], links: list[dict[str, object]]) -> Graph:
    definition: WorkflowDefinition = parse_definition({"nodes": nodes, "links": links})
    return Graph.of(definition)


def test_topological_order_breaks_ties_by_definition_order() -> None:
    g = graph(
        [node("z"), node("in", "InputNode"), node("b"), node("a"), node("m")],
        [link("in", "b"), link("in", "a"), link("a", "m"), link("b", "m"), link("m", "z")],
    )
    assert g.order == ["in", "b", "a", "m", "z"]
    assert g.predecessors("m") == ["a", "b"]
    assert g.downstream({"a"}) == {"m", "z"}


def test_unconnected_nodes_keep_definition_order() -> None:
    g = graph([node("c"), node("in", "InputNode"), node("a")], [])
    assert g.order == ["c", "in", "a"]


def test_independent_branches_run_concurrently() -> None:
    # Each branch waits for the other to have started: run one after the other, they
    # would both time out.
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("a", "TestAsyncProbeNode", set_event="a", wait_event="b"),
            node("b", "TestAsyncProbeNode", set_event="b", wait_event="a"),
        ],
        "links": [link("in", "a"), link("in", "b")],
    }
    status, _, tasks = asyncio.run(execute(definition))
    assert status is RunStatus.COMPLETED
    assert statuses(tasks) == {
        "in": ("COMPLETED", None),
        "a": ("COMPLETED", None),
        "b": ("COMPLETED", None),
    }


def test_node_with_several_parents_runs_once_after_all_of_them() -> None:
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("slow", "TestAsyncProbeNode", sleep_s=0.05, output={"v": "slow"}),
            node("fast", "TestAsyncProbeNode", output={"v": "fast"}),
            node("inline", output={"v": "inline"}),
            node("join"),
        ],
        "links": [
            link("in", "slow"),
            link("in", "fast"),
            link("in", "inline"),
            link("slow", "join"),
            link("fast", "join"),
            link("inline", "join"),
        ],
    }
    status, _, tasks = asyncio.run(execute(definition))
    assert status is RunStatus.COMPLETED
    assert CALLS["join"] == [
        {"slow": {"v": "slow"}, "fast": {"v": "fast"}, "inline": {"v": "inline"}}
    ]
    join_start = tasks["join"].start_time
    assert join_start is not None
    assert all(join_start >= tasks[p].end_time for p in ("slow", "fast", "inline"))  # type: ignore[operator]


def test_untaken_route_is_skipped_and_its_code_never_called() -> None:
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("route", "RouterNode", route_map=ROUTES),
            node("left"),
            node("right"),
            node("right2"),
            node("join"),
        ],
        "links": [
            link("in", "route"),
            link("route", "left", "left"),
            link("route", "right", "right"),
            link("right", "right2"),
            link("left", "join"),
            link("right2", "join"),
        ],
    }
    status, run, tasks = asyncio.run(execute(definition, {"in": {"side": "L"}}))
    assert status is RunStatus.COMPLETED
    assert run.message is None
    assert statuses(tasks) == {
        "in": ("COMPLETED", None),
        "route": ("COMPLETED", None),
        "left": ("COMPLETED", None),
        "right": ("CANCELED", None),
        "right2": ("CANCELED", None),
        "join": ("COMPLETED", None),
    }
    assert set(CALLS) == {"left", "join"}
    assert CALLS["left"] == [{"route": {"side": "L"}}]
    assert CALLS["join"] == [{"left": {"ok": True}}]
    for nid in ("right", "right2"):
        t = tasks[nid]
        assert (t.start_time, t.inputs, t.outputs, t.error) == (None, None, None, None)
        assert t.end_time is not None


def test_node_whose_every_input_is_skipped_is_skipped() -> None:
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("route", "RouterNode", route_map=ROUTES),
            node("a"),
            node("b"),
            node("join"),
        ],
        "links": [
            link("in", "route"),
            link("route", "a", "right"),
            link("route", "b", "right"),
            link("a", "join"),
            link("b", "join"),
        ],
    }
    # Neither route holds and there is no default route: nothing downstream runs.
    status, _, tasks = asyncio.run(execute(definition, {"in": {"side": "?"}}))
    assert status is RunStatus.COMPLETED
    assert tasks["route"].outputs == {}
    assert [tasks[n].status for n in ("a", "b", "join")] == [TaskStatus.CANCELED] * 3
    assert set(CALLS) == set()


def test_failure_dooms_dependants_and_other_branches_finish() -> None:
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("bad", fail_times=1, error="boom"),
            node("bad_child"),
            node("good", "TestAsyncProbeNode", sleep_s=0.02),
            node("good_child"),
            node("join"),
            node("after_join"),
        ],
        "links": [
            link("in", "bad"),
            link("bad", "bad_child"),
            link("in", "good"),
            link("good", "good_child"),
            link("bad_child", "join"),
            link("good_child", "join"),
            link("join", "after_join"),
        ],
    }
    status, run, tasks = asyncio.run(execute(definition))
    assert status is RunStatus.FAILED
    assert run.message == "Node 'bad' failed: ValueError: boom (call 1)"
    assert run.end_time is not None
    assert statuses(tasks) == {
        "in": ("COMPLETED", None),
        "bad": ("FAILED", "ValueError: boom (call 1)"),
        "bad_child": ("CANCELED", None),
        "good": ("COMPLETED", None),
        "good_child": ("COMPLETED", None),
        # A join with one input delivered and one doomed is doomed, not run.
        "join": ("CANCELED", None),
        "after_join": ("CANCELED", None),
    }
    assert set(CALLS) == {"bad", "good", "good_child"}


def test_failure_beats_skip_at_a_join() -> None:
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("route", "RouterNode", route_map=ROUTES),
            node("skipped"),
            node("bad", fail_times=1),
            node("join"),
        ],
        "links": [
            link("in", "route"),
            link("route", "skipped", "right"),
            link("in", "bad"),
            link("skipped", "join"),
            link("bad", "join"),
        ],
    }
    status, _, tasks = asyncio.run(execute(definition, {"in": {"side": "L"}}))
    assert status is RunStatus.FAILED
    assert statuses(tasks)["join"] == ("CANCELED", None)
    assert "join" not in CALLS


def test_several_failures_are_counted_in_the_message() -> None:
    definition = {
        "nodes": [node("in", "InputNode"), node("x", fail_times=1), node("y", fail_times=1)],
        "links": [link("in", "x"), link("in", "y")],
    }
    status, run, _ = asyncio.run(execute(definition))
    assert status is RunStatus.FAILED
    assert (
        run.message == "Node 'x' failed: ValueError: probe failed (call 1) (1 more node(s) failed)"
    )


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("nan", "output.x is nan, which JSON cannot represent"),
        ("bytes", "output.x is of type bytes, which JSON cannot represent"),
        ("set", "output.x is of type set, which JSON cannot represent"),
    ],
)
def test_output_json_cannot_hold_fails_the_node(kind: str, problem: str) -> None:
    definition = {
        "nodes": [node("in", "InputNode"), node("p", bad_output=kind), node("after")],
        "links": [link("in", "p"), link("p", "after")],
    }
    status, _, tasks = asyncio.run(execute(definition))
    assert status is RunStatus.FAILED
    assert statuses(tasks)["p"] == ("FAILED", f"OutputNotJSON: {problem}")
    assert tasks["p"].outputs is None
    assert statuses(tasks)["after"] == ("CANCELED", None)


def test_output_that_is_not_an_object_fails_the_node() -> None:
    definition = {
        "nodes": [node("in", "InputNode"), node("p", output=[1, 2])],
        "links": [link("in", "p")],
    }
    status, _, tasks = asyncio.run(execute(definition))
    assert status is RunStatus.FAILED
    assert statuses(tasks)["p"] == ("FAILED", "OutputNotJSON: output is not an object")


def test_inputs_and_outputs_are_recorded() -> None:
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("s", "StaticValueNode", values={"k": 1}),
            node("m", "MergeNode"),
        ],
        "links": [link("in", "m"), link("s", "m")],
    }
    status, run, tasks = asyncio.run(execute(definition, {"in": {"q": "x"}}))
    assert status is RunStatus.COMPLETED
    assert run.end_time is not None and run.end_time >= run.start_time
    assert (tasks["in"].inputs, tasks["in"].outputs) == ({"q": "x"}, {"q": "x"})
    assert (tasks["s"].inputs, tasks["s"].outputs) == ({}, {"k": 1})
    assert tasks["m"].inputs == tasks["m"].outputs == {"in": {"q": "x"}, "s": {"k": 1}}
    assert all(t.attempts == 1 for t in tasks.values())


def test_coalesce_takes_the_branch_that_ran() -> None:
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("route", "RouterNode", route_map=ROUTES),
            node("left", output={"side": "left"}),
            node("right", output={"side": "right"}),
            node("pick", "CoalesceNode", preferences=["left", "right"]),
        ],
        "links": [
            link("in", "route"),
            link("route", "left", "left"),
            link("route", "right", "right"),
            link("left", "pick"),
            link("right", "pick"),
        ],
    }
    for side, expected in (("L", "left"), ("R", "right")):
        status, _, tasks = asyncio.run(execute(definition, {"in": {"side": side}}))
        assert status is RunStatus.COMPLETED
        assert tasks["pick"].outputs == {"side": expected}
        skipped = "right" if expected == "left" else "left"
        assert statuses(tasks)[skipped] == ("CANCELED", None)
