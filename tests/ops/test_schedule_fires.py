"""Schedules fire exactly once per fire time however many servers run, and after a
downtime follow their misfire policy (docs/operations.md). Real servers on one store:
SQLite file, or PostgreSQL with runs executed by a Celery worker.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
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


def _late_fires(runs: list[dict[str, Any]], restarted: datetime) -> tuple[datetime, list[Any]]:
    """The last fire before the stop, and the fire times of runs for fires missed while
    no server ran (due before the restart, started after it)."""
    stopped = max(when(r["scheduled_for"]) for r in runs if when(r["start_time"]) < restarted)
    missed = [
        when(r["scheduled_for"]) for r in runs if stopped < when(r["scheduled_for"]) < restarted
    ]
    return stopped, missed


def test_a_30_s_stop_follows_the_misfire_policy(tmp_path: Path) -> None:
    # Every backend's servers stop at the same time, so one 30 s stop serves them all;
    # the grace period is the default (10 s), so every fire of the stop is missed.
    stores, schedules, counts = {}, {}, {}
    with ExitStack() as stack:
        for backend in SCHEDULER_BACKENDS:
            (tmp_path / backend).mkdir()
            stores[backend] = stack.enter_context(
                shared_store(tmp_path / backend, backend, schedule_poll_s=0.2)
            )
        with ExitStack() as before:
            for backend, settings in stores.items():
                srv = before.enter_context(LiveServer(settings))
                c = before.enter_context(httpx.Client(base_url=srv.url, timeout=60))
                wf = _workflow(c)
                schedules[backend] = [
                    _schedule(c, wf, name="skip", misfire_policy="skip"),
                    _schedule(c, wf, name="run_once", misfire_policy="run_once"),
                ]
                for s in schedules[backend]:
                    wait_until(lambda s=s, c=c: _count(c, s["id"]) >= 2, 30, "2 runs before")
        time.sleep(30)
        restarted = datetime.now(UTC)
        with ExitStack() as after:
            for backend, settings in stores.items():
                srv = after.enter_context(LiveServer(settings))
                c = after.enter_context(httpx.Client(base_url=srv.url, timeout=60))
                for s in schedules[backend]:
                    # an on-time fire after the restart shows the late one was handled
                    wait_until(
                        lambda s=s, c=c: any(
                            when(r["scheduled_for"]) > restarted
                            for r in all_runs(c, schedule_id=s["id"])
                        ),
                        30,
                        "a fire after the restart",
                    )
                    off = c.post(f"/wf/schedules/{s['id']}/toggle")
                    assert off.status_code == 200 and off.json()["enabled"] is False
                    counts[s["id"]] = all_runs(c, schedule_id=s["id"])
    for backend, (skip, once) in schedules.items():
        _, missed = _late_fires(counts[skip["id"]], restarted)
        assert missed == [], (backend, "skip started runs for missed fires", missed)
        stopped, missed = _late_fires(counts[once["id"]], restarted)
        # run_once: exactly one run, for the first fire missed, started after the restart
        assert missed == [stopped + SECOND], (backend, missed)
        for runs in (counts[skip["id"]], counts[once["id"]]):
            times = [when(r["scheduled_for"]) for r in runs]
            assert len(times) == len(set(times)), (backend, "a fire time ran twice")
