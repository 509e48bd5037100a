"""Bad pause actions get a 4xx that names the problem (issue 3 "Bad input")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from tests.flows import human, links, node, review_flow, start, tasks_by_node
from tests.flows import wait_status as wait

APPROVE = {"inputs": {}, "user_id": "ann", "action": "APPROVE"}


def test_unknown_run_is_404(client: httpx.Client) -> None:
    r = client.post("/wf/process_pause_action/R_nope/", json=APPROVE)
    assert (r.status_code, r.json()) == (404, {"detail": "Run not found"})
    r = client.get("/wf/pause_history/R_nope/")
    assert (r.status_code, r.json()) == (404, {"detail": "Run not found"})


def test_unknown_action_is_422(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    run_id = start(client, make_workflow(review_flow(tmp_path / "log")), {"in": {"text": "a"}})
    wait(client, run_id, ("PAUSED",))
    r = client.post(f"/wf/process_pause_action/{run_id}/", json={**APPROVE, "action": "MAYBE"})
    assert r.status_code == 422
    [problem] = r.json()["detail"]
    assert problem["loc"] == ["body", "action"]
    r = client.post(f"/wf/process_pause_action/{run_id}/", json={"action": "APPROVE"})
    assert r.status_code == 422
    assert [p["loc"] for p in r.json()["detail"]] == [["body", "user_id"]]
    r = client.post(
        f"/wf/process_pause_action/{run_id}/",
        content=b'{"inputs": {"x": NaN}, "user_id": "ann", "action": "APPROVE"}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422
    assert [p["loc"][:2] for p in r.json()["detail"]] == [["body", "inputs"]]
    # nothing happened to the run
    assert client.get(f"/run/{run_id}/").json()["status"] == "PAUSED"


def test_action_on_completed_canceled_and_running_runs_is_409(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    quick = make_workflow({"nodes": [node("in", "InputNode")], "links": []})
    done = start(client, quick)
    wait(client, done, ("COMPLETED",))
    r = client.post(f"/wf/process_pause_action/{done}/", json=APPROVE)
    assert (r.status_code, r.json()["detail"]) == (409, f"Run {done} is COMPLETED, not PAUSED")

    slow = make_workflow(
        {
            "nodes": [
                node("in", "InputNode"),
                node("nap", "PythonFuncNode", code="import time\ntime.sleep(30)\nreturn {}"),
            ],
            "links": links(("in", "nap")),
        }
    )
    running = start(client, slow)
    wait(client, running, ("RUNNING",))
    r = client.post(f"/wf/process_pause_action/{running}/", json=APPROVE)
    assert (r.status_code, r.json()["detail"]) == (409, f"Run {running} is RUNNING, not PAUSED")

    assert client.post(f"/wf/cancel_workflow/{running}/").status_code == 200
    r = client.post(f"/wf/process_pause_action/{running}/", json=APPROVE)
    assert (r.status_code, r.json()["detail"]) == (409, f"Run {running} is CANCELED, not PAUSED")


def test_node_id_must_name_a_paused_node(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow(
        {
            "nodes": [node("in", "InputNode"), human("left", "L"), human("right", "R")],
            "links": links(("in", "left"), ("in", "right")),
        }
    )
    run_id = start(client, wf)
    run = wait(client, run_id, ("PAUSED",))
    assert run["message"] == "L"
    url = f"/wf/process_pause_action/{run_id}/"

    r = client.post(url, json=APPROVE)
    assert r.status_code == 409
    assert r.json()["detail"] == (
        f"Run {run_id} has several paused nodes ('left', 'right'); give node_id"
    )
    r = client.post(url, json={**APPROVE, "node_id": "in"})
    assert r.status_code == 409
    assert r.json()["detail"] == (
        f"Node 'in' is not paused in run {run_id} (paused: 'left', 'right')"
    )
    r = client.post(url, json={**APPROVE, "node_id": "ghost"})
    assert (r.status_code, "Node 'ghost' is not paused" in r.json()["detail"]) == (409, True)

    r = client.post(url, json={**APPROVE, "node_id": "right", "inputs": {"r": 1}})
    assert r.status_code == 200
    run = wait(client, run_id, ("PAUSED", "COMPLETED"))
    assert run["status"] == "PAUSED"  # left is still paused
    assert run["message"] == "L"
    assert tasks_by_node(run)["right"]["outputs"] == {"In": {}, "r": 1}

    r = client.post(url, json={**APPROVE, "node_id": "right"})
    assert r.status_code == 409
    assert r.json()["detail"] == f"Node 'right' is not paused in run {run_id} (paused: 'left')"
    assert client.post(url, json=APPROVE).status_code == 200  # the one paused node
    assert wait(client, run_id, ("COMPLETED", "FAILED"))["status"] == "COMPLETED"
    history = client.get(f"/wf/pause_history/{run_id}/").json()
    assert sorted((p["node_id"], p["resume_action"]) for p in history) == [
        ("left", "APPROVE"),
        ("right", "APPROVE"),
    ]
