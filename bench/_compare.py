"""Running two versions of Spurline side by side: servers of this checkout and of a
baseline ``src`` folder take one request (or run) each in turn, so a change in the
machine's load touches each alike. Used by bench/security.py and bench/observability.py.
"""

from __future__ import annotations

import os
import statistics
import subprocess
from typing import Any

import httpx
from _measure import blocking_run, create_workflow
from _server import Server
from _workflows import chain

#: a loaded machine can take more than a minute to start a server and its pool
START_TIMEOUT_S = 300


def load() -> str:
    """``uptime`` now (the load averages beside a measurement)."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def env_with_src(src: str | None, **extra: str) -> dict[str, str]:
    """Settings for a server; with ``src``, the Spurline of that folder is imported first."""
    env = dict(extra)
    if src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    return env


def servers(configs: dict[str, dict[str, str]]) -> dict[str, Server]:
    """One (not yet started) server per named environment."""
    return {name: Server(env=env) for name, env in configs.items()}


def chain_per_node(configs: dict[str, dict[str, str]], runs: int, n: int = 50) -> dict[str, Any]:
    """ms per node of the ``n``-node python chain on servers side by side, runs
    alternating; CPU ms per node of each server process and of its worker processes.

    Returns ``{name: {per_node_ms, server_cpu_ms_per_node, workers_cpu_ms_per_node}}``.
    """
    definition, expect = chain(n, "python")
    tasks = n + 2
    srvs = servers(configs)
    walls: dict[str, list[float]] = {name: [] for name in srvs}
    cpu: dict[str, dict[str, float]] = {}
    try:
        clients, workflows = {}, {}
        for name, srv in srvs.items():
            srv.start(timeout=START_TIMEOUT_S)
            clients[name] = httpx.Client(base_url=srv.url, timeout=300)
            workflows[name] = create_workflow(clients[name], "bench-chain", definition)
            for i in range(2):  # warm-up: imports, plan cache, pool start
                blocking_run(clients[name], workflows[name], 1000 + i, expect(1000 + i))
        cpu0 = {name: srv.cpu() for name, srv in srvs.items()}
        for i in range(runs):
            for name, c in clients.items():
                walls[name].append(blocking_run(c, workflows[name], i, expect(i)))
        for name, srv in srvs.items():
            now_cpu = srv.cpu()
            cpu[name] = {k: (now_cpu[k] - cpu0[name][k]) * 1000 / runs / tasks for k in now_cpu}
    finally:
        for srv in srvs.values():
            srv.stop()
    return {
        name: {
            "per_node_ms": round(statistics.median(walls[name]) * 1000 / tasks, 4),
            "server_cpu_ms_per_node": round(cpu[name]["server"], 4),
            "workers_cpu_ms_per_node": round(cpu[name]["workers"], 4),
        }
        for name in srvs
    }


def ratios(out: dict[str, Any], name: str, base: str) -> dict[str, float]:
    """Wall and CPU (server + workers) ratios of ``out[name]`` to ``out[base]``."""

    def total_cpu(x: dict[str, float]) -> float:
        return x["server_cpu_ms_per_node"] + x["workers_cpu_ms_per_node"]

    return {
        "ratio_per_node": round(out[name]["per_node_ms"] / out[base]["per_node_ms"], 3),
        "ratio_server_cpu": round(
            out[name]["server_cpu_ms_per_node"] / out[base]["server_cpu_ms_per_node"], 3
        ),
        "ratio_cpu": round(total_cpu(out[name]) / total_cpu(out[base]), 3),
    }
