"""Two people act on one paused run at the same moment: exactly one wins (SPEC §5)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import LiveServer
from tests.flows import lines, review_flow, start
from tests.flows import wait_status as wait


def _race(urls: list[str], path: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """POST ``bodies[i]`` to ``urls[i] + path`` from one thread each, released together."""
    barrier = threading.Barrier(len(bodies))
    results: list[httpx.Response | None] = [None] * len(bodies)

    def act(i: int) -> None:
        with httpx.Client(base_url=urls[i], timeout=60) as c:
            barrier.wait()
            results[i] = c.post(path, json=bodies[i])

    threads = [threading.Thread(target=act, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def test_concurrent_double_approve_runs_downstream_once(
    client: httpx.Client, make_workflow: Callable[..., str], server: LiveServer, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    wf = make_workflow(review_flow(log))
    runs = [start(client, wf, {"in": {"text": str(i)}}) for i in range(3)]
    for run_id in runs:
        wait(client, run_id, ("PAUSED",))
    approve = {"inputs": {}, "user_id": "ann", "action": "APPROVE"}
    for run_id in runs:
        results = _race([server.url] * 2, f"/wf/process_pause_action/{run_id}/", [approve] * 2)
        assert sorted(r.status_code for r in results) == [200, 409]
        loser = next(r for r in results if r.status_code == 409)
        assert run_id in loser.json()["detail"]
        assert "not PAUSED" in loser.json()["detail"]
    for run_id in runs:
        assert wait(client, run_id, ("COMPLETED", "FAILED"))["status"] == "COMPLETED"
    assert lines(log) == {"after": 3}
    for run_id in runs:
        history = client.get(f"/wf/pause_history/{run_id}/").json()
        assert [(p["resume_action"], p["resume_user_id"]) for p in history] == [("APPROVE", "ann")]


def test_approve_and_decline_through_two_servers_on_one_store(
    client: httpx.Client, make_workflow: Callable[..., str], server: LiveServer, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    wf = make_workflow(review_flow(log))
    run_id = start(client, wf, {"in": {"text": "x"}})
    wait(client, run_id, ("PAUSED",))
    approve = {"inputs": {}, "user_id": "ann", "action": "APPROVE"}
    decline = {"inputs": {}, "user_id": "bob", "action": "DECLINE"}
    with LiveServer(server.settings) as other:
        results = _race(
            [server.url, other.url], f"/wf/process_pause_action/{run_id}/", [approve, decline]
        )
        codes = [r.status_code for r in results]
        assert sorted(codes) == [200, 409]
        run = wait(client, run_id, ("COMPLETED", "CANCELED", "FAILED"))
    history = client.get(f"/wf/pause_history/{run_id}/").json()
    if codes[0] == 200:  # the approval won
        assert run["status"] == "COMPLETED"
        assert lines(log) == {"after": 1}
        assert [p["resume_user_id"] for p in history] == ["ann"]
    else:
        assert run["status"] == "CANCELED"
        assert run["message"] == "Declined by bob at node 'review'"
        assert lines(log) == {}
        assert [p["resume_user_id"] for p in history] == ["bob"]
