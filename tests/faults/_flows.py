"""Workflows of the store and broker fault tests: chains of slow Python nodes and
loops of child runs, each node appending one line per execution to a log file so a
test counts how often it really ran."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

CHAINS, LOOPS, ITERATIONS = 10, 4, 3


def step(nid: str, source: str, log: Path, parent: str | None = None) -> dict[str, Any]:
    # one line per execution, written before the work, so a repeated one is counted
    code = (
        "import time\n"
        f"src = input_model.{source}\n"
        "tag = src.tag if hasattr(src, 'tag') else src.In['tag'] + '.' + str(src.index)\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        f"    f.write(tag + ':{nid}\\n')\n"
        "time.sleep(0.5)\n"
        "return {'tag': tag}"
    )
    n: dict[str, Any] = {
        "id": nid,
        "title": nid.capitalize(),
        "node_type": "PythonFuncNode",
        "config": {"code": code},
    }
    if parent:
        n["parent_id"] = parent
    return n


def input_node(nid: str, parent: str | None = None) -> dict[str, Any]:
    n: dict[str, Any] = {
        "id": nid,
        "title": nid.capitalize(),
        "node_type": "InputNode",
        "config": {"output_schema": {"tag": "str"}} if parent is None else {},
    }
    if parent:
        n["parent_id"] = parent
    return n


def links(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"source_id": s, "target_id": t} for s, t in pairs]


def chain(log: Path) -> dict[str, Any]:
    """in -> a -> b -> c -> d: four slow nodes, about 2 s."""
    return {
        "nodes": [
            input_node("in"),
            step("a", "In", log),
            step("b", "A", log),
            step("c", "B", log),
            step("d", "C", log),
        ],
        "links": links(("in", "a"), ("a", "b"), ("b", "c"), ("c", "d")),
    }


def loop(log: Path) -> dict[str, Any]:
    """in -> loop of ITERATIONS child runs, one at a time, each one slow node."""
    return {
        "nodes": [
            input_node("in"),
            {
                "id": "loop",
                "title": "Loop",
                "node_type": "ForLoopNode",
                "config": {"num_iterations": ITERATIONS, "max_concurrency": 1},
            },
            input_node("body", parent="loop"),
            step("step", "Body", log, parent="loop"),
        ],
        "links": links(("in", "loop"), ("body", "step")),
    }


def wait_under_way(client: httpx.Client, run_ids: list[str], timeout: float = 30) -> None:
    """Wait until one run has finished a slow node while none has ended, so the outage
    falls mid-run: nodes in flight, some done, most still to come."""
    deadline = time.monotonic() + timeout
    while True:
        runs = [client.get(f"/run/{rid}/").json() for rid in run_ids]
        done = [t for r in runs for t in r["tasks"] if t["node_id"] != "in" and t["end_time"]]
        assert all(r["status"] in ("PENDING", "RUNNING") for r in runs)
        if done:
            return
        assert time.monotonic() < deadline, [r["status"] for r in runs]
        time.sleep(0.05)


def start_runs(client: httpx.Client, log: Path) -> list[str]:
    """Create the chain and loop workflows and start CHAINS + LOOPS runs of them,
    tagged ``r0``, ``r1`` …; returns the run ids."""
    flows = {}
    for name, definition in (("chain", chain(log)), ("loop", loop(log))):
        r = client.post("/wf/", json={"name": name, "definition": definition})
        assert r.status_code == 200, r.text
        flows[name] = r.json()["id"]
    run_ids = []
    for i in range(CHAINS + LOOPS):
        wf = flows["chain" if i < CHAINS else "loop"]
        body = {"initial_inputs": {"in": {"tag": f"r{i}"}}}
        r = client.post(f"/wf/{wf}/start_run/", json=body)
        assert r.status_code == 200, r.text
        run_ids.append(r.json()["id"])
    return run_ids


def check_completed_once(runs: dict[str, Any], log: Path) -> None:
    """Every run COMPLETED, every node of every run executed exactly once."""
    statuses = Counter(run["status"] for run in runs.values())
    assert statuses == {"COMPLETED": CHAINS + LOOPS}, [
        (r["id"], r["status"], r.get("message")) for r in runs.values()
    ]
    executed = Counter(log.read_text().split())
    expected = {f"r{i}:{n}" for i in range(CHAINS) for n in "abcd"} | {
        f"r{i}.{k}:step" for i in range(CHAINS, CHAINS + LOOPS) for k in range(ITERATIONS)
    }
    assert set(executed) == expected, sorted(set(executed) ^ expected)
    twice = [key for key, n in executed.items() if n != 1]
    assert twice == [], f"executed more than once: {twice}"
    # a node interrupted by the fault would show a second attempt
    again = [
        (r["id"], t["node_id"]) for r in runs.values() for t in r["tasks"] if t["attempts"] > 1
    ]
    assert again == [], f"a second attempt: {again}"
