"""Schedules through PySpur's ``/wf/schedules/`` routes: shapes, next fire times in a
time zone, toggling, bad input, and a schedule whose workflow is deleted
(docs/operations.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from tests.conftest import LiveServer
from tests.ops._ops import ECHO, wait_until, when

from spurline.store import workflows as wf_q


@pytest.fixture
def client(shared_client: httpx.Client) -> httpx.Client:
    return shared_client


@pytest.fixture
def make_workflow(client: httpx.Client) -> Callable[..., str]:
    def make(definition: dict[str, Any] = ECHO) -> str:
        r = client.post("/wf/", json={"name": "echo", "definition": definition})
        assert r.status_code == 200, r.text
        return str(r.json()["id"])

    return make


def _create(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post("/wf/schedules/", json={"name": "s", **body})


def test_a_cron_schedule_fires_at_its_time_zone_s_hour(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow()
    r = _create(
        client,
        workflow_id=wf,
        cron_expression="30 9 * * *",
        timezone="Asia/Tokyo",
        initial_inputs={"in": {"text": "good morning"}},
        tags=["daily"],
    )
    assert r.status_code == 200, r.text
    s = r.json()
    nxt = when(s["next_run_at"])
    local = nxt.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (local.hour, local.minute, local.second) == (9, 30, 0)
    assert (nxt.hour, nxt.minute) == (0, 30)  # 09:30 in Tokyo is 00:30 UTC
    assert timedelta(0) < nxt - datetime.now(UTC) <= timedelta(days=1)
    assert {k: s[k] for k in ("enabled", "last_run_at", "misfire_policy", "tags")} == {
        "enabled": True,
        "last_run_at": None,
        "misfire_policy": "skip",
        "tags": ["daily"],
    }
    assert client.get(f"/wf/schedules/{s['id']}").json() == s
    listed = client.get("/wf/schedules/", params={"workflow_id": wf}).json()
    assert listed == {"schedules": [s], "total": 1, "page": 1, "page_size": 10}

    off = client.post(f"/wf/schedules/{s['id']}/toggle").json()
    assert (off["enabled"], off["next_run_at"]) == (False, None)
    on = client.post(f"/wf/schedules/{s['id']}/toggle/").json()
    assert on["enabled"] is True and when(on["next_run_at"]) == nxt

    changed = client.put(f"/wf/schedules/{s['id']}", json={"cron_expression": "0 18 * * 1"})
    assert changed.status_code == 200, changed.text
    monday = when(changed.json()["next_run_at"]).astimezone(ZoneInfo("Asia/Tokyo"))
    assert (monday.weekday(), monday.hour) == (0, 18)
    assert changed.json()["name"] == "s" and changed.json()["timezone"] == "Asia/Tokyo"

    gone = client.delete(f"/wf/schedules/{s['id']}")
    assert gone.json() == {"message": f"Schedule {s['id']} deleted successfully"}
    assert client.get(f"/wf/schedules/{s['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "where", "named"),
    [
        ({"cron_expression": "61 * * * *"}, "cron_expression", "'61 * * * *'"),
        ({"cron_expression": "every day"}, "cron_expression", "'every day'"),
        ({"cron_expression": "0 0 30 2 *"}, "cron_expression", "'0 0 30 2 *'"),
        ({"cron_expression": "0 9 * * *", "timezone": "Mars/Olympus"}, "timezone", "Mars/Olympus"),
        ({"interval_seconds": 60, "timezone": "../etc"}, "timezone", "../etc"),
        ({}, "cron_expression", "exactly one"),
        ({"cron_expression": "* * * * *", "interval_seconds": 5}, "cron_expression", "exactly one"),
        ({"interval_seconds": 0}, "interval_seconds", "greater than or equal to 1"),
        ({"interval_seconds": 5, "misfire_policy": "all"}, "misfire_policy", "run_once"),
        (
            {"interval_seconds": 5, "initial_inputs": {"nope": {}}},
            "initial_inputs",
            "not the workflow's InputNode",
        ),
    ],
)
def test_a_bad_schedule_is_422_naming_the_problem_and_nothing_is_made(
    client: httpx.Client,
    make_workflow: Callable[..., str],
    body: dict[str, Any],
    where: str,
    named: str,
) -> None:
    wf = make_workflow()
    r = _create(client, workflow_id=wf, **body)
    assert r.status_code == 422, r.text
    problems = r.json()["detail"]
    assert any(p["loc"][:2] == ["body", where] and named in p["msg"] for p in problems), problems
    assert client.get("/wf/schedules/", params={"workflow_id": wf}).json()["total"] == 0


def test_a_bad_change_is_422_and_changes_nothing(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    s = _create(client, workflow_id=make_workflow(), interval_seconds=3600).json()
    r = client.put(f"/wf/schedules/{s['id']}", json={"timezone": "Nowhere/Land"})
    assert r.status_code == 422 and "Nowhere/Land" in r.text
    assert client.get(f"/wf/schedules/{s['id']}").json() == s


def test_unknown_workflow_and_schedule_are_404(client: httpx.Client) -> None:
    r = _create(client, workflow_id="W_nope", interval_seconds=60)
    assert (r.status_code, r.json()) == (404, {"detail": "Workflow not found"})
    for method, path in (
        ("GET", "/wf/schedules/S_nope"),
        ("PUT", "/wf/schedules/S_nope"),
        ("DELETE", "/wf/schedules/S_nope"),
        ("POST", "/wf/schedules/S_nope/toggle"),
    ):
        r = client.request(method, path, json={} if method == "PUT" else None)
        assert (r.status_code, r.json()) == (404, {"detail": "Schedule not found"}), path


def test_deleting_the_workflow_disables_its_schedule_with_the_reason(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow()
    s = _create(client, workflow_id=wf, interval_seconds=60).json()
    assert client.delete(f"/wf/{wf}/").status_code == 204
    got = client.get(f"/wf/schedules/{s['id']}").json()
    assert (got["enabled"], got["next_run_at"]) == (False, None)
    assert got["disabled_reason"] == f"workflow {wf} was deleted"


def test_a_schedule_whose_workflow_vanished_is_disabled_when_due_and_others_go_on(
    client: httpx.Client, make_workflow: Callable[..., str], shared_server: LiveServer
) -> None:
    orphan_wf, live_wf = make_workflow(), make_workflow()
    orphan = _create(client, workflow_id=orphan_wf, interval_seconds=1).json()
    live = _create(client, workflow_id=live_wf, interval_seconds=1).json()
    # gone behind the API's back (as by another tool on the store): found at the fire
    shared_server.runtime.db.writer.run(lambda c: wf_q.delete_workflow(c, orphan_wf))

    def disabled() -> bool:
        return client.get(f"/wf/schedules/{orphan['id']}").json()["enabled"] is False

    wait_until(disabled, 20, "disabled")
    got = client.get(f"/wf/schedules/{orphan['id']}").json()
    assert got["disabled_reason"] == f"workflow {orphan_wf} was deleted"
    assert client.get("/run/", params={"schedule_id": orphan["id"]}).json() == []

    def fired_twice() -> bool:
        r = client.get("/run/", params={"schedule_id": live["id"], "view": "summary"})
        return len(r.json()) >= 2

    wait_until(fired_twice, 20, "fired twice")  # the scheduler goes on
    client.post(f"/wf/schedules/{live['id']}/toggle")
    run = client.get("/run/", params={"schedule_id": live["id"]}).json()[0]
    assert (run["run_type"], run["schedule_id"]) == ("scheduled", live["id"])
    assert run["initial_inputs"] == {}
