"""No starvation (docs/reliability.md#no-starvation): runs waiting on child runs give
their execution slot back, so three concurrent 344-row batches and sub-workflows
nested deeper than the worker's slots complete on one ``spurline worker
--concurrency 1``, and on the embedded executor.

Real processes: ``spurline serve`` and ``spurline worker`` subprocesses on a fresh
PostgreSQL database and a Redis queue of their own (``tests/worker/_cluster.py``).
Every leaf node appends a line to an execution log when it starts and another
when it ends: a completed node executed twice shows up as a duplicate start, and on
one slot no two leaf executions may overlap.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests._penguins import csv_rows
from tests.worker._cluster import Cluster, services_down

DOWN = services_down()
pytestmark = pytest.mark.skipif(DOWN is not None, reason=f"needs PostgreSQL and Redis: {DOWN}")

BATCHES = 3
ROWS = 344
#: Sub-workflows nested inside one another, a loop at the bottom.
DEPTH = 3
ITERATIONS = 3
#: Nested runs started at once.
ROOTS = 3


def _dataset() -> bytes:
    """penguins.csv with the row number as a first column ``n``."""
    rows = csv_rows()
    assert len(rows) == ROWS
    out = io.StringIO()
    writer = csv.DictWriter(out, ["n", *rows[0]], lineterminator="\n")
    writer.writeheader()
    for n, row in enumerate(rows):
        writer.writerow({"n": n, **row})
    return out.getvalue().encode()


def _leaf(log: Path, prelude: str, key: str, result: str) -> str:
    """PythonFuncNode code: ``prelude``, then ``result`` returned, between the lines
    ``{key} start {time}`` and ``{key} end {time}`` appended to ``log``."""

    def line(what: str) -> str:
        return (
            f"with open({str(log)!r}, 'a') as f:\n    f.write(f'{key} {what} {{time.time()}}\\n')\n"
        )

    return f"import time\n{prelude}\n{line('start')}out = {result}\n{line('end')}return out"


def _executions(log: Path) -> Counter[str]:
    return Counter(
        line.rsplit(" ", 2)[0] for line in log.read_text().splitlines() if " start " in line
    )


def _overlapping(log: Path) -> list[tuple[str, str]]:
    """Pairs of leaf executions that ran at the same time."""
    spans: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        key, _, at = line.rsplit(" ", 2)
        spans.setdefault(key, []).append(float(at))
    ordered = sorted(spans.items(), key=lambda kv: kv[1][0])
    return [(a, b) for (a, sa), (b, sb) in itertools.pairwise(ordered) if sb[0] < sa[-1]]


def _row_workflow(tag: str, log: Path) -> dict[str, Any]:
    code = _leaf(
        log,
        "p = input_model.In\nkg = None if p.body_mass_g is None else p.body_mass_g / 1000",
        f"{tag} {{p.n}}",
        "{'n': p.n, 'species': p.species, 'kg': kg}",
    )
    schema = {"n": "int", "species": "str", "body_mass_g": "float"}
    return {
        "nodes": [
            {
                "id": "in",
                "title": "In",
                "node_type": "InputNode",
                "config": {"output_schema": schema},
            },
            {"id": "row", "title": "Row", "node_type": "PythonFuncNode", "config": {"code": code}},
            {"id": "out", "title": "Out", "node_type": "OutputNode", "config": {}},
        ],
        "links": [
            {"source_id": "in", "target_id": "row"},
            {"source_id": "row", "target_id": "out"},
        ],
    }


def _nested(depth: int, log: Path) -> dict[str, Any]:
    """``depth`` SubworkflowNodes inside one another around a ForLoopNode whose body
    logs ``tag index`` and returns ``{"v": index * 10}``; outputs ``{"results": [...]}``."""
    if depth == 0:
        code = _leaf(log, "p = input_model.Iter", "{p.In.tag} {p.index}", "{'v': p.index * 10}")
        return {
            "nodes": [
                {"id": "in", "title": "In", "node_type": "InputNode", "config": {}},
                {
                    "id": "loop",
                    "title": "Loop",
                    "node_type": "ForLoopNode",
                    "config": {"num_iterations": ITERATIONS, "max_concurrency": 2},
                },
                {"id": "bin", "title": "Iter", "node_type": "InputNode", "parent_id": "loop"},
                {
                    "id": "body",
                    "title": "Body",
                    "node_type": "PythonFuncNode",
                    "parent_id": "loop",
                    "config": {"code": code},
                },
                {"id": "bout", "title": "BOut", "node_type": "OutputNode", "parent_id": "loop"},
                {"id": "out", "title": "Out", "node_type": "OutputNode", "config": {}},
            ],
            "links": [
                {"source_id": "in", "target_id": "loop"},
                {"source_id": "bin", "target_id": "body"},
                {"source_id": "body", "target_id": "bout"},
                {"source_id": "loop", "target_id": "out"},
            ],
        }
    return {
        "nodes": [
            {"id": "in", "title": "In", "node_type": "InputNode", "config": {}},
            {
                "id": "sub",
                "title": "Sub",
                "node_type": "SubworkflowNode",
                "config": {},
                "subworkflow": _nested(depth - 1, log),
            },
            {"id": "out", "title": "Out", "node_type": "OutputNode", "config": {}},
        ],
        "links": [
            {"source_id": "in", "target_id": "sub"},
            {"source_id": "sub", "target_id": "out"},
        ],
    }


def _wait_final(http: httpx.Client, api: str, run_ids: list[str], timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        views = [http.get(f"{api}/run/{rid}/").json() for rid in run_ids]
        if all(v["status"] not in ("PENDING", "RUNNING") for v in views):
            return views
        if time.monotonic() > deadline:
            stuck = {v["id"]: (v["status"], v["percentage_complete"]) for v in views}
            raise AssertionError(f"runs not final after {timeout} s: {stuck}")
        time.sleep(0.25)


def _create(http: httpx.Client, api: str, name: str, definition: dict[str, Any]) -> str:
    r = http.post(f"{api}/wf/", json={"name": name, "definition": definition})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


def _start_batches(
    http: httpx.Client, api: str, log: Path, count: int
) -> tuple[list[str], list[str]]:
    """Start ``count`` batches of the 344 rows at once, each with a workflow of its own;
    returns the parent run ids and the workflows' log tags."""
    r = http.post(f"{api}/ds/", files={"file": ("penguins.csv", _dataset())})
    assert r.status_code in (200, 201), r.text
    dataset = r.json()["id"]
    tags = [f"b{i}" for i in range(count)]
    wfs = [_create(http, api, tag, _row_workflow(tag, log)) for tag in tags]
    parents = []
    for wf in wfs:
        body = {"dataset_id": dataset, "mini_batch_size": 10}
        r = http.post(f"{api}/wf/{wf}/start_batch_run/", json=body)
        assert r.status_code in (200, 202), r.text
        parents.append(r.json()["id"])
    return parents, tags


