"""Clean shutdown of ``spurline worker`` (docs/reliability.md#clean-shutdown), on real
PostgreSQL, Redis and Celery: SIGTERM lets the node in flight finish within
SPURLINE_SHUTDOWN_GRACE_S and exits 0; past the grace the run is handed over to the
other worker at once instead of after its lease (10 s here).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from tests.worker._cluster import Cluster, services_down

from spurline.engine.records import INTERRUPTED_ERROR

pytestmark = pytest.mark.skipif(services_down() is not None, reason=str(services_down()))


def _definition(log: Path, seconds: float) -> dict[str, object]:
    def mark(m: str) -> str:
        return f"with open({str(log)!r}, 'a') as f:\n    f.write({m!r} + '\\n')\n"

    slow = mark("start") + f"import time\ntime.sleep({seconds})\n" + mark("end") + "return {}"
    return {
        "nodes": [
            {"id": "in", "title": "In", "node_type": "InputNode", "config": {}},
            {
                "id": "slow",
                "title": "Slow",
                "node_type": "PythonFuncNode",
                "config": {"code": slow},
            },
        ],
        "links": [{"source_id": "in", "target_id": "slow"}],
    }


def _marks(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def _until(what: str, check: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.parametrize("grace", [20.0, 1.0])
def test_sigterm_to_a_worker(tmp_path: Path, grace: float) -> None:
    log = tmp_path / "executions.log"
    env = {"SPURLINE_SHUTDOWN_GRACE_S": str(grace), "SPURLINE_LEASE_S": "10"}
    with Cluster(tmp_path, **env) as cluster:
        url = cluster.start_api()
        workers = [cluster.start_worker(2), cluster.start_worker(2)]
        cluster.ready()
        with httpx.Client(base_url=url, timeout=30) as c:
            wf = c.post("/wf/", json={"name": "slow", "definition": _definition(log, 3)}).json()
            run_id = c.post(f"/wf/{wf['id']}/start_run/", json={"initial_inputs": {}}).json()["id"]

        def owner() -> str | None:
            rows = cluster.query("SELECT lease_owner FROM runs WHERE id = :r", r=run_id)
            return str(rows[0][0]) if rows[0][0] else None

        _until("the slow node", lambda: "start" in _marks(log))
        first = owner()
        assert first is not None
        pid = int(first.split(":")[1])
        victim = next(w for w in workers if w.pid == pid)
        os.kill(victim.pid, signal.SIGTERM)
        termed = time.monotonic()
        code = victim.wait(timeout=60)
        exited = time.monotonic()

        def status() -> str:
            return str(cluster.query("SELECT status FROM runs WHERE id = :r", r=run_id)[0][0])

        _until("the run's end", lambda: status() in ("COMPLETED", "FAILED", "CANCELED"))
        ended = time.monotonic()
        final = status()
        tries = cluster.query(
            "SELECT number, error, started_by FROM task_attempts "
            "WHERE run_id = :r AND node_id = 'slow' ORDER BY number",
            r=run_id,
        )
    assert code == 0
    assert final == "COMPLETED"
    if grace > 3:  # the node finished within the grace, on the worker told to stop
        assert _marks(log) == ["start", "end"]
        assert [tuple(t) for t in tries] == [(1, None, "run")]
    else:  # handed over: run again by the other worker, once
        assert _marks(log) == ["start", "start", "end"]
        assert [tuple(t) for t in tries] == [(1, INTERRUPTED_ERROR, "run"), (2, None, "takeover")]
        assert ended - exited < 8  # not after the 10 s lease: handed over at once
    print(
        f"\n[worker grace {grace:g} s] SIGTERM -> exit 0 {exited - termed:.2f} s; "
        f"exit -> run COMPLETED {ended - exited:.2f} s"
    )
