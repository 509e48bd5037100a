"""Reads of issue 16 ("Speed, round two"): ``GET /run/{id}/`` of a 52-task run, page 1
of ``GET /run/`` at 2,000 and 1,000,000 runs, and every list filter at 1,000,000 runs.

Stores are seeded through ``spurline.store.seed`` (bulk inserts of COMPLETED runs);
a few runs are then started over HTTP with tags, metadata and failures, so that the
tag, metadata and several-status filters return real pages. Every response is
checked: its status, its length, that each listed run matches the filter, and its
``X-Total-Count`` against what the seed put in the store.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from _measure import CheckFailed, blocking_run, call, create_workflow, summary_ms
from _server import Server
from _workflows import chain
from scenarios_reads import growing_stores, seeded_server

Check = Callable[[Any], str | None]
#: runs started over HTTP with ``tags=["nightly"]`` and ``metadata={"team": "a"}``
TAGGED = 5
#: runs started over HTTP that fail (a python node raises)
FAILING = 3


def _timed(
    client: httpx.Client,
    path: str,
    n: int,
    check: Check,
    params: Any = None,
    total: int | None = None,
) -> dict[str, Any]:
    """``n`` checked GETs (after 3 untimed ones): latency summary; ``total`` is the
    ``X-Total-Count`` every answer must carry."""
    times = []
    for i in range(n + 3):
        t0 = time.perf_counter()
        r = client.get(path, params=params)
        elapsed = time.perf_counter() - t0
        if r.status_code != 200:
            raise CheckFailed(f"GET {path} {params}: {r.status_code} {r.text[:200]}")
        problem = check(r.json())
        if problem is None and total is not None and r.headers.get("x-total-count") != str(total):
            problem = f"X-Total-Count {r.headers.get('x-total-count')}, expected {total}"
        if problem:
            raise CheckFailed(f"GET {path} {params}: {problem}")
        if i >= 3:
            times.append(elapsed)
    return summary_ms(times)


def _page(size: int, each: Callable[[dict[str, Any]], bool]) -> Check:
    def check(body: Any) -> str | None:
        if not isinstance(body, list) or len(body) != size:
            return f"expected {size} runs, got {len(body) if isinstance(body, list) else body}"
        bad = [r["id"] for r in body if not each(r)]
        if bad:
            return f"runs not matching the filter: {bad[:3]}"
        if any(len(r["tasks"]) != 3 for r in body if r["status"] == "COMPLETED"):
            return "a COMPLETED run without its 3 tasks"
        return None

    return check


def get_run_52(seeded: int = 2000, requests: int = 100) -> dict[str, Any]:
    """``GET /run/{id}/`` of a 52-task run (chain of 50 python nodes) among ``seeded`` runs."""
    out: dict[str, Any] = {"params": {"seeded": seeded, "requests": requests}}
    with seeded_server(seeded) as (srv, client):
        definition, expect = chain(50, "python")
        wf_id = create_workflow(client, "bench-52", definition)
        blocking_run(client, wf_id, 7, expect(7))
        run_id = call(client, "GET", f"/wf/{wf_id}/runs/")[0][0]["id"]

        def check(body: Any) -> str | None:
            if body["id"] != run_id or body["status"] != "COMPLETED":
                return f"run {body['id']} status {body['status']}"
            if len(body["tasks"]) != 52 or body["outputs"]["output_node"] != expect(7):
                return f"{len(body['tasks'])} tasks, outputs {body['outputs'].get('output_node')}"
            if body["workflow_version"]["definition"]["nodes"][1]["id"] != "c0":
                return "the embedded workflow version is not the run's"
            return None

        cpu0 = srv.cpu()["server"]
        out["tasks_52"] = _timed(client, f"/run/{run_id}/", requests, check)
        out["server_cpu_ms_per_request"] = round(
            (srv.cpu()["server"] - cpu0) / (requests + 3) * 1000, 3
        )
        out["server"] = srv.memory()
    out["median_ms"], out["p95_ms"] = out["tasks_52"]["median_ms"], out["tasks_52"]["p95_ms"]
    return out


def _start_extra_runs(client: httpx.Client) -> str:
    """TAGGED tagged runs and FAILING failed runs, over HTTP; returns their workflow id."""
    definition, expect = chain(1, "python")
    wf_id = create_workflow(client, "bench-extra", definition)
    for i in range(TAGGED):
        body = {"initial_inputs": {"input_node": {"v": i}}, "tags": ["nightly"]}
        body["metadata"] = {"team": "a"}
        got, _ = call(client, "POST", f"/wf/{wf_id}/run/", json=body)
        if got.get("output_node") != expect(i):
            raise CheckFailed(f"tagged run {i}: {got}")
    failing = {**definition}
    failing["nodes"] = [
        {**n, "config": {"code": "raise ValueError('no')"}} if n["id"] == "c0" else n
        for n in definition["nodes"]
    ]
    fail_wf = create_workflow(client, "bench-failing", failing)
    for i in range(FAILING):
        body = {"initial_inputs": {"input_node": {"v": i}}}
        call(client, "POST", f"/wf/{fail_wf}/run/", expect=(422,), json=body)
    return wf_id


def list_at_scale(sizes: tuple[int, ...] = (2000, 1_000_000), requests: int = 50) -> dict[str, Any]:
    """Page 1 of ``GET /run/`` at each size, then every list filter at the largest.

    Each store size is seeded on top of the last; the seconds it took are reported.
    """
    out: dict[str, Any] = {"params": {"sizes": list(sizes), "requests": requests}, "stores": []}
    page = {"page": 1, "page_size": 10}
    for entry, srv, client, version in growing_stores(sizes):
        size = entry["runs"]
        cpu0 = srv.cpu()["server"]
        entry["page1"] = _timed(
            client, "/run/", requests, _page(10, lambda r: True), page, total=size
        )
        entry["page1"]["server_cpu_ms"] = round(
            (srv.cpu()["server"] - cpu0) / (requests + 3) * 1000, 3
        )
        if size == sizes[-1]:
            entry["filters"] = _filters(client, srv, version.workflow_id, size, requests)
        entry["server"] = srv.memory()
        out["stores"].append(entry)
    last = out["stores"][-1]
    out["median_ms"], out["p95_ms"] = last["page1"]["median_ms"], last["page1"]["p95_ms"]
    filters = last["filters"].values()
    out["filters_worst_median_ms"] = max(f["median_ms"] for f in filters)
    out["filters_median_ms"] = statistics.median(f["median_ms"] for f in filters)
    return out


def _filters(
    client: httpx.Client, srv: Server, seeded_wf: str, seeded: int, requests: int
) -> dict[str, Any]:
    """Every filter of GET /run/ (docs/runs-api.md#endpoints-and-paging), timed."""
    recent = (datetime.now(UTC) - timedelta(milliseconds=1)).isoformat()  # after the seed
    extra_wf = _start_extra_runs(client)
    total = seeded + TAGGED + FAILING
    fresh = TAGGED + FAILING
    done = {"COMPLETED", "FAILED"}
    cases: dict[str, tuple[dict[str, Any], Callable[[dict[str, Any]], bool], int, int]] = {
        # name: (params, each listed run matches, page length, X-Total-Count)
        "parent_only": ({"parent_only": "true"}, lambda r: r["parent_run_id"] is None, 10, total),
        "status": ({"status": "COMPLETED"}, lambda r: r["status"] == "COMPLETED", 10, total - 3),
        "status_failed": ({"status": "FAILED"}, lambda r: r["status"] == "FAILED", 3, 3),
        "statuses": ({"status": ["COMPLETED", "FAILED"]}, lambda r: r["status"] in done, 10, total),
        "parent_only_statuses": (
            {"parent_only": "true", "status": ["COMPLETED", "FAILED"]},
            lambda r: r["status"] in done and r["parent_run_id"] is None,
            10,
            total,
        ),
        "run_type": (
            {"run_type": "interactive"},
            lambda r: r["run_type"] == "interactive",
            10,
            total,
        ),
        "run_type_batch": ({"run_type": "batch"}, lambda r: False, 0, 0),
        "workflow_id": (
            {"workflow_id": seeded_wf},
            lambda r: r["workflow_id"] == seeded_wf,
            10,
            seeded,
        ),
        "workflow_id_small": (
            {"workflow_id": extra_wf},
            lambda r: r["workflow_id"] == extra_wf,
            TAGGED,
            TAGGED,
        ),
        "start_date_recent": ({"start_date": recent}, lambda r: True, fresh, fresh),
        # every seeded run: counted from whole buckets of run_time_counts and the runs
        # of one partial minute (docs/runs-api.md#endpoints-and-paging)
        "end_date_wide": (
            {"end_date": recent},
            lambda r: r["workflow_id"] == seeded_wf,
            10,
            seeded,
        ),
        "tag": ({"tag": "nightly"}, lambda r: "nightly" in r["tags"], TAGGED, TAGGED),
        "metadata": ({"metadata": "team=a"}, lambda r: r["metadata"] == {"team": "a"}, 5, 5),
        "schedule_id": ({"schedule_id": "S-none"}, lambda r: False, 0, 0),
        "view_summary": ({"view": "summary"}, lambda r: "tasks" not in r, 10, total),
    }
    results: dict[str, Any] = {}
    for name, (params, each, length, count) in cases.items():
        query = {**{"page": 1, "page_size": 10}, **params}

        def check(body: Any, length: int = length, each: Any = each) -> str | None:
            if not isinstance(body, list) or len(body) != length:
                return (
                    f"expected {length} runs, got {len(body) if isinstance(body, list) else body}"
                )
            bad = [r["id"] for r in body if not each(r)]
            return f"runs not matching the filter: {bad[:3]}" if bad else None

        cpu0 = srv.cpu()["server"]
        results[name] = _timed(client, "/run/", requests, check, query, total=count)
        results[name]["server_cpu_ms"] = round(
            (srv.cpu()["server"] - cpu0) / (requests + 3) * 1000, 3
        )
        results[name]["params"] = params
    return results
