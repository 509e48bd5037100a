"""POST /wf/cancel_workflow/{run_id}/ (SPEC §5): stop a run at once, whatever it is doing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
from tests.flows import review_flow, seconds_until_dead, sleeper_flow, start, wait_for_pid
from tests.flows import wait_status as wait


def test_cancel_while_running_interrupts_the_node_and_its_process(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    run_id = start(client, make_workflow(sleeper_flow(pid_file)))
    pid = wait_for_pid(pid_file)
    began = time.monotonic()
    r = client.post(f"/wf/cancel_workflow/{run_id}/")
    answered = time.monotonic() - began
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["status"] == "CANCELED"
    assert run["message"] == "Canceled by request"
    assert run["end_time"] is not None
    assert [t["status"] for t in run["tasks"]] == ["COMPLETED", "CANCELED", "CANCELED"]
    assert [t["end_time"] is not None for t in run["tasks"]] == [True, True, True]
    dead_after = answered + seconds_until_dead(pid)
    print(f"cancel answered in {answered:.3f} s; worker {pid} gone {dead_after:.3f} s after")
    # A canceled run never changes again, even when its interrupted node winds down.
    time.sleep(0.3)
    assert client.get(f"/run/{run_id}/").json() == run


def test_cancel_while_paused(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    run_id = start(client, make_workflow(review_flow(tmp_path / "log")), {"in": {"text": "a"}})
    wait(client, run_id, ("PAUSED",))
    r = client.post(f"/wf/cancel_workflow/{run_id}")
    assert r.status_code == 200
    run = r.json()
    assert run["status"] == "CANCELED"
    assert [t["status"] for t in run["tasks"]] == ["COMPLETED", "CANCELED", "CANCELED", "CANCELED"]
    assert [t["is_downstream_of_pause"] for t in run["tasks"]] == [False] * 4
    assert client.get("/wf/paused_workflows/").json() == []
    approve = {"inputs": {}, "user_id": "ann", "action": "APPROVE"}
    assert client.post(f"/wf/process_pause_action/{run_id}/", json=approve).status_code == 409


def test_cancel_twice_and_cancel_unknown(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    run_id = start(client, make_workflow(review_flow(tmp_path / "log")), {"in": {"text": "a"}})
    wait(client, run_id, ("PAUSED",))
    assert client.post(f"/wf/cancel_workflow/{run_id}/").status_code == 200
    r = client.post(f"/wf/cancel_workflow/{run_id}/")
    assert (r.status_code, r.json()) == (409, {"detail": f"Run {run_id} is already CANCELED"})
    r = client.post("/wf/cancel_workflow/R_nope/")
    assert (r.status_code, r.json()) == (404, {"detail": "Run not found"})


def test_cancel_a_completed_run_is_409(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow({"nodes": [{"id": "in", "node_type": "InputNode"}], "links": []})
    run_id = start(client, wf)
    before = wait(client, run_id, ("COMPLETED",))
    r = client.post(f"/wf/cancel_workflow/{run_id}/")
    assert (r.status_code, r.json()) == (409, {"detail": f"Run {run_id} is already COMPLETED"})
    assert client.get(f"/run/{run_id}/").json() == before


def test_cancel_names_who_canceled_when_told(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    wf = make_workflow(review_flow(tmp_path / "log"))
    first = start(client, wf, {"in": {"text": "a"}})
    wait(client, first, ("PAUSED",))
    bad = client.post(f"/wf/cancel_workflow/{first}/", json={"user_id": ""})
    assert bad.status_code == 422, bad.text
    assert bad.json()["detail"][0]["loc"] == ["body", "user_id"]
    assert client.get(f"/run/{first}/").json()["status"] == "PAUSED"  # nothing changed
    r = client.post(f"/wf/cancel_workflow/{first}/", json={"user_id": "carol"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["message"]) == ("CANCELED", "Canceled by carol")
