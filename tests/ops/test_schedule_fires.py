"""Schedules fire exactly once per fire time however many servers run, and after a
downtime follow their misfire policy (docs/operations.md). Real servers on one store:
SQLite file, or PostgreSQL with runs executed by a Celery worker.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import LiveServer
from tests.ops._ops import ECHO, SCHEDULER_BACKENDS, all_runs, shared_store, wait_until, when

SECOND = timedelta(seconds=1)


def _workflow(client: httpx.Client) -> str:
    r = client.post("/wf/", json={"name": "echo", "definition": ECHO})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def _schedule(client: httpx.Client, wf: str, **fields: Any) -> dict[str, Any]:
    body = {
        "workflow_id": wf,
        "name": "every second",
        "interval_seconds": 1,
        "initial_inputs": {"in": {"text": "tick"}},
        **fields,
    }
    r = client.post("/wf/schedules/", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _count(client: httpx.Client, schedule_id: str) -> int:
    r = client.get("/run/", params={"schedule_id": schedule_id, "page_size": 1, "view": "summary"})
    return int(r.headers["X-Total-Count"])


@pytest.mark.parametrize("backend", SCHEDULER_BACKENDS)
def test_two_servers_start_exactly_one_run_per_fire(tmp_path: Path, backend: str) -> None:
    with (
        shared_store(tmp_path, backend, schedule_poll_s=0.5) as settings,
        LiveServer(settings) as one,
        LiveServer(settings) as two,
        httpx.Client(base_url=one.url, timeout=60) as a,
        httpx.Client(base_url=two.url, timeout=60) as b,
    ):
        wf = _workflow(a)
        schedule = _schedule(a, wf, tags=["nightly"], metadata={"team": "ops"})
        first = when(schedule["next_run_at"])
        wait_until(lambda: _count(b, schedule["id"]) >= 20, 40, "20 scheduled runs")
        # stop it right after the 20th fire, nearly a second before the 21st
        off = b.post(f"/wf/schedules/{schedule['id']}/toggle")
        assert off.status_code == 200 and off.json()["enabled"] is False
        time.sleep(1.5)  # past the next fire time: nothing more may start
        runs = all_runs(a, schedule_id=schedule["id"])
    fired = sorted(when(r["scheduled_for"]) for r in runs)
    assert fired == [first + i * SECOND for i in range(20)]  # 20 runs, one per fire time
    assert {(r["run_type"], r["schedule_id"]) for r in runs} == {("scheduled", schedule["id"])}
    assert all(r["tags"] == ["nightly"] and r["metadata"] == {"team": "ops"} for r in runs)
    assert off.json()["last_run_id"] in {r["id"] for r in runs}


@pytest.mark.parametrize("backend", SCHEDULER_BACKENDS)
def test_fires_missed_while_no_server_ran_follow_the_misfire_policy(
    tmp_path: Path, backend: str
) -> None:
    # A grace of 0.5 s and a 3 s stop stand for the default 10 s and a 30 s stop.
    with shared_store(tmp_path, backend, schedule_poll_s=0.2, schedule_grace_s=0.5) as settings:
        with LiveServer(settings) as before, httpx.Client(base_url=before.url) as c:
            wf = _workflow(c)
            skip = _schedule(c, wf, name="skip", misfire_policy="skip")
            once = _schedule(c, wf, name="once", misfire_policy="run_once")
            for s in (skip, once):
                wait_until(lambda s=s: _count(c, s["id"]) >= 2, 20, "2 runs before the stop")
        time.sleep(3)
        restarted = datetime.now(UTC)
        with LiveServer(settings) as after, httpx.Client(base_url=after.url) as c:
            for s in (skip, once):
                wait_until(lambda s=s: _count(c, s["id"]) >= 5, 20, "runs after the restart")
                assert c.post(f"/wf/schedules/{s['id']}/toggle").json()["enabled"] is False
            by_schedule = {s["id"]: all_runs(c, schedule_id=s["id"]) for s in (skip, once)}
    for s, in_gap in ((skip, 0), (once, 1)):
        runs = by_schedule[s["id"]]
        stopped = max(when(r["scheduled_for"]) for r in runs if when(r["start_time"]) < restarted)
        gap = stopped + 2 * SECOND  # at least two fires fell in the 3 s stop
        times = sorted(when(r["scheduled_for"]) for r in runs)
        missed = [t for t in times if stopped < t <= gap]
        assert len(missed) == in_gap, (s["name"], times, stopped)
        assert len(times) == len(set(times))
        if in_gap:  # run_once: one run, for the first fire missed, started late
            (late,) = [r for r in runs if stopped < when(r["scheduled_for"]) <= gap]
            assert when(late["scheduled_for"]) == stopped + SECOND
            assert when(late["start_time"]) >= restarted