def _check_batches(
    http: httpx.Client,
    api: str,
    views: list[Any],
    log: Path,
    tags: list[str],
    may_repeat: frozenset[str] = frozenset(),
) -> None:
    """Every batch COMPLETED with its file complete, in row order, with the CSV's
    values; every row's node executed once, twice at most for keys in ``may_repeat``."""
    expected = [
        {
            "n": n,
            "species": row["species"],
            "kg": None if row["body_mass_g"] == "NA" else float(row["body_mass_g"]) / 1000,
        }
        for n, row in enumerate(csv_rows())
    ]
    for view in views:
        assert view["status"] == "COMPLETED", view["message"]
        assert view["percentage_complete"] == 100.0
        r = http.get(f"{api}/of/{view['output_file_id']}/download/")
        lines = [json.loads(line) for line in r.text.splitlines()]
        assert [line["row"] for line in lines] == list(range(ROWS))
        assert {line["status"] for line in lines} == {"COMPLETED"}
        assert [line["outputs"] for line in lines] == expected
    executions = _executions(log)
    assert set(executions) == {f"{tag} {n}" for tag in tags for n in range(ROWS)}
    repeated = {key for key, count in executions.items() if count > 1}
    assert repeated <= may_repeat, repeated
    assert max(executions.values()) <= 2


def _three_batches(
    http: httpx.Client, api: str, log: Path, timeout: float, *, one_slot: bool
) -> float:
    """Start 3 batches at once and check them; return the seconds from the first
    start until all three were final."""
    started = time.monotonic()
    parents, tags = _start_batches(http, api, log, BATCHES)
    views = _wait_final(http, api, parents, timeout)
    took = time.monotonic() - started
    _check_batches(http, api, views, log, tags)
    if one_slot:
        assert _overlapping(log) == []
    return took


def _nested_runs(
    http: httpx.Client, api: str, log: Path, timeout: float, *, one_slot: bool
) -> float:
    """Start ``ROOTS`` runs of a 3-deep sub-workflow at once; check their outputs;
    return the seconds until all were final."""
    wf = _create(http, api, "nested", _nested(DEPTH, log))
    started = time.monotonic()
    run_ids = []
    for i in range(ROOTS):
        body = {"initial_inputs": {"in": {"tag": f"root{i}"}}}
        r = http.post(f"{api}/wf/{wf}/start_run/", json=body)
        assert r.status_code in (200, 202), r.text
        run_ids.append(r.json()["id"])
    views = _wait_final(http, api, run_ids, timeout)
    took = time.monotonic() - started
    for view in views:
        assert view["status"] == "COMPLETED", view["message"]
        results = [{"v": i * 10} for i in range(ITERATIONS)]
        # every level's OutputNode passes its child's output up unchanged
        assert view["outputs"]["out"] == {"results": results}
    expected = Counter(f"root{r} {i}" for r in range(ROOTS) for i in range(ITERATIONS))
    assert _executions(log) == expected
    if one_slot:
        assert _overlapping(log) == []
    return took


