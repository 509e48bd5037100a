"""A real ``spurline serve`` subprocess with its own SPURLINE_HOME, and its memory figures."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status_kb(pid: int, field: str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (the PythonFuncNode pool and its forkserver)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    frontier = [pid]
    while frontier:
        kids = [k for p in frontier for k in parents.get(p, [])]
        out.extend(kids)
        frontier = kids
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spurline_command() -> list[str]:
    """How to start the CLI of the Spurline installed next to this Python."""
    script = Path(sys.executable).parent / "spurline"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from spurline.cli.main import app; app()"]


class Server:
    """``spurline serve`` on a free loopback port, store in ``home`` (a temp dir by default).

    Use as a context manager; ``memory()`` gives peak RSS (VmHWM) of the server
    process and of its worker processes, in MiB.
    """

    def __init__(self, home: Path | None = None, env: dict[str, str] | None = None) -> None:
        self._own_home = home is None
        self.home = home or Path(tempfile.mkdtemp(prefix="spurline-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "SPURLINE_HOME": str(self.home), **(env or {})}
        self.env.pop("SPURLINE_DATABASE_URL", None)
        self.command = [*spurline_command(), "serve", "--port", str(self.port)]
        self.proc: subprocess.Popen[bytes] | None = None
        self._workers_hwm: dict[int, int] = {}

    @property
    def database_url(self) -> str:
        """The SQLite URL the server uses (seed it before ``start``)."""
        return f"sqlite:///{self.home.resolve() / 'spurline.db'}"

    def start(self, timeout: float = 60) -> Server:
        """Start and wait until ``/health`` answers (``timeout`` seconds at most)."""
        log = (self.home / "server.log").open("ab")
        self.proc = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {log.name}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not answer /health within {timeout:g} s")

    def sample_workers(self) -> None:
        """Record the workers' peak RSS now (they may be replaced before ``memory()``)."""
        if self.proc is None:
            return
        for pid in descendants(self.proc.pid):
            hwm = _status_kb(pid, "VmHWM")
            if hwm is not None:
                self._workers_hwm[pid] = max(hwm, self._workers_hwm.get(pid, 0))

    def memory(self) -> dict[str, Any]:
        """Peak RSS in MiB: the server process, and the largest of its worker processes."""
        if self.proc is None:
            return {}
        self.sample_workers()
        hwm = _status_kb(self.proc.pid, "VmHWM") or 0
        workers = list(self._workers_hwm.values())
        return {
            "server_peak_rss_mb": round(hwm / 1024, 1),
            "worker_processes": len(workers),
            "worker_peak_rss_mb": round(max(workers, default=0) / 1024, 1),
        }

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by the server process and by its live worker processes."""
        if self.proc is None:
            return {"server": 0.0, "workers": 0.0}
        workers = sum(cpu_seconds(p) for p in descendants(self.proc.pid))
        return {"server": cpu_seconds(self.proc.pid), "workers": workers}

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s; removes the temp home it made."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
