"""The Celery broker (Redis) restarts mid-run (docs/reliability.md#transient-store-errors).

A throwaway ``redis-server`` without persistence is the broker of ``spurline serve``
and ``spurline worker`` (on a throwaway PostgreSQL); it is stopped while 14 runs
execute and started again empty, so the messages it held are lost. Every run must
still end COMPLETED, soon, with no node executed twice and no traceback printed.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _flows import check_completed_once, start_runs, wait_under_way
from _procs import (
    Processes,
    ThrowawayPostgres,
    ThrowawayRedis,
    postgres_missing,
    started_postgres,
    wait_final,
)

MISSING = postgres_missing() or (None if shutil.which("redis-server") else "no redis-server")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"needs PostgreSQL: {MISSING}")

OUTAGE_S = 2.0


@pytest.fixture
def postgres() -> Iterator[ThrowawayPostgres]:
    yield from started_postgres()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_broker_restart_loses_no_run(
    tmp_path: Path, postgres: ThrowawayPostgres, redis: ThrowawayRedis
) -> None:
    log = tmp_path / "executions.log"
    env = {
        "SPURLINE_HOME": str(tmp_path / "home"),
        "SPURLINE_DATABASE_URL": postgres.url,
        "SPURLINE_TEMPLATES_DIR": str(tmp_path / "no-templates"),
        "SPURLINE_PYTHON_WORKERS": "8",
        "SPURLINE_EXECUTOR": "celery",
        "SPURLINE_BROKER_URL": redis.url,
        "SPURLINE_QUEUE_NAME": f"spurline-fault-{uuid.uuid4().hex[:12]}",
    }
    procs = Processes(tmp_path, env)
    try:
        url = procs.serve()
        # fewer slots than runs: some messages wait in Redis when it restarts, and are lost
        procs.spawn("worker", "--concurrency", "6", "--loglevel", "WARNING", name="worker")
        with httpx.Client(base_url=url, timeout=30) as client:
            run_ids = start_runs(client, log)
            wait_under_way(client, run_ids)
            redis.stop()
            time.sleep(OUTAGE_S)
            redis.start()
            fault_end = time.monotonic()
            runs = wait_final(client, run_ids, timeout=50)
            settled = time.monotonic() - fault_end
            print(f"broker back to every run final: {settled:.2f} s")
            check_completed_once(runs, log)
            # the lost messages were sent again on reconnection, not when their queued
            # lease ran out (SPURLINE_QUEUE_WAIT_S, 60 s)
            assert settled < 30
    finally:
        procs.close()
    output = procs.output()
    assert "Traceback" not in output, output[-6000:]
