"""Sub-workflows and loops run as child runs (SPEC §3, §6), seen through the Runs API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx


def node(nid: str, node_type: str, parent: str | None = None, **config: Any) -> dict[str, Any]:
    title = "".join(part.capitalize() for part in nid.split("_"))
    n: dict[str, Any] = {"id": nid, "title": title, "node_type": node_type, "config": config}
    if parent:
        n["parent_id"] = parent
    return n


def link(a: str, b: str) -> dict[str, str]:
    return {"source_id": a, "target_id": b}


LOOP = {
    "nodes": [
        node("in", "InputNode", output_schema={"n": "int"}),
        node("gen", "PythonFuncNode", code="return {'items': list(range(input_model.In.n))}"),
        node("loop", "ForLoopNode", iterate_over="Gen.items", max_concurrency=5),
        node("b_in", "InputNode", "loop"),
        node("sq", "PythonFuncNode", "loop", code="return {'sq': input_model.BIn.item ** 2}"),
        node("b_out", "OutputNode", "loop", output_map={"sq": "Sq.sq", "i": "BIn.index"}),
        node("out", "OutputNode", output_map={"results": "Loop.results"}),
    ],
    "links": [
        link("in", "gen"),
        link("gen", "loop"),
        link("loop", "out"),
        link("b_in", "sq"),
        link("sq", "b_out"),
        link("b_in", "b_out"),
    ],
}


def test_a_loop_over_50_items_runs_50_child_runs(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow(LOOP)
    r = client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"in": {"n": 50}}})
    assert r.status_code == 200, r.text
    expected = [{"sq": i * i, "i": i} for i in range(50)]
    assert r.json()["loop"] == {"results": expected}
    assert r.json()["out"] == {"results": expected}

    run = client.get("/run/", params={"parent_only": True}).json()[0]
    assert [t["node_id"] for t in run["tasks"]] == ["in", "gen", "loop", "out"]
    children = client.get(f"/run/{run['id']}/children/").json()
    assert len(children) == 50
    for i, child in enumerate(children):
        assert (child["parent_run_id"], child["status"], child["run_type"]) == (
            run["id"],
            "COMPLETED",
            "interactive",
        )
        assert (child["workflow_id"], child["workflow_version_id"]) == (
            wf,
            run["workflow_version_id"],
        )
        # the iterated list itself is left out of each iteration's inputs
        assert child["initial_inputs"] == {"b_in": {"Gen": {}, "item": i, "index": i}}
        assert [t["node_id"] for t in child["tasks"]] == ["b_in", "sq", "b_out"]
        assert child["outputs"]["b_out"] == {"sq": i * i, "i": i}
        assert client.get(f"/run/{child['id']}/children/").json() == []
    page = client.get(f"/run/{run['id']}/children/", params={"page": 2, "page_size": 20})
    assert [c["id"] for c in page.json()] == [c["id"] for c in children[20:40]]
    assert page.headers["X-Total-Count"] == "50"


def test_num_iterations_and_an_empty_list(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("rep", "ForLoopNode", num_iterations=3),
            node("r_in", "InputNode", "rep"),
            node("r_out", "OutputNode", "rep", output_map={"i": "RIn.index"}),
        ],
        "links": [link("in", "rep"), link("r_in", "r_out")],
    }
    wf = make_workflow(definition)
    r = client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"in": {}}})
    assert r.json()["rep"] == {"results": [{"i": 0}, {"i": 1}, {"i": 2}]}
    LOOP_EMPTY = {**LOOP, "nodes": [dict(n) for n in LOOP["nodes"]]}
    wf2 = make_workflow(LOOP_EMPTY, name="empty")
    r = client.post(f"/wf/{wf2}/run/", json={"initial_inputs": {"in": {"n": 0}}})
    assert r.json()["out"] == {"results": []}


def _sub(inner_nodes: list[dict[str, Any]], inner_links: list[dict[str, str]]) -> dict[str, Any]:
    return {"nodes": inner_nodes, "links": inner_links}


TWO_LEVELS = {
    "nodes": [
        node("in", "InputNode", output_schema={"x": "int"}),
        {
            **node("sub1", "SubworkflowNode"),
            "subworkflow": _sub(
                [
                    node("s1_in", "InputNode"),
                    node("dbl", "PythonFuncNode", code="return {'x': input_model.S1In.x * 2}"),
                    {
                        **node("sub2", "SubworkflowNode"),
                        "subworkflow": _sub(
                            [
                                node("s2_in", "InputNode"),
                                node(
                                    "inc",
                                    "PythonFuncNode",
                                    code="return {'x': input_model.S2In.x + 1}",
                                ),
                                node("s2_out", "OutputNode", output_map={"x": "Inc.x"}),
                            ],
                            [link("s2_in", "inc"), link("inc", "s2_out")],
                        ),
                    },
                    node("s1_out", "OutputNode", output_map={"x": "Sub2.x"}),
                ],
                [link("s1_in", "dbl"), link("dbl", "sub2"), link("sub2", "s1_out")],
            ),
        },
        node("out", "OutputNode", output_map={"result": "Sub1.x"}),
    ],
    "links": [link("in", "sub1"), link("sub1", "out")],
}


def test_a_sub_workflow_two_levels_deep_makes_a_tree_of_child_runs(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow(TWO_LEVELS)
    r = client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"in": {"x": 5}}})
    assert r.status_code == 200, r.text
    assert (r.json()["sub1"], r.json()["out"]) == ({"x": 11}, {"result": 11})

    top = client.get("/run/", params={"parent_only": True}).json()[0]
    [level1] = client.get(f"/run/{top['id']}/children/").json()
    assert level1["parent_run_id"] == top["id"]
    assert level1["initial_inputs"] == {"s1_in": {"x": 5}}
    assert [t["node_id"] for t in level1["tasks"]] == ["s1_in", "dbl", "sub2", "s1_out"]
    assert level1["outputs"]["sub2"] == {"x": 11}
    [level2] = client.get(f"/run/{level1['id']}/children/").json()
    assert level2["parent_run_id"] == level1["id"]
    assert level2["initial_inputs"] == {"s2_in": {"x": 10}}
    assert level2["outputs"] == {"s2_in": {"x": 10}, "inc": {"x": 11}, "s2_out": {"x": 11}}
    assert client.get(f"/run/{level2['id']}/children/").json() == []
    assert {top["workflow_version_id"]} == {
        level1["workflow_version_id"],
        level2["workflow_version_id"],
    }
    everything = client.get("/run/", params={"page_size": 100}).json()
    assert len(everything) == 3
    assert client.delete(f"/run/{top['id']}/").status_code == 204
    assert client.get("/run/").json() == []


def test_a_failed_child_fails_the_parent_task_naming_the_child(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("loop", "ForLoopNode", num_iterations=4, max_concurrency=2),
            node("l_in", "InputNode", "loop"),
            node(
                "check",
                "PythonFuncNode",
                "loop",
                code="if input_model.LIn.index == 2:\n    raise ValueError('two')\nreturn {}",
            ),
        ],
        "links": [link("in", "loop"), link("l_in", "check")],
    }
    wf = make_workflow(definition)
    r = client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"in": {}}})
    assert r.status_code == 422
    run = r.json()["detail"]["run"]
    children = client.get(f"/run/{run['id']}/children/").json()
    assert [c["status"] for c in children] == ["COMPLETED", "COMPLETED", "FAILED", "COMPLETED"]
    loop_task = next(t for t in run["tasks"] if t["node_id"] == "loop")
    assert loop_task["status"] == "FAILED"
    assert loop_task["error"] == (
        f"child run {children[2]['id']} (2) ended FAILED: Node 'check' failed: ValueError: two"
    )
    assert run["message"] == f"Node 'loop' failed: {loop_task['error']}"


def test_a_sub_workflow_by_id_runs_that_workflow(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    inner = make_workflow(
        {
            "nodes": [
                node("i_in", "InputNode", output_schema={"x": "int"}),
                node("neg", "PythonFuncNode", code="return {'x': -input_model.IIn.x}"),
                node("i_out", "OutputNode", output_map={"neg": "Neg.x"}),
            ],
            "links": [link("i_in", "neg"), link("neg", "i_out")],
        },
        name="inner",
    )
    outer = make_workflow(
        {
            "nodes": [
                node("in", "InputNode", output_schema={"v": "int"}),
                node("call", "SubworkflowNode", workflow_id=inner, input_map={"x": "In.v"}),
            ],
            "links": [link("in", "call")],
        },
        name="outer",
    )
    r = client.post(f"/wf/{outer}/run/", json={"initial_inputs": {"in": {"v": 4}}})
    assert r.json()["call"] == {"neg": -4}
    top = client.get(f"/wf/{outer}/runs/").json()[0]
    [child] = client.get(f"/run/{top['id']}/children/").json()
    assert (child["workflow_id"], child["initial_inputs"]) == (inner, {"i_in": {"x": 4}})

    gone = make_workflow(
        {
            "nodes": [
                node("in", "InputNode"),
                node("call", "SubworkflowNode", workflow_id="Wnope"),
            ],
            "links": [link("in", "call")],
        },
        name="dangling",
    )
    r = client.post(f"/wf/{gone}/run/", json={"initial_inputs": {"in": {}}})
    assert r.json()["detail"]["message"] == (
        "Node 'call' failed: config.workflow_id 'Wnope' names no workflow"
    )


def test_bad_loop_and_sub_workflow_definitions_are_422(client: httpx.Client) -> None:
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("loop", "ForLoopNode", iterate_over="In.xs", num_iterations=2),
            node("bare", "ForLoopNode", num_iterations=2),
            node("l_out", "OutputNode", "loop"),
            node("sub", "SubworkflowNode"),
            {**node("sub_bad", "SubworkflowNode"), "subworkflow": {"nodes": [], "links": []}},
        ],
        "links": [],
    }
    r = client.post("/wf/", json={"name": "bad", "definition": definition})
    assert r.status_code == 422
    msgs = [p["msg"] for p in r.json()["detail"]]
    assert msgs == [
        "node 'loop': give exactly one of 'config.iterate_over' or 'config.num_iterations'",
        "node 'loop': the loop body needs exactly one InputNode, found 0",
        "node 'bare': the loop body is empty: no node has this loop as parent_id",
        "node 'sub': give exactly one of an embedded 'subworkflow' or 'config.workflow_id'",
        "node 'sub_bad': subworkflow: a workflow needs exactly one top-level InputNode, found 0",
    ]


def test_canceling_a_parent_cancels_its_loop_children(
    client: httpx.Client, server: Any, make_workflow: Callable[..., str]
) -> None:
    import time

    from spurline.engine.clock import now
    from spurline.store.runs import cancel_run

    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("loop", "ForLoopNode", num_iterations=20, max_concurrency=2),
            node("l_in", "InputNode", "loop"),
            node("nap", "PythonFuncNode", "loop", code="import time\ntime.sleep(0.3)\nreturn {}"),
        ],
        "links": [link("in", "loop"), link("l_in", "nap")],
    }
    wf = make_workflow(definition)
    run = client.post(f"/wf/{wf}/start_run/", json={"initial_inputs": {"in": {}}}).json()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        kids = client.get(f"/run/{run['id']}/children/").json()
        if sum(k["status"] == "COMPLETED" for k in kids) >= 2:
            break
        time.sleep(0.05)
    server.runtime.db.writer.run(lambda c: cancel_run(c, run["id"], now(), "Canceled by test"))
    while time.monotonic() < deadline:
        parent = client.get(f"/run/{run['id']}/").json()
        if parent["status"] == "CANCELED":
            break
        time.sleep(0.05)
    time.sleep(0.5)
    kids = client.get(f"/run/{run['id']}/children/").json()
    statuses = [k["status"] for k in kids]
    assert parent["status"] == "CANCELED"
    assert set(statuses) == {"COMPLETED", "CANCELED"}
    assert statuses.count("COMPLETED") < 20
    time.sleep(0.5)
    assert [k["status"] for k in client.get(f"/run/{run['id']}/children/").json()] == statuses
