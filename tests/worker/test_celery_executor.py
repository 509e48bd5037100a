"""The Celery executor against PostgreSQL and Redis: cancel reaches the worker, a run
whose message never arrived is taken over, a broker that is down loses no run, a
waiter enqueues again a run whose worker died.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import POSTGRES_URL, LiveServer
from tests.conftest import make_settings as settings_for

from _celery import REDIS_URL, celery_consumer
from spurline.engine.clock import new_id, now
from spurline.engine.plan import Plan
from spurline.engine.runs import new_run
from spurline.engine.states import RunStatus
from spurline.nodes.registry import node_types
from spurline.scaleout.executor import CeleryExecutor
from spurline.services.events import EventHub
from spurline.store import runs as run_q
from spurline.store.versions import versions
from spurline.worker.host import WorkerHost

pytestmark = pytest.mark.skipif(
    not (POSTGRES_URL and REDIS_URL),
    reason="set SPURLINE_TEST_POSTGRES_URL and SPURLINE_TEST_REDIS_URL (.ci/run does)",
)


def _workflow(code: str) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "in", "title": "In", "node_type": "InputNode", "config": {}},
            {
                "id": "work",
                "title": "Work",
                "node_type": "PythonFuncNode",
                "config": {"code": code},
            },
        ],
        "links": [{"source_id": "in", "target_id": "work"}],
    }


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[tuple[LiveServer, WorkerHost]]:
    """An API server and an in-process worker on PostgreSQL + Redis, with short leases."""
    settings, cleanup = settings_for(tmp_path, "postgres+celery", lease_s=1.0, queue_wait_s=1.0)
    try:
        with LiveServer(settings) as srv, celery_consumer().serving(settings) as host:
            yield srv, host
    finally:
        cleanup()


def _until(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def _create(client: httpx.Client, definition: dict[str, Any]) -> str:
    r = client.post("/wf/", json={"name": new_id("wf"), "definition": definition})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


def _status(client: httpx.Client, run_id: str) -> str:
    return str(client.get(f"/run/{run_id}/").json()["status"])


def test_cancel_in_the_store_stops_the_node_on_the_worker(
    deployed: tuple[LiveServer, WorkerHost], tmp_path: Path
) -> None:
    srv, host = deployed
    pidfile = tmp_path / "pid"
    code = (
        "import os, time\n"
        f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(60)\n"
        "return {}"
    )
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        wf = _create(client, _workflow(code))
        run_id = client.post(f"/wf/{wf}/start_run/", json={}).json()["id"]
        pid = int(_until(lambda: pidfile.exists() and pidfile.read_text(), "the node to start"))
        # Cancel as any API process would: only the store changes.
        srv.runtime.db.writer.run(lambda c: run_q.cancel_run(c, run_id, now(), "stop"))
        _until(lambda: not host.runtime.executor.active(), "the worker to drop the run")
        _until(lambda: not _alive(pid), "the node's process to end")
        run = client.get(f"/run/{run_id}/").json()
    assert run["status"] == "CANCELED"
    assert [t["status"] for t in run["tasks"]] == ["COMPLETED", "CANCELED"]


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its parent is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_a_run_whose_message_was_lost_is_taken_over(
    deployed: tuple[LiveServer, WorkerHost],
) -> None:
    srv, _ = deployed
    db = srv.runtime.db
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        wf = _create(client, _workflow("return {'ok': True}"))
        version_id = client.get(f"/wf/{wf}/versions/").json()[0]["id"]
        plan = Plan.of(db.read(lambda c: versions.get(c, version_id)), node_types())
        # Recorded with a queued lease that has already run out, and no message sent.
        run, tasks = new_run(plan, wf, {})
        run.lease_expires_at = now()
        db.writer.run(lambda c: run_q.insert_run(c, run, tasks))
        _until(lambda: _status(client, run.id) == "COMPLETED", "the takeover")
        view = client.get(f"/run/{run.id}/").json()
    assert view["outputs"] == {"in": {}, "work": {"ok": True}}


def test_a_run_started_while_the_broker_is_down_is_recorded(tmp_path: Path) -> None:
    nothing_listens = "redis://127.0.0.1:9/0"
    settings, cleanup = settings_for(tmp_path, "postgres+celery", broker_url=nothing_listens)
    try:
        with LiveServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60) as client:
            wf = _create(client, _workflow("return {}"))
            r = client.post(f"/wf/{wf}/start_run/", json={})
            assert r.status_code in (200, 202), r.text
            run = srv.runtime.db.read(lambda c: run_q.get_run(c, r.json()["id"]))
            # Queued, unowned: the takeover enqueues it once the broker is back.
            assert run.status is RunStatus.PENDING
            assert run.lease_owner is None
    finally:
        cleanup()


def test_a_waiter_enqueues_again_a_run_whose_worker_died(tmp_path: Path) -> None:
    # Long leases keep the periodic takeover (every lease_s / 2) out of the way; the
    # waiter below checks the lease every 0.5 s, as a parent waiting on a child does.
    settings, cleanup = settings_for(tmp_path, "postgres+celery", lease_s=60.0)
    try:
        with (
            LiveServer(settings) as srv,
            celery_consumer().serving(settings),
            httpx.Client(base_url=srv.url, timeout=30) as client,
        ):
            rt = srv.runtime
            wf = _create(client, _workflow("return {'ok': True}"))
            version_id = client.get(f"/wf/{wf}/versions/").json()[0]["id"]
            run, tasks = new_run(
                Plan.of(rt.db.read(lambda c: versions.get(c, version_id)), node_types()), wf, {}
            )
            run.lease_owner, run.lease_expires_at = "dead-worker", now() - timedelta(seconds=1)
            rt.db.writer.run(lambda c: run_q.insert_run(c, run, tasks))
            # a hub of its own, never started: woken by nothing, the waiter must find
            # the lapsed lease by its own checks
            hub = EventHub(rt.db)
            waiter = CeleryExecutor(
                rt.db, rt.engine, settings.model_copy(update={"lease_s": 0.5}), "waiter", hub
            )
            try:
                status = asyncio.run(waiter.wait(run.id, 20))
            finally:
                asyncio.run(waiter.close())
                # its PostgreSQL listener thread would outlive the test's database and
                # log reconnect failures into later tests
                asyncio.run(hub.close())
    finally:
        cleanup()
    assert status is RunStatus.COMPLETED
