"""Human in the loop over HTTP (SPEC §5): pause, approve, override, decline, history."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from tests.flows import (
    approve_and_finish,
    human,
    lines,
    links,
    logger,
    node,
    review_flow,
    start,
    tasks_by_node,
)
from tests.flows import wait_status as wait

TEXT = {"in": {"text": "hello"}}


def test_pause_records_inputs_and_marks_dependants(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    wf = make_workflow(review_flow(tmp_path / "log"))
    run = wait(client, start(client, wf, TEXT), ("PAUSED",))
    tasks = tasks_by_node(run)
    assert run["message"] == "Check the text"
    assert run["end_time"] is None
    assert tasks["in"]["status"] == "COMPLETED"
    assert tasks["review"]["status"] == "PAUSED"
    assert tasks["review"]["inputs"] == {"In": {"text": "hello"}}
    assert tasks["review"]["outputs"] is None
    assert [tasks[n]["status"] for n in ("after", "out")] == ["PENDING", "PENDING"]
    assert [tasks[n]["is_downstream_of_pause"] for n in ("in", "review", "after", "out")] == [
        False,
        False,
        True,
        True,
    ]
    [pause] = client.get(f"/wf/pause_history/{run['id']}/").json()
    assert pause["run_id"] == run["id"]
    assert pause["node_id"] == "review"
    assert pause["pause_message"] == "Check the text"
    assert pause["input_data"] == {"In": {"text": "hello"}}
    assert pause["pause_time"] >= run["start_time"]
    assert pause["id"].startswith("P")
    assert [pause[k] for k in ("resume_time", "resume_user_id", "resume_action", "comments")] == [
        None,
        None,
        None,
        None,
    ]
    assert lines(tmp_path / "log") == {}


def test_approve_merges_inputs_and_resumes(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    wf = make_workflow(review_flow(tmp_path / "log"))
    run_id = start(client, wf, TEXT)
    wait(client, run_id, ("PAUSED",))
    body = {"inputs": {"note": "fine"}, "user_id": "ann", "action": "APPROVE", "comments": "ok"}
    r = client.post(f"/wf/process_pause_action/{run_id}/", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == run_id
    assert r.json()["status"] in ("RUNNING", "COMPLETED")
    assert r.json()["message"] is None
    run = wait(client, run_id, ("COMPLETED", "FAILED"))
    assert run["status"] == "COMPLETED"
    expected = {"In": {"text": "hello"}, "note": "fine"}
    assert run["outputs"]["review"] == expected
    assert run["outputs"]["after"] == {"seen": expected}
    assert run["percentage_complete"] == 100.0
    [pause] = client.get(f"/wf/pause_history/{run_id}/").json()
    assert pause["resume_user_id"] == "ann"
    assert pause["resume_action"] == "APPROVE"
    assert pause["comments"] == "ok"
    assert pause["resume_time"] >= pause["pause_time"]
    assert pause["input_data"] == {"In": {"text": "hello"}}
    assert lines(tmp_path / "log") == {"after": 1}


def test_override_replaces_the_output(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    wf = make_workflow(review_flow(tmp_path / "log"))
    run_id = start(client, wf, TEXT)
    wait(client, run_id, ("PAUSED",))
    body = {"inputs": {"text": "HELLO"}, "user_id": "bob", "action": "OVERRIDE"}
    assert client.post(f"/wf/process_pause_action/{run_id}", json=body).status_code == 200
    run = wait(client, run_id, ("COMPLETED", "FAILED"))
    assert run["status"] == "COMPLETED"
    assert run["outputs"]["review"] == {"text": "HELLO"}
    assert run["outputs"]["after"] == {"seen": {"text": "HELLO"}}
    [pause] = client.get(f"/wf/pause_history/{run_id}").json()
    assert (pause["resume_action"], pause["resume_user_id"], pause["comments"]) == (
        "OVERRIDE",
        "bob",
        None,
    )


def test_decline_cancels_the_run_and_names_the_user(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    wf = make_workflow(review_flow(tmp_path / "log"))
    run_id = start(client, wf, TEXT)
    wait(client, run_id, ("PAUSED",))
    body = {"inputs": {}, "user_id": "carol", "action": "DECLINE", "comments": "wrong text"}
    r = client.post(f"/wf/process_pause_action/{run_id}/", json=body)
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["status"] == "CANCELED"
    assert run["message"] == "Declined by carol at node 'review': wrong text"
    assert run["end_time"] is not None
    assert [t["status"] for t in run["tasks"]] == ["COMPLETED", "CANCELED", "CANCELED", "CANCELED"]
    assert client.get(f"/run/{run_id}/").json()["status"] == "CANCELED"
    [pause] = client.get(f"/wf/pause_history/{run_id}/").json()
    assert (pause["resume_action"], pause["resume_user_id"], pause["comments"]) == (
        "DECLINE",
        "carol",
        "wrong text",
    )
    assert lines(tmp_path / "log") == {}


def test_other_branch_completes_while_one_is_paused(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    log = tmp_path / "log"
    wf = make_workflow(
        {
            "nodes": [
                node("in", "InputNode"),
                human("review", "Approve the left branch"),
                logger(log, "left"),
                logger(log, "right"),
                logger(log, "right2"),
            ],
            "links": links(
                ("in", "review"), ("review", "left"), ("in", "right"), ("right", "right2")
            ),
        }
    )
    run_id = start(client, wf)
    run = wait(client, run_id, ("PAUSED",))
    tasks = tasks_by_node(run)
    assert {n: t["status"] for n, t in tasks.items()} == {
        "in": "COMPLETED",
        "review": "PAUSED",
        "left": "PENDING",
        "right": "COMPLETED",
        "right2": "COMPLETED",
    }
    assert tasks["left"]["is_downstream_of_pause"] is True
    assert tasks["right2"]["is_downstream_of_pause"] is False
    assert run["percentage_complete"] == 60.0
    assert lines(log) == {"right": 1, "right2": 1}
    assert approve_and_finish(client, run_id)["status"] == "COMPLETED"
    assert lines(log) == {"right": 1, "right2": 1, "left": 1}


def test_blocking_all_nodes_holds_every_branch(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    log = tmp_path / "log"
    wf = make_workflow(
        {
            "nodes": [
                node("in", "InputNode"),
                logger(log, "side"),
                human("gate", "Everything waits", block_only_dependent_nodes=False),
                logger(log, "side2"),
                logger(log, "after"),
            ],
            "links": links(("in", "side"), ("in", "gate"), ("side", "side2"), ("gate", "after")),
        }
    )
    run_id = start(client, wf)
    run = wait(client, run_id, ("PAUSED",))
    tasks = tasks_by_node(run)
    # side started together with gate, so it finished; side2 would start after the
    # pause, so it waits although it does not depend on gate.
    assert {n: t["status"] for n, t in tasks.items()} == {
        "in": "COMPLETED",
        "side": "COMPLETED",
        "gate": "PAUSED",
        "side2": "PENDING",
        "after": "PENDING",
    }
    assert tasks["side2"]["is_downstream_of_pause"] is False
    assert lines(log) == {"side": 1}
    assert approve_and_finish(client, run_id)["status"] == "COMPLETED"
    assert lines(log) == {"side": 1, "side2": 1, "after": 1}


def test_two_pauses_in_sequence_keep_two_records(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow(
        {
            "nodes": [
                node("in", "InputNode"),
                human("first", "First check"),
                human("second", "Second check"),
                node("out", "OutputNode"),
            ],
            "links": links(("in", "first"), ("first", "second"), ("second", "out")),
        }
    )
    run_id = start(client, wf, {"in": {"n": 1}})
    assert wait(client, run_id, ("PAUSED",))["message"] == "First check"
    approve = {"inputs": {"a": 1}, "user_id": "ann", "action": "APPROVE"}
    assert client.post(f"/wf/process_pause_action/{run_id}/", json=approve).status_code == 200
    run = wait(client, run_id, ("PAUSED", "COMPLETED"))
    assert run["status"] == "PAUSED"
    assert run["message"] == "Second check"
    assert tasks_by_node(run)["second"]["inputs"] == {"First": {"In": {"n": 1}, "a": 1}}
    override = {"inputs": {"b": 2}, "user_id": "bob", "action": "OVERRIDE", "comments": "c"}
    assert client.post(f"/wf/process_pause_action/{run_id}/", json=override).status_code == 200
    run = wait(client, run_id, ("COMPLETED", "FAILED"))
    assert run["outputs"]["out"] == {"b": 2}
    second, first = client.get(f"/wf/pause_history/{run_id}/").json()
    assert (second["node_id"], second["resume_action"], second["resume_user_id"]) == (
        "second",
        "OVERRIDE",
        "bob",
    )
    assert (first["node_id"], first["resume_action"], first["resume_user_id"]) == (
        "first",
        "APPROVE",
        "ann",
    )
    assert second["pause_time"] > first["resume_time"] >= first["pause_time"]
    assert second["input_data"] == {"First": {"In": {"n": 1}, "a": 1}}


def test_paused_workflows_lists_open_pauses_newest_first(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    wf = make_workflow(review_flow(tmp_path / "log"), name="reviews")
    older = start(client, wf, TEXT)
    wait(client, older, ("PAUSED",))
    newer = start(client, wf, {"in": {"text": "second"}})
    wait(client, newer, ("PAUSED",))
    done = start(client, wf, TEXT)
    wait(client, done, ("PAUSED",))
    decline = {"inputs": {}, "user_id": "ann", "action": "DECLINE"}
    assert client.post(f"/wf/process_pause_action/{done}/", json=decline).status_code == 200

    r = client.get("/wf/paused_workflows/", params={"page": 1, "page_size": 1})
    assert r.status_code == 200
    assert r.headers["X-Total-Count"] == "2"
    [item] = r.json()
    assert item["run"]["id"] == newer
    assert item["run"]["status"] == "PAUSED"
    assert item["current_pause"]["node_id"] == "review"
    assert item["current_pause"]["input_data"] == {"In": {"text": "second"}}
    assert item["current_pause"]["resume_time"] is None
    assert (item["workflow"]["id"], item["workflow"]["name"]) == (wf, "reviews")
    page2 = client.get("/wf/paused_workflows", params={"page": 2, "page_size": 1}).json()
    assert [i["run"]["id"] for i in page2] == [older]
    assert client.get("/wf/paused_workflows/", params={"page_size": 0}).status_code == 422


def test_a_failure_beside_a_pause_ends_the_run_with_nothing_left_waiting(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    definition = {
        "nodes": [
            node("in", "InputNode"),
            human("ask", "Approve?"),
            node("after", "PythonFuncNode", code="return {'ok': True}"),
            node("boom", "PythonFuncNode", code="raise ValueError('broken')"),
        ],
        "links": links(("in", "ask"), ("ask", "after"), ("in", "boom")),
    }
    run_id = start(client, make_workflow(definition))
    run = wait(client, run_id, ("FAILED",))
    tasks = tasks_by_node(run)
    assert run["message"] == "Node 'boom' failed: ValueError: broken"
    assert [tasks[n]["status"] for n in ("in", "ask", "after", "boom")] == [
        "COMPLETED",
        "CANCELED",
        "CANCELED",
        "FAILED",
    ]
    assert all(t["end_time"] is not None for t in run["tasks"])
    assert not any(t["is_downstream_of_pause"] for t in run["tasks"])
    action = {"action": "APPROVE", "user_id": "ada", "inputs": {}, "comments": ""}
    assert client.post(f"/wf/process_pause_action/{run_id}/", json=action).status_code == 409
    assert client.get("/wf/paused_workflows/").json() == []
