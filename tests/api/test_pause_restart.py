"""Paused runs survive a server restart and can be resumed after it (SPEC §5)."""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.conftest import LiveServer, make_settings
from tests.flows import lines, review_flow, start
from tests.flows import wait_status as wait


def test_resume_after_a_server_restart(tmp_path: Path, backend: str) -> None:
    log = tmp_path / "log"
    settings, cleanup = make_settings(tmp_path, backend)
    try:
        with LiveServer(settings) as first, httpx.Client(base_url=first.url) as c:
            r = c.post("/wf/", json={"name": "r", "definition": review_flow(log)})
            wf = r.json()["id"]
            run_id = start(c, wf, {"in": {"text": "kept"}})
            paused = wait(c, run_id, ("PAUSED",))
        with LiveServer(settings) as second, httpx.Client(base_url=second.url) as c:
            assert c.get(f"/run/{run_id}/").json()["status"] == "PAUSED"
            [item] = c.get("/wf/paused_workflows/").json()
            assert item["run"]["tasks"] == paused["tasks"]
            body = {"inputs": {"after": "restart"}, "user_id": "ann", "action": "APPROVE"}
            assert c.post(f"/wf/process_pause_action/{run_id}/", json=body).status_code == 200
            run = wait(c, run_id, ("COMPLETED", "FAILED"))
        assert run["status"] == "COMPLETED"
        assert run["outputs"]["review"] == {"In": {"text": "kept"}, "after": "restart"}
        assert lines(log) == {"after": 1}
    finally:
        cleanup()
