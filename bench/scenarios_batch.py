"""The batch scenario: a 10,000-row dataset through a 3-python-node workflow, with rows/s,
the server's peak RSS, and the latency of ``GET /run/{parent}/`` while the batch runs.

Batch runs are SPEC §6 (``POST /ds/``, ``POST /wf/{id}/start_batch_run/``); on a
server without that endpoint the scenario reports itself skipped.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from _measure import CheckFailed, call, create_workflow, summary_ms
from _server import Server
from _workflows import chain

SKIPPED = "skipped: no batch endpoint"


def has_batch_endpoint(client: httpx.Client) -> bool:
    """Whether the server's OpenAPI document lists a ``start_batch_run`` path."""
    spec, _ = call(client, "GET", "/openapi.json")
    return any(path.rstrip("/").endswith("start_batch_run") for path in spec.get("paths", {}))


def _children_ok(client: httpx.Client, parent_id: str, rows: int, chain_n: int) -> int:
    """How many rows have a COMPLETED child whose output is the row's value + chain_n."""
    good = 0
    page = 1
    while True:
        body, _ = call(
            client,
            "GET",
            f"/run/{parent_id}/children/",
            params={"page": page, "page_size": 1000},
        )
        if not body:
            return good
        for child in body:
            v = child["initial_inputs"]["input_node"]["v"]
            out = (child.get("outputs") or {}).get("output_node") or {}
            if child["status"] == "COMPLETED" and out.get("v") == int(v) + chain_n:
                good += 1
        page += 1
        if page > rows // 1000 + 2:
            return good


def batch(
    rows: int = 10_000, chain_n: int = 3, mini_batch_size: int = 10, poll_ms: float = 50.0
) -> dict[str, Any]:
    """Rows/s of a batch run until its parent COMPLETED, polling the parent meanwhile."""
    params = {"rows": rows, "chain_n": chain_n, "mini_batch_size": mini_batch_size}
    with Server() as srv, httpx.Client(base_url=srv.url, timeout=300) as client:
        if not has_batch_endpoint(client):
            return {"params": params, "skipped": SKIPPED}
        definition, _ = chain(chain_n, "python")
        wf_id = create_workflow(client, "bench-batch", definition)
        csv = "v\n" + "".join(f"{i}\n" for i in range(rows))
        ds, _ = call(
            client,
            "POST",
            "/ds/",
            expect=(200, 201),
            params={"name": f"bench {rows} rows"},
            files={"file": ("rows.csv", csv.encode(), "text/csv")},
        )
        cpu0 = srv.cpu()
        t0 = time.perf_counter()
        parent, _ = call(
            client,
            "POST",
            f"/wf/{wf_id}/start_batch_run/",
            expect=(200, 202),
            json={"dataset_id": ds["id"], "mini_batch_size": mini_batch_size},
        )
        polls: list[float] = []
        status = parent["status"]
        deadline = t0 + 1800
        while status not in ("COMPLETED", "FAILED", "CANCELED"):
            if time.perf_counter() > deadline:
                raise CheckFailed(f"batch {parent['id']} still {status} after 1800 s")
            time.sleep(poll_ms / 1000)
            body, el = call(client, "GET", f"/run/{parent['id']}/")
            polls.append(el)
            status = body["status"]
            srv.sample_workers()
        elapsed = time.perf_counter() - t0
        cpu1 = srv.cpu()
        # peaks until the parent ended, before the checks below read 1,000 children a page
        during = srv.memory()
        if status != "COMPLETED":
            raise CheckFailed(f"batch parent ended {status}: {body.get('message')}")
        good = _children_ok(client, parent["id"], rows, chain_n)
        file_id = body.get("output_file_id") or parent.get("output_file_id")
        r = client.get(f"/of/{file_id}/download/")
        lines = [json.loads(x) for x in r.text.splitlines() if x.strip()]
        if good != rows or len(lines) != rows:
            raise CheckFailed(f"{good}/{rows} children right, {len(lines)} output lines")
        poll = summary_ms(polls)
        return {
            "params": params,
            "rows_per_s": round(rows / elapsed, 1),
            "elapsed_s": round(elapsed, 2),
            "median_ms": poll.get("median_ms"),
            "p95_ms": poll.get("p95_ms"),
            "parent_read_while_running": poll,
            "server_cpu_ms_per_row": round((cpu1["server"] - cpu0["server"]) * 1000 / rows, 3),
            "workers_cpu_ms_per_row": round((cpu1["workers"] - cpu0["workers"]) * 1000 / rows, 3),
            "server_during_batch": during,
            "server": srv.memory(),
        }
