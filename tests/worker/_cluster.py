"""A Spurline deployment on loopback for scale-out tests and benchmarks: API server
and worker subprocesses sharing a fresh PostgreSQL database and a Redis queue.

Each cluster gets its own database and its own queue name, so clusters of
concurrent test sessions never see each other's runs or messages.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get(
    "SPURLINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: A Redis DB number of the scale-out tests' own; queues are unique per cluster too.
REDIS_URL = os.environ.get("SPURLINE_TEST_SCALE_REDIS_URL", "redis://127.0.0.1:6379/13")
SPURLINE = str(Path(sys.executable).parent / "spurline")


def services_down() -> str | None:
    """Why PostgreSQL or Redis cannot be used, or None when both answer."""
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_URL} is down ({type(exc).__name__})"
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        return f"Redis at {REDIS_URL} is down ({type(exc).__name__})"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process, SIGKILL what is left after 15 s, then its whole session:
    the leftovers, such as the PythonFuncNode pool of a killed worker."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


class Cluster:
    """API servers and workers as real processes; ``with Cluster(tmp) as c: ...``.

    Args:
        home: folder for logs and ``SPURLINE_HOME``.
        env: extra ``SPURLINE_*`` settings for every process.
    """

    def __init__(self, home: Path, **env: str) -> None:
        self.home = home
        self.db_name = f"spurline_scale_{uuid.uuid4().hex[:12]}"
        self.database_url = (
            make_url(POSTGRES_URL).set(database=self.db_name).render_as_string(hide_password=False)
        )
        self.queue = f"spurline-test-{uuid.uuid4().hex[:12]}"
        self.env = {
            **os.environ,
            "SPURLINE_HOME": str(home / "store"),
            "SPURLINE_DATABASE_URL": self.database_url,
            "SPURLINE_EXECUTOR": "celery",
            "SPURLINE_BROKER_URL": REDIS_URL,
            "SPURLINE_QUEUE_NAME": self.queue,
            **env,
        }
        self.apis: list[tuple[subprocess.Popen[bytes], str]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self._admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")

    def __enter__(self) -> Cluster:
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.db_name}"'))
        return self

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        # A session of its own, so the teardown can reach the process's children too.
        with (self.home / log_name).open("wb") as log:
            return subprocess.Popen(
                [SPURLINE, *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_api(self) -> str:
        """Start ``spurline serve`` on a free port; returns its base URL (see :meth:`ready`)."""
        port = _free_port()
        proc = self._spawn(["serve", "--port", str(port)], f"api-{port}.log")
        url = f"http://127.0.0.1:{port}"
        self.apis.append((proc, url))
        return url

    def ready(self, timeout: float = 90) -> None:
        """Wait until every API server answers ``/health``."""
        deadline = time.monotonic() + timeout
        for proc, url in self.apis:
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"API {url} did not start; see {self.home}")
                time.sleep(0.1)

    def start_worker(self, concurrency: int = 4) -> subprocess.Popen[bytes]:
        """Start ``spurline worker``; returns the process (its pid owns its leases)."""
        n = len(self.workers)
        proc = self._spawn(
            ["worker", "--concurrency", str(concurrency), "--loglevel", "WARNING"],
            f"worker-{n}.log",
        )
        self.workers.append(proc)
        return proc

    def query(self, sql: str, **params: Any) -> list[Any]:
        """Rows of a SQL query on the cluster's database."""
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql), params))
        finally:
            engine.dispose()

    def __exit__(self, *exc: object) -> None:
        stop_processes([p for p, _ in self.apis] + self.workers)
        import redis

        q = self.queue  # the queue and kombu's records of its bindings
        redis.Redis.from_url(REDIS_URL).delete(
            q, f"_kombu.binding.{q}", f"_kombu.binding_permanent.{q}"
        )
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        self._admin.dispose()
