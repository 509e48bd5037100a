"""Who did it (docs/security.md §4): with auth on, the token's name is recorded on
starts, cancels, retries and pause actions and shown on the run; the body's
``user_id`` counts only with auth off."""

from __future__ import annotations

import time
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
            # a retried CANCELED run is no longer canceled, and names who retried it
            again = client.post(f"/run/{second}/retry/", headers=bob)
            assert again.status_code == 202, again.text
            assert (again.json()["canceled_by"], again.json()["retried_by"]) == (None, "bob")
            client.post(f"/wf/cancel_workflow/{second}/", headers=bob)

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


def test_reruns_triggers_and_schedules_record_who_started_them(tmp_path: Path) -> None:
    with serving(tmp_path, "sqlite", auth="required") as srv:
        auth = srv.runtime.auth
        admin = {"Authorization": f"Bearer {auth.create_token('root', Role.ADMIN)[1]}"}
        ann = {"Authorization": f"Bearer {auth.create_token('ann', Role.OPERATOR)[1]}"}
        with httpx.Client(base_url=srv.url, timeout=60, headers=admin) as client:
            flow = {
                "nodes": [node("in", "InputNode", output_schema={"text": "str"})],
                "links": [],
            }
            wf = client.post("/wf/", json={"name": "echo", "definition": flow}).json()["id"]
            first = start(client, wf, {"in": {"text": "a"}})
            assert wait_status(client, first, ("COMPLETED",))["started_by"] == "root"
            rerun = client.post(f"/run/{first}/rerun/", json={}, headers=ann)
            assert rerun.status_code == 200, rerun.text
            assert rerun.json()["started_by"] == "ann"

            hook = client.post(f"/wf/{wf}/triggers/", json={"name": "crm"}).json()
            # no token: the trigger's secret is its authority
            fired = httpx.post(
                hook["url"], json={"text": "b"}, headers={"X-Spurline-Secret": hook["secret"]}
            )
            assert fired.status_code == 202, fired.text
            run = wait_status(client, fired.json()["run_id"], ("COMPLETED",))
            assert run["started_by"] == f"trigger:{hook['id']}"

            body = {"workflow_id": wf, "name": "tick", "interval_seconds": 1}
            body["initial_inputs"] = {"in": {"text": "c"}}
            schedule = client.post("/wf/schedules/", json=body).json()["id"]
            deadline = time.monotonic() + 30
            while True:
                page = client.get("/run/", params={"schedule_id": schedule}).json()
                if page:
                    break
                assert time.monotonic() < deadline, "the schedule never fired"
                time.sleep(0.2)
            assert page[0]["started_by"] == f"schedule:{schedule}"
