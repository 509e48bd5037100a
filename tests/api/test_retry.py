"""POST /run/{run_id}/retry/: re-execute a FAILED run's failed and canceled tasks in place."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
from tests.conftest import LiveServer
from tests.flows import lines, links, logging_code, node, review_flow, start, tasks_by_node
from tests.flows import wait_status as wait

from spurline.engine.clock import new_id, now
from spurline.engine.records import RunRecord
from spurline.engine.states import RunStatus
from spurline.store import runs as run_q


def _flaky_flow(log: Path, flag: Path) -> dict[str, object]:
    fails_without_flag = (
        f"import os\nif not os.path.exists({str(flag)!r}):\n"
        "    raise RuntimeError('flag missing')\nreturn {'b': input_model.A.ok}"
    )
    return {
        "nodes": [
            node("in", "InputNode"),
            node("a", "PythonFuncNode", code=logging_code(log, "a")),
            node("b", "PythonFuncNode", code=logging_code(log, "b", fails_without_flag)),
            node("c", "PythonFuncNode", code=logging_code(log, "c")),
            node("side", "PythonFuncNode", code=logging_code(log, "side")),
            node("out", "OutputNode"),
        ],
        "links": links(("in", "a"), ("a", "b"), ("b", "c"), ("c", "out"), ("in", "side")),
    }


def test_retry_reexecutes_failed_and_canceled_tasks_only(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    log, flag = tmp_path / "log", tmp_path / "flag"
    run_id = start(client, make_workflow(_flaky_flow(log, flag)))
    failed = wait(client, run_id, ("FAILED", "COMPLETED"))
    assert failed["status"] == "FAILED"
    assert failed["message"] == "Node 'b' failed: RuntimeError: flag missing"
    assert {n: t["status"] for n, t in tasks_by_node(failed).items()} == {
        "in": "COMPLETED",
        "a": "COMPLETED",
        "b": "FAILED",
        "c": "CANCELED",
        "side": "COMPLETED",
        "out": "CANCELED",
    }
    a_before = tasks_by_node(failed)["a"]

    r = client.post(f"/run/{run_id}/retry/")
    assert r.status_code == 202, r.text
    assert r.headers["Location"] == f"/run/{run_id}/"
    assert r.json()["id"] == run_id
    again = wait(client, run_id, ("FAILED", "COMPLETED"))
    assert again["status"] == "FAILED"
    assert lines(log) == {"a": 1, "b": 2, "side": 1}

    flag.touch()
    assert client.post(f"/run/{run_id}").status_code == 405  # wrong method, not a retry
    assert client.post(f"/run/{run_id}/retry").status_code == 202
    done = wait(client, run_id, ("FAILED", "COMPLETED"))
    assert done["status"] == "COMPLETED"
    assert done["message"] is None
    assert done["end_time"] > failed["end_time"]
    assert done["outputs"]["out"] == {"ok": True}
    assert tasks_by_node(done)["a"] == a_before  # reused, not executed again
    assert lines(log) == {"a": 1, "b": 3, "c": 1, "side": 1}


def test_retry_of_a_run_that_did_not_fail_is_409(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    done = start(client, make_workflow({"nodes": [node("in", "InputNode")], "links": []}))
    wait(client, done, ("COMPLETED",))
    r = client.post(f"/run/{done}/retry/")
    not_failed = "not FAILED or CANCELED"
    assert (r.status_code, r.json()) == (409, {"detail": f"Run {done} is COMPLETED, {not_failed}"})

    paused = start(client, make_workflow(review_flow(tmp_path / "log")), {"in": {"text": "x"}})
    wait(client, paused, ("PAUSED",))
    r = client.post(f"/run/{paused}/retry/")
    assert (r.status_code, r.json()) == (409, {"detail": f"Run {paused} is PAUSED, {not_failed}"})
    assert client.post(f"/wf/cancel_workflow/{paused}/").status_code == 200
    # a CANCELED run is retried (docs/operations.md): it runs on to its pause again
    r = client.post(f"/run/{paused}/retry/")
    assert r.status_code == 202, r.text
    again = wait(client, paused, ("PAUSED",))
    assert again["end_time"] is None and again["message"] is not None

    r = client.post("/run/R_nope/retry/")
    assert (r.status_code, r.json()) == (404, {"detail": "Run not found"})


def test_batch_runs_and_their_rows_are_not_retried_alone(
    client: httpx.Client, make_workflow: Callable[..., str], server: LiveServer
) -> None:
    wf = make_workflow({"nodes": [node("in", "InputNode")], "links": []})
    parent = RunRecord(
        new_id("R"), wf, None, RunStatus.FAILED, now(), now(), run_type="batch", rows_total=1
    )
    row = RunRecord(
        new_id("R"), wf, None, RunStatus.FAILED, now(), now(), parent_run_id=parent.id,
        run_type="batch", seq=0,
    )  # fmt: skip
    for run in (parent, row):
        server.runtime.db.writer.run(partial(run_q.insert_run, run=run, tasks=[]))
    r = client.post(f"/run/{parent.id}/retry/")
    assert (r.status_code, r.json()["detail"]) == (
        409,
        f"Run {parent.id} is a batch run; retrying a batch run is not supported",
    )
    r = client.post(f"/run/{row.id}/retry/")
    assert (r.status_code, r.json()["detail"]) == (
        409,
        f"Run {row.id} is a child run; retry its parent {parent.id}",
    )
    assert client.get(f"/run/{row.id}/").json()["status"] == "FAILED"
