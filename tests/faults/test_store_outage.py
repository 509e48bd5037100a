"""PostgreSQL goes away mid-run and comes back (docs/reliability.md#transient-store-errors).

A throwaway PostgreSQL server is stopped with ``-m fast`` (every connection cut) while
14 runs (chains of slow Python nodes, and loops) execute, kept down for a few seconds,
and started again. Nothing is restarted but the database: every run must end
COMPLETED, no node may execute twice, requests during the outage get 503 with
``Retry-After`` (never 500), and no process prints a traceback.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _flows import chain, check_completed_once, start_runs, wait_under_way
from _procs import (
    Processes,
    ThrowawayPostgres,
    postgres_missing,
    started_postgres,
    wait_final,
)

MISSING = postgres_missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"needs PostgreSQL: {MISSING}")

OUTAGE_S = 3.0
LEASE_S = 2.0
BROKER = "redis://127.0.0.1:6379/14"


class Poller:
    """Requests a run over and over in a thread, noting each answer's status."""

    def __init__(self, url: str, run_id: str) -> None:
        self.url, self.run_id = url, run_id
        self.answers: list[tuple[int, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                try:
                    r = client.get(f"/run/{self.run_id}/")
                    self.answers.append((r.status_code, r.headers.get("retry-after")))
                except httpx.HTTPError:
                    self.answers.append((0, None))
                time.sleep(0.05)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def postgres() -> Iterator[ThrowawayPostgres]:
    yield from started_postgres()


@pytest.mark.parametrize("executor", ["local", "celery"])
def test_postgres_restart_mid_run_fails_nothing(
    tmp_path: Path, postgres: ThrowawayPostgres, executor: str
) -> None:
    log = tmp_path / "executions.log"
    env = {
        "SPURLINE_HOME": str(tmp_path / "home"),
        "SPURLINE_DATABASE_URL": postgres.url,
        # a request waits this long for the store, then gets its 503
        "SPURLINE_STORE_REQUEST_RETRY_S": "0.5",
        "SPURLINE_TEMPLATES_DIR": str(tmp_path / "no-templates"),
        # the nodes sleep: enough processes that they do not queue for the pool
        "SPURLINE_PYTHON_WORKERS": "8",
        # the outage outlasts the runs' leases: nobody may take them over for that
        "SPURLINE_LEASE_S": str(LEASE_S),
    }
    if executor == "celery":
        env |= {
            "SPURLINE_EXECUTOR": "celery",
            "SPURLINE_BROKER_URL": BROKER,
            "SPURLINE_QUEUE_NAME": f"spurline-fault-{uuid.uuid4().hex[:12]}",
        }
    procs = Processes(tmp_path, env)
    try:
        url = procs.serve()
        if executor == "celery":
            procs.spawn("worker", "--concurrency", "20", "--loglevel", "WARNING", name="worker")
        with httpx.Client(base_url=url, timeout=30) as client:
            run_ids = start_runs(client, log)
            wait_under_way(client, run_ids)
            with Poller(url, run_ids[0]) as poller:
                postgres.stop()
                time.sleep(1.0)
                # a write during the outage: 503 naming the store
                r = client.post("/wf/", json={"name": "later", "definition": chain(log)})
                assert r.status_code == 503, r.text
                assert r.json()["detail"].startswith("the store is unavailable")
                assert int(r.headers["retry-after"]) > 0
                time.sleep(OUTAGE_S - 1.0)
                postgres.start()
                fault_end = time.monotonic()
                runs = wait_final(client, run_ids, timeout=45)
                settled = time.monotonic() - fault_end
            print(f"[{executor}] fault end to every run final: {settled:.2f} s")

            check_completed_once(runs, log)

            codes = Counter(code for code, _ in poller.answers)
            assert codes[500] == 0, codes
            assert codes[503] >= 1, codes  # the outage was seen, and answered 503
            assert all(after for code, after in poller.answers if code == 503)
            assert codes[200] >= 1
            # the last answers, after the outage, are 200 again
            assert poller.answers[-1][0] == 200
    finally:
        procs.close()
    output = procs.output()
    assert "Traceback" not in output, output[-6000:]
