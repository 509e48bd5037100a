"""Real processes for the store fault tests: a throwaway PostgreSQL server (its own
data folder and port, so restarting it touches no other test), and ``spurline serve``
/ ``spurline worker`` subprocesses logging to files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from tests.worker._cluster import stop_processes

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SPURLINE = str(Path(sys.executable).parent / "spurline")


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_missing() -> str | None:
    """Why a throwaway PostgreSQL cannot be started here, or None."""
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL binaries in {PG_BIN}"
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return "starting PostgreSQL as user postgres needs root and runuser"
    return None


class ThrowawayPostgres:
    """A PostgreSQL server of the test's own: ``initdb`` in a temporary folder owned
    by ``postgres``, on a free port, trusting local connections."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="spurline-pg-"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/spurline"
        self._as_postgres(
            [str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]
        )

    def _as_postgres(self, args: list[str]) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60"]
        self._as_postgres([*pg_ctl, "-o", options, "-l", str(self.dir / "log"), *args])

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._ctl("start")

    def stop(self) -> None:
        """Stop it as an operator's restart does: ``-m fast`` ends every connection."""
        self._ctl("-m", "fast", "stop")

    def create_database(self) -> None:
        """Create the ``spurline`` database the URL names."""
        self._as_postgres(
            [str(PG_BIN / "createdb"), "-h", str(self.dir), "-p", str(self.port), "spurline"]
        )

    def close(self) -> None:
        """Stop the server (if running) and remove its folder."""
        with contextlib.suppress(subprocess.SubprocessError):
            self._ctl("-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def started_postgres() -> Iterator[ThrowawayPostgres]:
    """For a fixture: a started throwaway PostgreSQL with the ``spurline`` database,
    removed at the end."""
    pg = ThrowawayPostgres()
    try:
        pg.start()
        pg.create_database()
        yield pg
    finally:
        pg.close()


class ThrowawayRedis:
    """A ``redis-server`` of the test's own on a free port, keeping nothing on disk (a
    restart loses what was queued, as a broker without persistence does)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it answers."""
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.folder)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop it (SIGTERM) and wait for it to exit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


class Processes:
    """``spurline`` subprocesses sharing ``env``, each logging to a file in ``logs``."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs = logs
        self.env = {**os.environ, **env}
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def spawn(self, *args: str, name: str) -> subprocess.Popen[bytes]:
        """Start ``spurline *args`` in a session of its own (the teardown reaches its
        Python pool too)."""
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [SPURLINE, *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append((proc, log))
        return proc

    def serve(self, timeout: float = 60) -> str:
        """Start ``spurline serve`` on a free port; returns its URL once it answers."""
        port = free_port()
        proc = self.spawn("serve", "--port", str(port), name=f"serve-{port}")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    return url
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"spurline serve did not start: {self.output()}")
            time.sleep(0.1)

    def output(self) -> str:
        """Everything the processes printed, each log under its name."""
        return "\n".join(
            f"== {log.name}\n{log.read_text(errors='replace')}" for _, log in self.procs
        )

    def close(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL), their children included."""
        stop_processes([proc for proc, _ in self.procs])


def wait_final(client: httpx.Client, run_ids: list[str], timeout: float) -> dict[str, Any]:
    """Poll until every run is COMPLETED, FAILED or CANCELED; returns them by id."""
    deadline = time.monotonic() + timeout
    runs: dict[str, Any] = {}
    while True:
        for rid in run_ids:
            if rid in runs:
                continue
            with contextlib.suppress(httpx.HTTPError):
                r = client.get(f"/run/{rid}/")
                if r.status_code == 200 and r.json()["status"] in (
                    "COMPLETED",
                    "FAILED",
                    "CANCELED",
                ):
                    runs[rid] = r.json()
        if len(runs) == len(run_ids):
            return runs
        if time.monotonic() > deadline:
            left = sorted(set(run_ids) - set(runs))
            raise AssertionError(f"runs not final after {timeout} s: {left}")
        time.sleep(0.1)
