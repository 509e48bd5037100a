"""Issue 16, parts 3 and 5: per-node cost flat with the graph's size, and the server's
peak RSS during a large batch.

``static_chain_flat`` and ``fanout_flat`` time blocking runs of a small and a large
graph on one server and give ms per node of each and their ratio (the goal: the
large one within 1.2x of the small one per node). ``batch_rss`` runs a batch of
``rows`` rows through a 3-python-node workflow and gives the peak RSS (VmHWM) of the
``spurline serve`` process and, separately, of its worker processes (goal: the
server <= 200 MB at 100,000 rows).

Rerun: ``cd bench && python -c "import scenarios_speed_flat as s, json;
print(json.dumps(s.static_chain_flat()))"`` (likewise ``fanout_flat()``,
``batch_rss(rows=10000)``).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx
from _measure import CheckFailed, blocking_run, call, create_workflow, summary_ms
from _server import Server
from _workflows import Expect, chain, static_fanout
from scenarios_batch import batch


def _per_node(
    srv: Server,
    client: httpx.Client,
    definition: dict[str, Any],
    expect: Expect,
    tasks: int,
    runs: int,
) -> dict[str, Any]:
    """Blocking runs of one workflow: wall and server CPU per node (medians), save time."""
    t0 = time.perf_counter()
    wf_id = create_workflow(client, f"flat-{tasks}", definition)
    save_ms = (time.perf_counter() - t0) * 1000
    blocking_run(client, wf_id, 1000, expect(1000))  # warm-up: the plan cache
    walls, cpus = [], []
    for i in range(runs):
        c0 = srv.cpu()["server"]
        walls.append(blocking_run(client, wf_id, i, expect(i)))
        cpus.append(srv.cpu()["server"] - c0)
    body, _ = call(client, "GET", f"/wf/{wf_id}/runs/", params={"page_size": runs})
    for run in body:
        done = sum(1 for t in run["tasks"] if t["status"] in ("COMPLETED", "CANCELED"))
        if run["status"] != "COMPLETED" or len(run["tasks"]) != tasks or done != tasks:
            raise CheckFailed(f"run {run['id']}: {run['status']}, {done}/{tasks} tasks done")
    out = summary_ms(walls)
    out["tasks_per_run"] = tasks
    out["save_ms"] = round(save_ms, 1)
    out["per_node_ms"] = round(statistics.median(walls) * 1000 / tasks, 4)
    out["cpu_per_node_ms"] = round(statistics.median(cpus) * 1000 / tasks, 4)
    return out


def _flat(kind: str, small: int, large: int, runs: int) -> dict[str, Any]:
    build = (lambda n: chain(n, "static")) if kind == "chain" else static_fanout
    extra = 2 if kind == "chain" else 3
    out: dict[str, Any] = {"params": {"small": small, "large": large, "runs": runs}}
    with Server() as srv, httpx.Client(base_url=srv.url, timeout=600) as client:
        for label, n in (("small", small), ("large", large)):
            definition, expect = build(n)
            out[label] = _per_node(srv, client, definition, expect, n + extra, runs)
        out["server"] = srv.memory()
    out["ratio"] = round(out["large"]["per_node_ms"] / out["small"]["per_node_ms"], 3)
    out["cpu_ratio"] = round(out["large"]["cpu_per_node_ms"] / out["small"]["cpu_per_node_ms"], 3)
    out["median_ms"] = out["large"]["median_ms"]
    out["per_node_ms"] = out["large"]["per_node_ms"]
    return out


def static_chain_flat(small: int = 1000, large: int = 5000, runs: int = 5) -> dict[str, Any]:
    """Input -> ``small`` / ``large`` StaticValueNodes in a line -> Output, blocking runs:
    ms per node of each (median of ``runs``), and large / small (goal <= 1.2).
    """
    return _flat("chain", small, large, runs)


def fanout_flat(small: int = 1000, large: int = 5000, runs: int = 5) -> dict[str, Any]:
    """Input -> ``small`` / ``large`` parallel StaticValueNodes -> Merge -> Output,
    blocking runs: ms per node of each (median of ``runs``), and large / small (goal <= 1.2).
    """
    return _flat("fanout", small, large, runs)


def batch_rss(rows: int = 10_000) -> dict[str, Any]:
    """A checked batch of ``rows`` rows (3 python nodes each, ``scenarios_batch.batch``):
    peak RSS (VmHWM) of the server and of its largest worker until the parent ended, in
    MiB (goal: server <= 200 at 100,000), and the server's peak including the checks
    that read the children back 1,000 a page.
    """
    result = batch(rows=rows)
    during = result.get("server_during_batch", {})
    return {
        **result,
        "server_peak_rss_mb": during.get("server_peak_rss_mb"),
        "worker_peak_rss_mb": during.get("worker_peak_rss_mb"),
        "server_peak_rss_mb_with_checks": result.get("server", {}).get("server_peak_rss_mb"),
    }
