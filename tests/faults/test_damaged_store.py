"""A damaged store (docs/reliability.md#a-damaged-store): a real ``spurline serve`` stores
runs in a SQLite file, stops, and garbage is written over pages of the file. Start-up
then says so in one line (file, what to do) and exits 1; a page damaged where only
requests read it is a 503 with that sentence; ``spurline db check`` finds it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import POSTGRES_URL, free_port, fresh_postgres_database

PAGE = 4096
RUNS = 5
STEP = {
    "nodes": [
        {"id": "in", "title": "In", "node_type": "InputNode", "config": {}},
        {"id": "p", "title": "P", "node_type": "PythonFuncNode", "config": {"code": "return {}"}},
    ],
    "links": [{"source_id": "in", "target_id": "p"}],
}


def spurline(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the ``spurline`` command on the store under ``home``."""
    return subprocess.run(
        [sys.executable, "-m", "spurline", *args],
        env={**os.environ, "SPURLINE_HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextmanager
def serving(home: Path, log: list[str] | None = None) -> Iterator[str]:
    """``spurline serve`` on the store under ``home``; stopped (SIGTERM) on exit, when
    what it printed after its banner is appended to ``log``."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "spurline", "serve", "--port", str(port)],
        env={**os.environ, "SPURLINE_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    try:
        # the banner comes once the port listens and the store is open
        banner = proc.stdout.readline()
        assert banner.startswith("Spurline on http://"), banner + proc.stdout.read()
        yield f"http://127.0.0.1:{port}"
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if log is not None:
            log.append(proc.stdout.read())
        proc.stdout.close()


def stored_runs(home: Path) -> list[str]:
    """Store ``RUNS`` completed runs through a real server; their ids."""
    with serving(home) as url, httpx.Client(base_url=url, timeout=60) as client:
        wf = client.post("/wf/", json={"name": "step", "definition": STEP}).json()["id"]
        ids = []
        for _ in range(RUNS):
            r = client.post(f"/wf/{wf}/start_run/", json={"initial_inputs": {"in": {}}})
            ids.append(r.json()["id"])
        deadline = time.monotonic() + 30
        while {client.get(f"/run/{i}/").json()["status"] for i in ids} != {"COMPLETED"}:
            assert time.monotonic() < deadline, "runs did not complete"
            time.sleep(0.05)
    # what the server left in the write-ahead log goes into the file, so the pages
    # damaged below are the ones read
    with sqlite3.connect(home / "spurline.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return ids


def statuses(home: Path) -> set[str]:
    """Every run's status, read from the file (the runs table is not damaged)."""
    with sqlite3.connect(f"file:{home / 'spurline.db'}?mode=ro", uri=True) as conn:
        return {row[0] for row in conn.execute("SELECT status FROM runs")}


def damage(db: Path, pages: list[int]) -> None:
    """Write garbage over the given pages (1-based, as SQLite numbers them)."""
    with db.open("r+b") as f:
        for page in pages:
            f.seek((page - 1) * PAGE)
            f.write(bytes(range(256)) * (PAGE // 256))


def root_pages(db: Path, table: str) -> list[int]:
    """The root pages of ``table`` and of its indexes."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE tbl_name = ? AND rootpage > 0", (table,)
        )
        return [int(r[0]) for r in rows]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "store"


def one_line_naming(home: Path, stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    line = lines[0]
    assert str(home / "spurline.db") in line
    assert "restore it from a backup, or run 'spurline db check'" in line
    return line


def test_a_healthy_store_checks_ok(home: Path) -> None:
    stored_runs(home)
    r = spurline(home, "db", "check")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[:2] == [
        f"store {home / 'spurline.db'} is whole",
        "integrity_check: ok (every page read)",
    ]
    assert "connected; migrations at head" in r.stdout


def test_a_damaged_file_is_one_line_at_start_and_exit_1(home: Path) -> None:
    stored_runs(home)
    damage(home / "spurline.db", [1])  # the header and the schema

    for command in (["serve", "--port", str(free_port())], ["runs", "list"]):
        r = spurline(home, *command)
        assert r.returncode == 1, (command, r.stdout, r.stderr)
        assert "file is not a database" in one_line_naming(home, r.stderr)

    check = spurline(home, "db", "check")
    assert check.returncode == 1
    assert "SQLite cannot read the file: file is not a database" in check.stderr
    assert "restore the store from a backup" in check.stderr


def test_a_page_damaged_where_the_server_recovers_runs_ends_its_start(home: Path) -> None:
    stored_runs(home)
    damage(home / "spurline.db", root_pages(home / "spurline.db", "runs"))

    r = spurline(home, "serve", "--port", str(free_port()))

    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the store ")
    assert "database disk image is malformed" in one_line_naming(home, last)


def test_a_damaged_page_at_run_time_is_503_never_500(home: Path) -> None:
    ids = stored_runs(home)
    damage(home / "spurline.db", root_pages(home / "spurline.db", "tasks"))

    log: list[str] = []
    with serving(home, log) as url, httpx.Client(base_url=url, timeout=60) as client:
        answers = [client.get(f"/run/{run_id}/") for run_id in ids]
        assert client.get("/health").status_code == 200
        listed = client.get("/wf/")
        wf = listed.json()[0]["id"]
        started = client.post(f"/wf/{wf}/start_run/", json={"initial_inputs": {"in": {}}})
        answers.append(started)

    assert listed.status_code == 200  # what is not damaged is still served
    assert {r.status_code for r in answers} == {503}
    detail: Any = answers[0].json()["detail"]
    assert detail == (
        f"the store {home / 'spurline.db'} is damaged (database disk image is malformed): "
        "restore it from a backup, or run 'spurline db check' to see what is damaged"
    )
    check = spurline(home, "db", "check")
    assert check.returncode == 1
    assert "integrity_check found" in check.stderr or "SQLite cannot read" in check.stderr
    assert statuses(home) == {"COMPLETED"}  # every run final, none run again
    assert "Traceback" not in log[0], log[0]


@pytest.mark.skipif(not POSTGRES_URL, reason="SPURLINE_TEST_POSTGRES_URL not set")
def test_db_check_on_postgresql_reports_connection_and_migrations(tmp_path: Path) -> None:
    url, drop = fresh_postgres_database()
    try:
        bare = spurline(tmp_path, "db", "check", SPURLINE_DATABASE_URL=url)
        assert bare.returncode == 1
        assert "connected, but the store has no tables ('spurline db upgrade')" in bare.stderr
        assert spurline(tmp_path, "db", "upgrade", SPURLINE_DATABASE_URL=url).returncode == 0
        ok = spurline(tmp_path, "db", "check", SPURLINE_DATABASE_URL=url)
        assert ok.returncode == 0, ok.stderr
        assert "connected; migrations at head" in ok.stdout
    finally:
        drop()
    gone = spurline(tmp_path, "db", "check", SPURLINE_DATABASE_URL=url)
    assert gone.returncode == 1
    assert "cannot read the store:" in gone.stderr
    assert "Traceback" not in gone.stderr
