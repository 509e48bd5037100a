"""Who did it (docs/security.md §4): with auth on, the token's name is recorded on
starts, cancels, retries and pause actions and shown on the run; the body's
``user_id`` counts only with auth off."""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.conftest import serving
from tests.flows import links, node, review_flow, start, wait_status

from spurline.services.auth import Role


def test_token_names_are_recorded_and_shown(tmp_path: Path) -> None:
    with serving(tmp_path, "sqlite", auth="required") as srv:
        auth = srv.runtime.auth
        admin = {"Authorization": f"Bearer {auth.create_token('root', Role.ADMIN)[1]}"}
        ann = {"Authorization": f"Bearer {auth.create_token('ann', Role.OPERATOR)[1]}"}
        bob = {"Authorization": f"Bearer {auth.create_token('bob', Role.OPERATOR)[1]}"}
        with httpx.Client(base_url=srv.url, timeout=60) as client:
            body = {"name": "review", "definition": review_flow(tmp_path / "log")}
            review = client.post("/wf/", json=body, headers=admin).json()["id"]
            client.headers.update(ann)
            run_id = start(client, review, {"in": {"text": "a"}})
            paused = wait_status(client, run_id, ("PAUSED",))
            assert paused["started_by"] == "ann"
            action = {"inputs": {}, "user_id": "mallory", "action": "APPROVE"}
            r = client.post(f"/wf/process_pause_action/{run_id}/", json=action, headers=bob)
            assert r.status_code == 200, r.text
            history = client.get(f"/wf/pause_history/{run_id}/").json()
            assert history[0]["resume_user_id"] == "bob"  # the token, not the body
            wait_status(client, run_id, ("COMPLETED",))

            second = start(client, review, {"in": {"text": "b"}})
            wait_status(client, second, ("PAUSED",))
            canceled = client.post(f"/wf/cancel_workflow/{second}/", headers=bob).json()
            assert canceled["canceled_by"] == "bob"
            assert canceled["message"] == "Canceled by bob"
            assert canceled["started_by"] == "ann"

            failing = {
                "nodes": [
                    node("in", "InputNode", output_schema={}),
                    node("boom", "PythonFuncNode", code="raise ValueError('no')"),
                ],
                "links": links(("in", "boom")),
            }
            wf = client.post("/wf/", json={"name": "f", "definition": failing}, headers=admin)
            r = client.post(f"/wf/{wf.json()['id']}/run/", json={"initial_inputs": {"in": {}}})
            failed_id = r.json()["detail"]["run"]["id"]
            retried = client.post(f"/run/{failed_id}/retry/", headers=bob)
            assert retried.status_code == 202
            assert retried.json()["retried_by"] == "bob"
            assert client.get(f"/run/{failed_id}/").json()["started_by"] == "ann"


def test_with_auth_off_the_body_names_who_acts(tmp_path: Path) -> None:
    with serving(tmp_path, "sqlite") as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        wf = c.post("/wf/", json={"name": "r", "definition": review_flow(tmp_path / "log")})
        run_id = start(c, wf.json()["id"], {"in": {"text": "a"}})
        assert wait_status(c, run_id, ("PAUSED",))["started_by"] is None
        action = {"inputs": {}, "user_id": "ann", "action": "DECLINE"}
        assert c.post(f"/wf/process_pause_action/{run_id}/", json=action).status_code == 200
        assert c.get(f"/wf/pause_history/{run_id}/").json()[0]["resume_user_id"] == "ann"
