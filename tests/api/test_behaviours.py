"""Behaviours other engines get wrong (issue 2), each proven over real HTTP."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from tests.api._contract import (
    assert_still_serving,
    link,
    node,
    one_step,
    py,
    start,
    wait_run,
)
from tests.conftest import LiveServer


@pytest.fixture
def client(shared_client: httpx.Client) -> httpx.Client:
    """These tests look only at their own runs, so one server per backend serves all."""
    return shared_client


def appender(log_file: Path, label: str) -> str:
    """Code that appends one line to ``log_file`` per call and returns its inputs' titles."""
    return (
        "import pathlib\n"
        f"with open({str(log_file)!r}, 'a') as f:\n"
        f"    f.write({label!r} + '\\n')\n"
        "return {'saw': sorted(input_model.keys())}"
    )


def test_node_with_several_parents_runs_once_after_all(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    calls = tmp_path / "calls.log"
    sleepy = "import time\ntime.sleep({s})\nreturn {{'slept': {s}}}"
    definition = {
        "nodes": [
            node("in", "InputNode", "In"),
            py(sleepy.format(s=0.3), "slow", "Slow"),
            py(sleepy.format(s=0.0), "fast", "Fast"),
            node("static", "StaticValueNode", "Static", values={"v": 1}),
            py(appender(calls, "join"), "join", "Join"),
        ],
        "links": [
            link("in", "slow"),
            link("in", "fast"),
            link("in", "static"),
            link("slow", "join"),
            link("fast", "join"),
            link("static", "join"),
            link("in", "join"),
        ],
    }
    run = wait_run(client, start(client, make_workflow(definition)))
    assert run["status"] == "COMPLETED"
    assert calls.read_text() == "join\n"
    tasks = {t["node_id"]: t for t in run["tasks"]}
    assert tasks["join"]["inputs"] == {
        "In": {},
        "Slow": {"slept": 0.3},
        "Fast": {"slept": 0.0},
        "Static": {"v": 1},
    }
    assert tasks["join"]["outputs"] == {"saw": ["Fast", "In", "Slow", "Static"]}
    parents_end = max(tasks[p]["end_time"] for p in ("in", "slow", "fast", "static"))
    assert tasks["join"]["start_time"] >= parents_end


# -- a GET never writes ---------------------------------------------------------------


def rows_digest(server: LiveServer) -> str:
    """A digest of every row of every run/workflow table. On PostgreSQL each row's
    ``xmin`` is included, which changes even when an UPDATE rewrites identical values.
    """
    db = server.runtime.db
    tables = ["workflows", "workflow_versions", "runs", "tasks", "pause_records"]
    xmin = "xmin::text, " if db.dialect == "postgresql" else ""
    digest = hashlib.sha256()
    with db.read_engine.connect() as conn:
        for table in tables:
            for row in conn.execute(text(f"SELECT {xmin}* FROM {table} ORDER BY id")):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def test_get_never_writes(
    shared_server: LiveServer, client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    server = shared_server
    wf_id = make_workflow(one_step("return {'x': 1}"))
    run_ids = [start(client, wf_id) for _ in range(3)]
    for run_id in run_ids:
        wait_run(client, run_id)
    paths = [
        "/run/",
        "/run",
        "/run/?page=1&page_size=100&status=COMPLETED&parent_only=true",
        "/wf/",
        f"/wf/{wf_id}/",
        f"/wf/{wf_id}/versions/",
        f"/wf/{wf_id}/runs/",
        "/run/RNOPE/",
        "/openapi.json",
    ]
    for run_id in run_ids:
        paths += [f"/run/{run_id}/", f"/run/{run_id}/status/", f"/run/{run_id}/tasks/"]
        paths += [f"/run/{run_id}/children/"]
    # SQLite bumps data_version for a connection whenever another one commits a change.
    watcher = None
    if server.runtime.db.dialect == "sqlite":
        path = server.settings.resolved_database_url().removeprefix("sqlite:///")
        watcher = sqlite3.connect(path)
        version = watcher.execute("PRAGMA data_version").fetchone()[0]
    before = rows_digest(server)
    for _ in range(10):
        for path in paths:
            expected = 404 if "NOPE" in path else 200
            assert client.get(path).status_code == expected, path
    assert rows_digest(server) == before
    if watcher is not None:
        assert watcher.execute("PRAGMA data_version").fetchone()[0] == version
        watcher.close()


# -- percentage_complete --------------------------------------------------------------


def test_percentage_never_exceeds_100_nor_reaches_it_early(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    step = "import time\ntime.sleep(0.05)\nreturn {'i': 1}"
    nodes = [node("in", "InputNode")] + [py(step, f"s{i}") for i in range(6)]
    links = [link("in", "s0")] + [link(f"s{i}", f"s{i + 1}") for i in range(5)]
    run_id = start(client, make_workflow({"nodes": nodes, "links": links}))
    observed: list[tuple[str, float]] = []
    while True:
        run = client.get(f"/run/{run_id}/").json()
        observed.append((run["status"], run["percentage_complete"]))
        if run["status"] in ("COMPLETED", "FAILED"):
            break
    assert observed[-1] == ("COMPLETED", 100.0)
    for status, pct in observed:
        assert 0.0 <= pct <= 100.0
        assert (pct == 100.0) == (status == "COMPLETED")
    percentages = [pct for _, pct in observed]
    assert percentages == sorted(percentages)
    # Intermediate values are k of 7 tasks, rounded to 2 decimals; in the instant
    # between the last task's commit and the run's, 7 of 7 shows as 99.99, not 100.
    assert set(percentages) <= {round(100 * k / 7, 2) for k in range(7)} | {99.99, 100.0}


# -- a runaway node -----------------------------------------------------------------------


def test_runaway_code_times_out_and_the_server_stays_fine(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf_id = make_workflow(one_step("while True:\n    pass", timeout_s=0.5))
    run = wait_run(client, start(client, wf_id), deadline_s=30)
    assert run["status"] == "FAILED"
    error = "TimeoutError: the code ran longer than 0.5 s"
    assert run["tasks"][1]["error"] == error
    assert run["message"] == f"Node 'p' failed: {error}"
    assert_still_serving(client, make_workflow)
