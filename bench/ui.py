"""Web UI benchmarks (docs/ui.md): prints one JSON object per scenario.

- ``runs_page``: server time of what the runs page loads (``GET /ui/`` and
  ``GET /run_summaries/`` page 1, 50 parents, filtered and not) with 100,000 runs
  stored (goal: median <= 30 ms), and of the counts per status it asks for apart
  (``GET /run_counts/``); also filtered by a tag and by a metadata pair that one run
  in ten has (docs/ui.md#finding-runs).
- ``run_view``: time from navigation start until the run view of a 500-task run is
  interactive in headless Chromium: header, DAG (laid out by dagre) and timeline
  drawn, the page's module done (goal <= 1 s), median of several loads.
- ``latency``: time from a task's commit (its recorded end time) until the open run
  view shows the task COMPLETED, over every task of a chain of sleeping python
  nodes (goal p95 <= 200 ms).

Usage: ``.venv/bin/python bench/ui.py [--only runs_page,run_view,latency] [--quick]``.
Needs Debian's ``chromium`` (or ``SPURLINE_TEST_CHROMIUM``) for the browser scenarios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from _measure import CheckFailed, call, create_workflow, summary_ms, timed_gets
from _server import Server
from scenarios_reads import _seed, _seeded_store

CHROMIUM = os.environ.get("SPURLINE_TEST_CHROMIUM") or shutil.which("chromium") or ""
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _label_every(db: Any, n: int) -> int:
    """Tag ``every10`` and metadata ``team=data`` on every ``n``-th run, as a run started
    with them has (its columns and the rows the filters read); how many runs."""
    from sqlalchemy import insert, select, update

    from spurline.store.orm import RUN_METADATA, RUN_TAGS, RUNS

    def write(c: Any) -> int:
        ids = [r for (r,) in c.execute(select(RUNS.c.id).order_by(RUNS.c.id))][::n]
        c.execute(insert(RUN_TAGS), [{"run_id": i, "tag": "every10"} for i in ids])
        rows = [{"run_id": i, "key": "team", "value": "data"} for i in ids]
        c.execute(insert(RUN_METADATA), rows)
        for at in range(0, len(ids), 1000):
            c.execute(
                update(RUNS)
                .where(RUNS.c.id.in_(ids[at : at + 1000]))
                .values(tags=["every10"], run_metadata={"team": "data"})
            )
        return len(ids)

    labelled: int = db.writer.run(write)
    return labelled


def runs_page(runs: int = 100_000, requests: int = 60) -> dict[str, Any]:
    """Server time of the runs page's requests with ``runs`` runs stored."""
    home = Path(tempfile.mkdtemp(prefix="spurline-bench-ui-"))
    try:
        db, version = _seeded_store(home)
        seed_s = _seed(db, version, runs)
        labelled = _label_every(db, 10)
        wf_id = version.workflow_id
        db.close()

        def page_check(size: int) -> Any:
            def check(body: Any) -> str | None:
                if len(body["items"]) != size or not body["has_more"]:
                    return f"expected {size} runs and more, got {len(body['items'])}"
                if any(r["status"] != "COMPLETED" for r in body["items"]):
                    return "a listed run is not COMPLETED"
                return None

            return check

        def counts_check(body: Any) -> str | None:
            if body["counts"] != {"COMPLETED": runs} or body["total"] != runs:
                return f"counts {body}"
            return None

        deep = min(100, runs // 50 - 1)  # a page with an older one after it
        out: dict[str, Any] = {"runs": runs, "seed_s": round(seed_s, 1), "load": _load()}
        with Server(home=home) as srv, httpx.Client(base_url=srv.url, timeout=60) as client:
            shell = client.get("/ui/")
            if shell.status_code != 200 or 'data-page="runs"' not in shell.text:
                raise CheckFailed(f"GET /ui/ -> {shell.status_code}")
            times = []
            for _ in range(requests):
                t0 = time.perf_counter()
                client.get("/ui/").raise_for_status()
                times.append(time.perf_counter() - t0)
            out["html_shell"] = summary_ms(times)
            out["summaries_page1"] = timed_gets(
                client, "/run_summaries/", requests, page_check(50), {"page_size": 50}
            )
            out["summaries_filtered"] = timed_gets(
                client,
                "/run_summaries/",
                requests,
                page_check(50),
                {"page_size": 50, "status": "COMPLETED", "workflow_id": wf_id},
            )
            out["summaries_deep_page"] = deep
            out["summaries_deep"] = timed_gets(
                client, "/run_summaries/", requests // 3, page_check(50), {"page": deep}
            )
            for name, flt in (("tag", {"tag": "every10"}), ("metadata", {"metadata": "team=data"})):
                out[f"summaries_by_{name}"] = timed_gets(
                    client, "/run_summaries/", requests, page_check(50), {"page_size": 50, **flt}
                )

                def labelled_check(body: Any) -> str | None:
                    return None if body["total"] == labelled else f"counts {body}"

                out[f"counts_by_{name}"] = timed_gets(
                    client, "/run_counts/", requests // 3, labelled_check, flt
                )
            out["counts"] = timed_gets(client, "/run_counts/", requests // 3, counts_check)
            out["counts_filtered"] = timed_gets(
                client,
                "/run_counts/",
                requests // 3,
                counts_check,
                {"status": "COMPLETED", "workflow_id": wf_id},
            )
            out["memory"] = srv.memory()
        out["load_after"] = _load()
        return out
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _wide(chains: int, length: int) -> dict[str, Any]:
    """Input -> ``chains`` parallel chains of ``length`` StaticValueNodes -> Output."""
    nodes: list[dict[str, Any]] = [
        {"id": "in", "title": "in", "node_type": "InputNode", "config": {}}
    ]
    links = []
    for c in range(chains):
        prev = "in"
        for i in range(length):
            nid = f"s{c}_{i}"
            nodes.append(
                {
                    "id": nid,
                    "title": nid,
                    "node_type": "StaticValueNode",
                    "config": {"values": {"v": i}},
                }
            )
            links.append({"source_id": prev, "target_id": nid})
            prev = nid
        links.append({"source_id": prev, "target_id": "out"})
    nodes.append({"id": "out", "title": "out", "node_type": "OutputNode", "config": {}})
    return {"nodes": nodes, "links": links}


def _browser() -> Any:
    if not CHROMIUM:
        raise CheckFailed("no chromium: apt-get install chromium or set SPURLINE_TEST_CHROMIUM")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    return pw, pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def run_view(loads: int = 7) -> dict[str, Any]:
    """Navigation start -> interactive run view of a 500-task run, in Chromium."""
    pw, browser = _browser()
    try:
        with Server() as srv, httpx.Client(base_url=srv.url, timeout=120) as client:
            wf = create_workflow(client, "wide", _wide(6, 83))
            call(client, "POST", f"/wf/{wf}/run/", json={"initial_inputs": {}})
            runs, _ = call(client, "GET", "/run/", params={"workflow_id": wf})
            run = runs[0]
            if len(run["tasks"]) != 500 or run["status"] != "COMPLETED":
                raise CheckFailed(f"expected a COMPLETED 500-task run, got {len(run['tasks'])}")
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            times, graph = [], []
            for i in range(loads + 1):
                page.goto(f"{srv.url}/ui/runs/{run['id']}")
                page.wait_for_selector("body[data-ready='1']", state="attached")
                rows = page.locator("#gantt .g-row[data-node]").count()
                actions = page.locator("#run-status").text_content()
                if rows != 500 or actions != "COMPLETED":
                    raise CheckFailed(f"{rows} timeline rows (not 500), status {actions}")
                page.wait_for_function("performance.getEntriesByName('spurline-graph').length")
                drawn = page.locator("#dag g.node[data-state=COMPLETED]").count()
                if drawn != 500:
                    raise CheckFailed(f"drew {drawn} COMPLETED nodes, not 500")
                # app.js marks "spurline-ready" when the page is interactive (header,
                # actions, timeline, task panel), run.js "spurline-graph" when the DAG
                # is drawn; startTime is milliseconds since navigation start.
                ready, drawn_at = page.evaluate(
                    "['spurline-ready', 'spurline-graph'].map("
                    "n => performance.getEntriesByName(n)[0].startTime)"
                )
                if i:  # the first load warms the server and the browser's cache
                    times.append(float(ready) / 1000)
                    graph.append(float(drawn_at) / 1000)
            out = {
                "tasks": 500,
                "loads": loads,
                "interactive": summary_ms(times),
                "graph_drawn": summary_ms(graph),
            }
            out["load"] = _load()
            return out
    finally:
        browser.close()
        pw.stop()


def latency(nodes: int = 30, sleep_s: float = 0.25) -> dict[str, Any]:
    """Task commit (end_time) -> the open run view shows it COMPLETED, per task.

    The run waits at a HumanInterventionNode until the page is open and watching, then
    is approved; a chain of ``nodes`` python nodes sleeping ``sleep_s`` follows.
    """
    pw, browser = _browser()
    code = f"import time\ntime.sleep({sleep_s})\nreturn {{'ok': True}}"
    chain = [f"p{i}" for i in range(nodes)]
    definition = {
        "nodes": [
            {"id": "in", "title": "in", "node_type": "InputNode", "config": {}},
            {"id": "gate", "title": "gate", "node_type": "HumanInterventionNode", "config": {}},
        ]
        + [
            {"id": p, "title": p, "node_type": "PythonFuncNode", "config": {"code": code}}
            for p in chain
        ],
        "links": [
            {"source_id": a, "target_id": b}
            for a, b in zip(["in", "gate", *chain], ["gate", *chain], strict=False)
        ],
    }
    try:
        with Server() as srv, httpx.Client(base_url=srv.url, timeout=120) as client:
            wf = create_workflow(client, "sleepers", definition)
            run, _ = call(client, "POST", f"/wf/{wf}/start_run/", json={"initial_inputs": {}})
            run_id = run["id"]
            deadline = time.monotonic() + 60
            while call(client, "GET", f"/run/{run_id}/status/")[0]["status"] != "PAUSED":
                if time.monotonic() > deadline:
                    raise CheckFailed("the run did not pause")
                time.sleep(0.05)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{srv.url}/ui/runs/{run_id}")
            page.wait_for_function("performance.getEntriesByName('spurline-graph').length")
            page.evaluate(
                """() => { window.benchSeen = {};
                new MutationObserver((ms) => { for (const m of ms) {
                  const n = m.target;
                  if (n.dataset.state === 'COMPLETED' && !window.benchSeen[n.dataset.node])
                    window.benchSeen[n.dataset.node] = Date.now(); } })
                .observe(document.getElementById('dag'), {subtree: true, attributes: true,
                         attributeFilter: ['data-state']}); }"""
            )
            body = {"action": "APPROVE", "user_id": "bench", "inputs": {}}
            call(client, "POST", f"/wf/process_pause_action/{run_id}/", json=body)
            page.wait_for_selector("#run-status:text('COMPLETED')", timeout=120_000)
            page.wait_for_timeout(300)
            seen: dict[str, float] = page.evaluate("window.benchSeen")
            final, _ = call(client, "GET", f"/run/{run_id}/")
            lat = []
            for t in final["tasks"]:
                if t["node_id"] in seen and t["node_id"] in chain:
                    end = datetime.fromisoformat(t["end_time"]).timestamp() * 1000
                    lat.append((seen[t["node_id"]] - end) / 1000)
            if len(lat) != nodes:
                raise CheckFailed(f"saw {len(lat)} of {nodes} tasks complete on the page")
            return {"tasks": len(lat), "latency": summary_ms(lat), "load": _load()}
    finally:
        browser.close()
        pw.stop()


SCENARIOS = {"runs_page": runs_page, "run_view": run_view, "latency": latency}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args()
    failed = 0
    for name in args.only.split(","):
        kwargs: dict[str, Any] = {}
        if args.quick:
            kwargs = {
                "runs_page": {"runs": 5000, "requests": 10},
                "run_view": {"loads": 2},
                "latency": {"nodes": 5},
            }[name]
        try:
            result = {"scenario": name, **SCENARIOS[name](**kwargs)}
        except CheckFailed as exc:
            result, failed = {"scenario": name, "error": str(exc)}, failed + 1
        print(json.dumps(result), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