def _all_final(cluster: Cluster, may_repeat: frozenset[str] = frozenset()) -> None:
    """No run left PENDING/RUNNING; no COMPLETED task attempted twice but in the runs
    ``may_repeat`` (executing when their worker was killed)."""
    active = cluster.query("SELECT id, status FROM runs WHERE status IN ('PENDING', 'RUNNING')")
    assert active == []
    twice = cluster.query("SELECT run_id FROM tasks WHERE status = 'COMPLETED' AND attempts > 1")
    assert {row[0] for row in twice} <= may_repeat


@contextmanager
def _deployment(tmp_path: Path, workers: int, **env: str) -> Iterator[tuple[httpx.Client, str]]:
    """An API server and ``workers`` workers with ``--concurrency 1`` (none: the
    embedded executor) on a fresh database; afterwards every run must be final."""
    with Cluster(tmp_path, **env) as cluster:
        for _ in range(workers):
            cluster.start_worker(concurrency=1)
        api = cluster.start_api()
        cluster.ready()
        with httpx.Client(timeout=30) as http:
            yield http, api
        _all_final(cluster)


def _log(tmp_path: Path, name: str) -> Path:
    log = tmp_path / name
    log.touch()
    return log


def test_three_batches_complete_on_one_slot(tmp_path: Path) -> None:
    with _deployment(tmp_path, workers=1) as (http, api):
        took = _three_batches(http, api, _log(tmp_path, "rows.log"), 100, one_slot=True)
    print(f"3 x {ROWS} rows on --concurrency 1: {took:.1f} s")


def test_deep_nesting_completes_on_one_slot(tmp_path: Path) -> None:
    with _deployment(tmp_path, workers=1) as (http, api):
        took = _nested_runs(http, api, _log(tmp_path, "nested.log"), 40, one_slot=True)
    print(f"3 runs nested {DEPTH} deep on --concurrency 1: {took:.1f} s")


def test_embedded_executor_completes_both(tmp_path: Path) -> None:
    with _deployment(tmp_path, workers=0, SPURLINE_EXECUTOR="local") as (http, api):
        batches = _three_batches(http, api, _log(tmp_path, "rows.log"), 100, one_slot=False)
        nested = _nested_runs(http, api, _log(tmp_path, "nested.log"), 40, one_slot=False)
    print(f"embedded: 3 x {ROWS} rows {batches:.1f} s, nested {nested:.1f} s")


def test_waiting_parents_outlive_their_worker(tmp_path: Path) -> None:
    """A batch parent that gave its slot back was acknowledged: when its worker dies,
    its lease brings it back and it finishes on another worker."""
    log = _log(tmp_path, "rows.log")
    with Cluster(tmp_path, SPURLINE_LEASE_S="2") as cluster:
        victim = cluster.start_worker(concurrency=1)
        api = cluster.start_api()
        cluster.ready()
        with httpx.Client(timeout=30) as http:
            parents, tags = _start_batches(http, api, log, 1)
            # killed mid-batch: once rows are running (a loaded CI machine needed over
            # 60 s for 60 rows, one at a time)
            deadline = time.monotonic() + 120
            while len(_executions(log)) < 20:
                assert time.monotonic() < deadline, "no progress before the kill"
                time.sleep(0.05)
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            killed = time.monotonic()
            # Nobody takes these over before their lease expires (2 s): exactly the
            # runs the victim held.
            held = cluster.query(
                "SELECT id, parent_run_id, seq FROM runs WHERE status IN ('PENDING', 'RUNNING')"
                " AND lease_owner LIKE :owner",
                owner=f"%:{victim.pid}:%",
            )
            assert set(parents) <= {row[0] for row in held}  # it was waiting there
            tag_of = dict(zip(parents, tags, strict=True))
            in_flight = {row[0] for row in held if row[1] is not None}
            keys = frozenset(f"{tag_of[row[1]]} {row[2]}" for row in held if row[1] is not None)
            before = len(log.read_text().splitlines())
            cluster.start_worker(concurrency=1)
            while len(log.read_text().splitlines()) == before:
                assert time.monotonic() < killed + 60, "no progress after the kill"
                time.sleep(0.05)
            resumed = time.monotonic() - killed
            views = _wait_final(http, api, parents, 90)
            recovered = time.monotonic() - killed
            _check_batches(http, api, views, log, tags, may_repeat=keys)
        _all_final(cluster, may_repeat=frozenset(in_flight))
    print(
        f"{ROWS} rows, worker killed mid-way: rows run again {resumed:.1f} s after the"
        f" kill (a new worker started at once), all final after {recovered:.1f} s"
    )
