"""Reruns: a new run like a finished one, linked both ways; changed inputs, the latest
version, from a chosen node on (the rest reused), and of a CANCELED run
(docs/operations.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from tests.flows import lines, links, logging_code, node, review_flow, start, tasks_by_node
from tests.flows import wait_status as wait


def chain(log: Path) -> dict[str, Any]:
    """in -> a -> b -> out, a and b logging each execution."""
    return {
        "nodes": [
            node("in", "InputNode", output_schema={"text": "str"}),
            node("a", "PythonFuncNode", code=logging_code(log, "a", "return {'t': input_model.In.text}")),  # noqa: E501
            node("b", "PythonFuncNode", code=logging_code(log, "b", "return {'t': input_model.A.t + '!'}")),  # noqa: E501
            node("out", "OutputNode", output_map={"result": "B.t"}),
        ],
        "links": links(("in", "a"), ("a", "b"), ("b", "out")),
    }  # fmt: skip


def test_a_rerun_is_a_new_run_with_the_same_inputs_linked_both_ways(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    log = tmp_path / "log"
    wf = make_workflow(chain(log))
    body = {"initial_inputs": {"in": {"text": "hi"}}, "tags": ["t1"], "metadata": {"k": "v"}}
    first = client.post(f"/wf/{wf}/start_run/", json=body).json()["id"]
    wait(client, first, ("COMPLETED",))
    r = client.post(f"/run/{first}/rerun/")
    assert r.status_code == 200, r.text
    again = wait(client, r.json()["id"], ("COMPLETED",))
    assert again["id"] != first and r.headers["Location"] == f"/run/{again['id']}/"
    assert (again["rerun_of"], again["initial_inputs"]) == (first, {"in": {"text": "hi"}})
    assert (again["tags"], again["metadata"]) == (["t1"], {"k": "v"})
    assert again["outputs"]["out"] == {"result": "hi!"}
    assert client.get(f"/run/{first}/").json()["reruns"] == [again["id"]]
    assert lines(log) == {"a": 2, "b": 2}

    changed = client.post(f"/run/{first}/rerun/", json={"initial_inputs": {"in": {"text": "yo"}}})
    done = wait(client, changed.json()["id"], ("COMPLETED",))
    assert done["outputs"]["out"] == {"result": "yo!"}
    assert client.get(f"/run/{first}/").json()["reruns"] == [again["id"], done["id"]]


def test_a_rerun_from_a_node_reuses_what_comes_before_it(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    log = tmp_path / "log"
    wf = make_workflow(chain(log))
    first = start(client, wf, {"in": {"text": "x"}})
    before = wait(client, first, ("COMPLETED",))
    r = client.post(f"/run/{first}/rerun/", json={"from_node": "b"})
    assert r.status_code == 200, r.text
    after = wait(client, r.json()["id"], ("COMPLETED",))
    assert lines(log) == {"a": 1, "b": 2}  # a reused, b and what follows ran again
    old, new = tasks_by_node(before), tasks_by_node(after)
    assert (
        new["a"]["outputs"] == old["a"]["outputs"] and new["a"]["end_time"] == old["a"]["end_time"]
    )
    assert new["b"]["end_time"] > old["b"]["end_time"]
    assert after["outputs"]["out"] == {"result": "x!"}


def test_a_rerun_on_the_latest_version(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    log = tmp_path / "log"
    wf = make_workflow(chain(log))
    first = start(client, wf, {"in": {"text": "v"}})
    wait(client, first, ("COMPLETED",))
    newer = chain(log)
    newer["nodes"][2]["config"]["code"] = logging_code(
        log, "b", "return {'t': input_model.A.t + '?'}"
    )
    assert client.put(f"/wf/{wf}/", json={"name": "c", "definition": newer}).status_code == 200
    same = wait(client, client.post(f"/run/{first}/rerun/").json()["id"], ("COMPLETED",))
    latest = client.post(f"/run/{first}/rerun/", json={"latest_version": True}).json()["id"]
    latest_run = wait(client, latest, ("COMPLETED",))
    assert same["outputs"]["out"] == {"result": "v!"}
    assert latest_run["outputs"]["out"] == {"result": "v?"}
    assert latest_run["workflow_version"]["version"] == 2
    r = client.post(f"/run/{first}/rerun/", json={"latest_version": True, "from_node": "b"})
    assert r.status_code == 422 and "original run's version" in r.text


def test_a_canceled_run_is_rerun_and_retried(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    wf = make_workflow(review_flow(tmp_path / "log"))
    run = start(client, wf, {"in": {"text": "c"}})
    wait(client, run, ("PAUSED",))
    r = client.post(f"/run/{run}/rerun/")
    assert (r.status_code, r.json()) == (
        409,
        {"detail": f"Run {run} is PAUSED; only a finished run is rerun"},
    )
    assert client.post(f"/wf/cancel_workflow/{run}/").status_code == 200
    rerun = client.post(f"/run/{run}/rerun/")
    assert rerun.status_code == 200, rerun.text
    assert wait(client, rerun.json()["id"], ("PAUSED",))["rerun_of"] == run


def test_bad_reruns(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    wf = make_workflow(chain(tmp_path / "log"))
    first = start(client, wf, {"in": {"text": "x"}})
    wait(client, first, ("COMPLETED",))
    r = client.post(f"/run/{first}/rerun/", json={"from_node": "nope"})
    assert r.status_code == 422 and "'nope' is no top-level node" in r.text
    r = client.post(f"/run/{first}/rerun/", json={"initial_inputs": {"zz": {}}})
    assert r.status_code == 422 and "not the workflow's InputNode" in r.text
    r = client.post("/run/R_nope/rerun/")
    assert (r.status_code, r.json()) == (404, {"detail": "Run not found"})
    assert client.get(f"/run/{first}/").json()["reruns"] == []
