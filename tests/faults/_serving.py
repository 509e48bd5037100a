"""Real ``spurline serve`` processes on a SQLite home, and reads of that store, for the
poison-run and shutdown fault tests (docs/reliability.md).

Each server runs in its own process group (its PythonFuncNode workers with it), so a
test can kill it whole, as the kernel's OOM killer or a container stop would.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import free_port


@dataclass
class Server:
    """One ``spurline serve`` subprocess; ``spawned`` / ``ready``: monotonic times of
    its start and of its first answer to /health."""

    proc: subprocess.Popen[bytes]
    url: str
    spawned: float
    ready: float = 0.0
    out: Path = field(default=Path())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the server's whole process group (no-op when it is gone)."""
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def output(self) -> str:
        return self.out.read_text(errors="replace") if self.out.exists() else ""

    def logged_gap(self, first: str, then: str) -> float:
        """Seconds between the first log lines containing ``first`` and ``then``
        (from the server's own timestamps)."""
        stamps = {}
        for line in self.output().splitlines():
            for key in (first, then):
                if key in line and key not in stamps:
                    stamps[key] = datetime.fromisoformat(line.split()[0].replace("Z", "+00:00"))
        return (stamps[then] - stamps[first]).total_seconds()


def serve(home: Path, logs: Path, may_die: bool = False, **env: str) -> Server:
    """Start ``spurline serve`` on the store in ``home`` with ``SPURLINE_<K>=v`` settings
    (``env``) and wait until it answers (or, with ``may_die``, until it started and
    died: a poison node may kill it first); its output goes to a file in ``logs``."""
    port = free_port()
    logs.mkdir(parents=True, exist_ok=True)
    out = logs / f"serve-{port}-{time.monotonic_ns()}.log"
    full_env = {**os.environ, "SPURLINE_HOME": str(home), "SPURLINE_PYTHON_WORKERS": "1"}
    full_env.update({f"SPURLINE_{k.upper()}": v for k, v in env.items()})
    full_env.pop("SPURLINE_DATABASE_URL", None)
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "spurline", "serve", "--port", str(port)],
            env=full_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", time.monotonic(), out=out)
    deadline = time.monotonic() + 45
    while True:
        with suppress(httpx.TransportError):
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                server.ready = time.monotonic()
                return server
        if proc.poll() is not None:
            if may_die and "Application startup complete" in server.output():
                return server
            raise AssertionError(f"server exited at start:\n{server.output()}")
        if time.monotonic() > deadline:
            server.kill()
            raise AssertionError(f"server did not start:\n{server.output()}")
        time.sleep(0.02)


def python_node(node_id: str, code: str) -> dict[str, Any]:
    return {
        "id": node_id,
        "title": node_id,
        "node_type": "PythonFuncNode",
        "config": {"code": code},
    }


def marking(log: Path, mark: str, then: str = "return {'ok': True}") -> str:
    """Node code that appends ``mark`` to ``log`` (one line per execution), then ``then``."""
    return f"with open({str(log)!r}, 'a') as f:\n    f.write({mark!r} + '\\n')\n{then}"


def workflow(nodes: list[dict[str, Any]], links: list[tuple[str, str]]) -> dict[str, Any]:
    inp = {"id": "in", "title": "In", "node_type": "InputNode", "config": {}}
    return {
        "nodes": [inp, *nodes],
        "links": [{"source_id": s, "target_id": t} for s, t in links],
    }


def start_run(url: str, definition: dict[str, Any]) -> str:
    with httpx.Client(base_url=url, timeout=30) as c:
        r = c.post("/wf/", json={"name": "fault", "definition": definition})
        assert r.status_code == 200, r.text
        run = c.post(f"/wf/{r.json()['id']}/start_run/", json={"initial_inputs": {"in": {}}})
        assert run.status_code == 200, run.text
        return str(run.json()["id"])


def executions(log: Path) -> Counter[str]:
    """How many times each mark was written (each node execution writes its mark)."""
    return Counter(log.read_text().split()) if log.exists() else Counter()


def _connect(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{home / 'spurline.db'}?mode=ro", uri=True, timeout=10)


def run_row(home: Path, run_id: str) -> dict[str, Any]:
    """The stored run: status, message, lease_owner and its tasks {node: status}."""
    conn = _connect(home)
    try:
        status, message, owner = conn.execute(
            "SELECT status, message, lease_owner FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        tasks = dict(conn.execute("SELECT node_id, status FROM tasks WHERE run_id = ?", (run_id,)))
        return {"status": status, "message": message, "owner": owner, "tasks": tasks}
    finally:
        conn.close()


def attempts(home: Path, run_id: str, node_id: str) -> list[tuple[int, str | None, str]]:
    """A task's stored attempts, oldest first: (number, error, started_by)."""
    conn = _connect(home)
    try:
        return list(
            conn.execute(
                "SELECT number, error, started_by FROM task_attempts "
                "WHERE run_id = ? AND node_id = ? ORDER BY number",
                (run_id, node_id),
            )
        )
    finally:
        conn.close()


def wait_for(what: str, check: Any, timeout: float = 30, step: float = 0.01) -> Any:
    """Poll ``check()`` until it returns something truthy; returns that."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(step)


def outputs(url: str, run_id: str) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=30) as c:
        body = c.get(f"/run/{run_id}/").json()
    return {"message": body["message"], "tasks": {t["node_id"]: t for t in body["tasks"]}}
