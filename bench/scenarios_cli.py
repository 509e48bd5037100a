"""The command line as a client: ``spurline --server URL runs list`` against a real
server, each call a fresh process (as a user runs it). The figure is the whole
command: interpreter start, imports, one HTTP request, the table."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import time
from typing import Any

import httpx
import orjson
from _measure import CheckFailed, call, create_workflow, summary_ms
from _server import Server, spurline_command
from _workflows import chain


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _user_env() -> dict[str, str]:
    """This environment as a user's shell has it: no SPURLINE_ settings, and byte-code
    caching on (a sandbox may turn it off, which makes every start compile again)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPURLINE_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def cli_runs_list(runs: int, calls: int) -> dict[str, Any]:
    """``runs`` blocking runs on a fresh server, then ``calls`` times ``spurline runs list``
    (table) timed from start to exit; ``--json`` is checked once."""
    with Server() as server, httpx.Client(base_url=server.url, timeout=60) as client:
        definition, _ = chain(1, "static")
        wf = create_workflow(client, "cli", definition)
        for i in range(runs):
            call(
                client, "POST", f"/wf/{wf}/run/", json={"initial_inputs": {"input_node": {"v": i}}}
            )
        command = [*spurline_command(), "--server", server.url, "runs", "list"]
        env = _user_env()
        env["COLUMNS"] = "120"
        listed = subprocess.run(
            [*command, "--json"], env=env, capture_output=True, check=False, timeout=60
        )
        if listed.returncode != 0 or len(orjson.loads(listed.stdout)) != min(runs, 20):
            raise CheckFailed(f"runs list --json: {listed.returncode} {listed.stderr[:300]!r}")
        walls, cpus = [], []
        for _ in range(calls):
            cpu0, t0 = _children_cpu_s(), time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, check=False, timeout=60)
            walls.append(time.perf_counter() - t0)
            cpus.append(_children_cpu_s() - cpu0)
            if done.returncode != 0 or b"runs: page 1" not in done.stdout:
                raise CheckFailed(f"runs list: {done.returncode} {done.stderr[:300]!r}")
    return {
        "wall": summary_ms(walls),
        "cpu_median_ms": round(statistics.median(cpus) * 1000, 1),
        "median_ms": summary_ms(walls)["median_ms"],
        "cli": "spurline --server URL runs list",
    }


def fresh_make_run(repo: str, port: int, timeout_s: float = 600.0) -> dict[str, Any]:
    """``git clone REPO`` into a temporary folder, then ``make run`` there, timed from the
    start of ``make`` until the server prints "Spurline on http://" (the clone itself is
    not counted). Phases come from the files make leaves: the venv's python (venv made),
    ``.venv/.installed-run`` (pip done), then the banner (server up); the server is
    stopped afterwards. Uses whatever package index pip is configured with."""
    import signal
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="spurline-fresh-") as tmp:
        clone = Path(tmp) / "fresh"
        subprocess.run(["git", "clone", "-q", repo, str(clone)], check=True, timeout=120)
        env = _user_env()
        env.pop("VIRTUAL_ENV", None)
        marks = {
            "venv": clone / ".venv" / "bin" / "python",
            "pip": clone / ".venv" / ".installed-run",
        }
        seen: dict[str, float] = {}
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=clone,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        banner = None
        try:
            assert proc.stdout is not None
            os.set_blocking(proc.stdout.fileno(), False)
            buffer = b""
            while time.perf_counter() - t0 < timeout_s and proc.poll() is None:
                for name, path in marks.items():
                    if name not in seen and path.exists():
                        seen[name] = time.perf_counter() - t0
                buffer += proc.stdout.read() or b""
                if b"Spurline on http://" in buffer:
                    banner = time.perf_counter() - t0
                    break
                time.sleep(0.05)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        if banner is None:
            raise CheckFailed(f"make run printed no banner: {buffer[-500:]!r}")
        venv_s = seen.get("venv", 0.0)
        pip_s = seen.get("pip", banner)
        return {
            "total_s": round(banner, 2),
            "venv_s": round(venv_s, 2),
            "pip_install_s": round(pip_s - venv_s, 2),
            "serve_start_s": round(banner - pip_s, 2),
            "cli": "git clone REPO /tmp/fresh && cd /tmp/fresh && make run",
        }


if __name__ == "__main__":
    import argparse
    import json
    import socket

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5, help="timed 'runs list' commands")
    parser.add_argument("--fresh-clone", metavar="REPO", help="also time 'make run' on a clone")
    args = parser.parse_args()
    load = os.getloadavg()
    print(json.dumps({"scenario": "cli_runs_list", **cli_runs_list(20, args.calls)}))
    if args.fresh_clone:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        print(json.dumps({"scenario": "fresh_make_run", **fresh_make_run(args.fresh_clone, port)}))
    print(json.dumps({"loadavg_before": load, "loadavg_after": os.getloadavg()}))
