"""Spurline's benchmark suite: ``make bench`` (or ``python bench/run.py``).

Each scenario starts what it measures (a real ``spurline serve`` subprocess with its
own SPURLINE_HOME, or the engine in-process), checks every response, and prints
one JSON object on stdout: median and p95 (ms), the figures of its targets (issue
6), the server's peak RSS (VmHWM) and the command that reruns it alone. A table of
the targets goes to stderr at the end. Exit status 1 when a scenario failed a
check (a wrong result is never reported as a time); a missed target is reported,
not an error.

    python bench/run.py                      # every scenario
    python bench/run.py --only chain_python,fanout_merge
    python bench/run.py --quick              # smaller sizes, for a smoke run
    python bench/run.py --pyspur-url http://127.0.0.1:6399/api   # side by side with PySpur

With ``--pyspur-url`` (a PySpur's API root), bench/side_by_side.py runs the shared
benchmark (bench/shared/runs_bench.py) against a fresh Spurline and that PySpur,
alternating, ``--passes`` times, and prints both medians and Spurline's lead
before the scenarios (``--only side_by_side`` runs that alone).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scenarios_batch
import scenarios_cli
import scenarios_reads
import scenarios_retention
import scenarios_runs
import scenarios_speed_flat
import scenarios_speed_nodes
import scenarios_speed_reads
import scenarios_speed_runs
import scenarios_speed_scaleout
import side_by_side

# name -> (function, full-size params, --quick params)
SCENARIOS: dict[str, tuple[Callable[..., dict[str, Any]], dict[str, Any], dict[str, Any]]] = {
    "chain_static": (scenarios_runs.chain_static, {"n": 200, "runs": 10}, {"n": 50, "runs": 3}),
    "chain_python": (scenarios_runs.chain_python, {"n": 50, "runs": 10}, {"n": 10, "runs": 3}),
    "fanout_merge": (
        scenarios_runs.fanout_merge,
        {"width": 20, "runs": 10},
        {"width": 5, "runs": 3},
    ),
    "blocking_throughput": (
        scenarios_runs.blocking_throughput,
        {"runs": 1000, "clients": 4},
        {"runs": 40, "clients": 4},
    ),
    "engine_overhead": (
        scenarios_runs.engine_overhead,
        {"n": 200, "repeats": 5},
        {"n": 50, "repeats": 3},
    ),
    "list_runs": (
        scenarios_reads.list_runs,
        {"sizes": (2000, 10_000, 100_000), "requests": 100},
        {"sizes": (200, 1000), "requests": 10},
    ),
    "get_run": (
        scenarios_reads.get_run,
        {"seeded": 10_000, "requests": 100},
        {"seeded": 100, "requests": 10},
    ),
    "batch": (scenarios_batch.batch, {"rows": 10_000}, {"rows": 50}),
    "cli_runs_list": (
        scenarios_cli.cli_runs_list,
        {"runs": 20, "calls": 5},
        {"runs": 5, "calls": 3},
    ),
    "prune_while_serving": (
        scenarios_retention.prune_while_serving,
        {"runs": 100_000, "kept": 1000},
        {"runs": 5000, "kept": 100},
    ),
    "retention_while_serving": (
        scenarios_retention.prune_while_serving,
        {"runs": 100_000, "kept": 1000, "mode": "retention"},
        {"runs": 5000, "kept": 100, "mode": "retention"},
    ),
    # issue 16 ("speed, round two"): each of its figures, one scenario each
    "get_run_52": (
        scenarios_speed_reads.get_run_52,
        {"seeded": 2000, "requests": 100},
        {"seeded": 100, "requests": 10},
    ),
    "list_at_scale": (
        scenarios_speed_reads.list_at_scale,
        {"sizes": (2000, 1_000_000), "requests": 50},
        {"sizes": (200, 1000), "requests": 5},
    ),
    "blocking_runs": (
        scenarios_speed_runs.blocking_runs,
        {"runs": 2000, "clients": 4, "passes": 3},
        {"runs": 100, "clients": 4, "passes": 1},
    ),
    "empty_run": (
        scenarios_speed_runs.empty_run,
        {"runs": 300, "passes": 3},
        {"runs": 20, "passes": 1},
    ),
    "python_dispatch": (
        scenarios_speed_nodes.python_dispatch,
        {"n": 50, "runs": 10},
        {"n": 10, "runs": 3},
    ),
    "store_bytes_per_run": (
        scenarios_speed_nodes.store_bytes_per_run,
        {"runs": 300, "warmup": 50},
        {"runs": 30, "warmup": 5},
    ),
    "static_chain_flat": (
        scenarios_speed_flat.static_chain_flat,
        {"small": 1000, "large": 5000, "runs": 5},
        {"small": 100, "large": 500, "runs": 2},
    ),
    "fanout_flat": (
        scenarios_speed_flat.fanout_flat,
        {"small": 1000, "large": 5000, "runs": 5},
        {"small": 100, "large": 500, "runs": 2},
    ),
    "batch_rss": (
        scenarios_speed_flat.batch_rss,
        {"rows": 100_000},
        {"rows": 200},
    ),
    "scale_out": (
        scenarios_speed_scaleout.scale_out_vs_embedded,
        {"runs": 300, "rows": 500, "workers": (1, 2)},
        {"runs": 30, "rows": 40, "workers": (1,)},
    ),
}

# (scenario, label, PySpur 0.1.18 figure or None, how to read the figure, bound, "max"|"min")
TARGETS: list[tuple[str, str, float | None, Callable[[dict[str, Any]], Any], float, str]] = [
    (
        "chain_python",
        "chain of 50 PythonFuncNodes, ms per node",
        11.8,
        lambda r: r.get("per_node_ms"),
        1.2,
        "max",
    ),
    (
        "chain_static",
        "chain of 200 StaticValueNodes, ms per node",
        None,
        lambda r: r.get("per_node_ms"),
        0.3,
        "max",
    ),
    (
        "fanout_merge",
        "fan-out 20 + merge, blocking run ms",
        302.3,
        lambda r: r.get("median_ms"),
        30,
        "max",
    ),
    (
        "blocking_throughput",
        "blocking runs/s, 3-node workflow, 4 clients",
        20.3,
        lambda r: r.get("runs_per_s"),
        300,
        "min",
    ),
    (
        "list_runs",
        "GET /run/?page=1&page_size=10 at 2,000 runs, ms",
        26.9,
        lambda r: _store(r, 2000, "page1"),
        3,
        "max",
    ),
    (
        "list_runs",
        "GET /run/?page=1&page_size=10 at 100,000 runs, ms",
        None,
        lambda r: _store(r, 100_000, "page1"),
        5,
        "max",
    ),
    (
        "list_runs",
        "GET /run/ deep page at 100,000 runs, ms",
        None,
        lambda r: _store(r, 100_000, "deep"),
        float("inf"),
        "max",
    ),
    (
        "get_run",
        "GET /run/{id}/ of a 52-task run, ms",
        10.1,
        lambda r: (r.get("tasks_52") or {}).get("median_ms"),
        2,
        "max",
    ),
    (
        "get_run",
        "GET /run/{id}/ of a 1,000-task run, ms",
        None,
        lambda r: (r.get("tasks_1000") or {}).get("median_ms"),
        25,
        "max",
    ),
    (
        "batch",
        "batch rows/s, 3 python nodes per row",
        12.9,
        lambda r: r.get("rows_per_s"),
        400,
        "min",
    ),
    (
        "batch",
        "GET /run/{parent}/ p95 while a batch runs, ms",
        1006,
        lambda r: r.get("p95_ms"),
        20,
        "max",
    ),
    (
        "batch",
        "server peak RSS during the batch, MB",
        None,
        lambda r: (r.get("server") or {}).get("server_peak_rss_mb"),
        300,
        "max",
    ),
    (
        "cli_runs_list",
        "spurline --server URL runs list, whole command, median wall ms",
        None,
        lambda r: r.get("median_ms"),
        500,
        "max",
    ),
    (
        "prune_while_serving",
        "GET /run/ p95 while spurline runs prune deletes 100,000 runs, ms",
        None,
        lambda r: r.get("p95_ms"),
        20,
        "max",
    ),
    (
        "retention_while_serving",
        "GET /run/ p95 while the server's retention deletes 100,000 runs, ms",
        None,
        lambda r: r.get("p95_ms"),
        20,
        "max",
    ),
    # issue 16's goals (PySpur figures: the shared bench README; side_by_side measures it)
    (
        "get_run_52",
        "GET /run/{id}/ of a 52-task run among 2,000, ms",
        10.1,
        lambda r: r.get("median_ms"),
        0.9,
        "max",
    ),
    (
        "list_at_scale",
        "GET /run/ page 1 at 2,000 runs, ms",
        26.9,
        lambda r: _store(r, 2000, "page1"),
        2,
        "max",
    ),
    (
        "list_at_scale",
        "GET /run/ page 1 at 1,000,000 runs, ms",
        None,
        lambda r: _store(r, 1_000_000, "page1"),
        3,
        "max",
    ),
    (
        "list_at_scale",
        "GET /run/ slowest filter at the largest store, ms",
        None,
        lambda r: r.get("filters_worst_median_ms"),
        5,
        "max",
    ),
    (
        "blocking_runs",
        "blocking runs/s, 3-node workflow, 4 clients (median of passes)",
        20.3,
        lambda r: r.get("runs_per_s"),
        400,
        "min",
    ),
    (
        "empty_run",
        "empty run (Input -> Output), blocking, ms",
        None,
        lambda r: r.get("median_ms"),
        2,
        "max",
    ),
    (
        "python_dispatch",
        "PythonFuncNode dispatch, 50-node chain, ms per node",
        11.8,
        lambda r: r.get("per_node_ms"),
        0.5,
        "max",
    ),
    (
        "store_bytes_per_run",
        "store bytes per run, 3-node workflow",
        1065,
        lambda r: r.get("bytes_per_run"),
        1065,
        "max",
    ),
    (
        "static_chain_flat",
        "static chain 5,000 / 1,000 nodes, per-node ratio",
        None,
        lambda r: r.get("ratio"),
        1.2,
        "max",
    ),
    (
        "fanout_flat",
        "fan-out 5,000 / 1,000, per-node ratio",
        None,
        lambda r: r.get("ratio"),
        1.2,
        "max",
    ),
    (
        "batch_rss",
        "server peak RSS during a 100,000-row batch, MB",
        None,
        lambda r: r.get("server_peak_rss_mb"),
        200,
        "max",
    ),
    (
        "scale_out",
        "scale-out CPU per run / embedded, 1 worker",
        None,
        lambda r: (r.get("ratios") or {}).get("cpu_per_run_vs_embedded"),
        2,
        "max",
    ),
    (
        "scale_out",
        "scale-out runs/s / embedded, 1 worker",
        None,
        lambda r: (r.get("ratios") or {}).get("runs_per_s_vs_embedded"),
        0.6,
        "min",
    ),
    (
        "scale_out",
        "scale-out batch rows/s / embedded, 1 worker",
        None,
        lambda r: (r.get("ratios") or {}).get("rows_per_s_vs_embedded"),
        0.5,
        "min",
    ),
    (
        "engine_overhead",
        "engine per node, 200 StaticValue/Merge nodes, ms (sqlite)",
        None,
        lambda r: r.get("per_node_ms"),
        float("inf"),
        "max",
    ),
]


def _store(result: dict[str, Any], runs: int, key: str) -> Any:
    for entry in result.get("stores", []):
        if entry["runs"] == runs:
            return entry[key]["median_ms"]
    return None


def _command(name: str, quick: bool) -> str:
    return f"python bench/run.py --only {name}" + (" --quick" if quick else "")


def run_one(name: str, quick: bool) -> dict[str, Any]:
    """Run one scenario; its JSON result (``ok`` false with ``error`` when a check failed)."""
    fn, full, small = SCENARIOS[name]
    t0 = time.perf_counter()
    try:
        result = {"scenario": name, **fn(**(small if quick else full)), "ok": True}
    except Exception as exc:  # a failed check or a crash: reported, then the next scenario
        traceback.print_exc(file=sys.stderr)
        result = {"scenario": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    result["scenario_s"] = round(time.perf_counter() - t0, 2)
    result["command"] = _command(name, quick)
    result["host"] = {"cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()]}
    return result


def targets_table(results: dict[str, dict[str, Any]]) -> str:
    """The targets of issue 6 with the measured figure, the PySpur figure and the ratio."""
    lines = [f"{'scenario':<58} {'Spurline':>10} {'target':>9} {'PySpur':>8} {'ratio':>7}  met"]
    for name, label, pyspur, read, bound, kind in TARGETS:
        result = results.get(name)
        if result is None:
            continue
        value = None if "skipped" in result or not result.get("ok") else read(result)
        if value is not None:
            shown = f"{value:g}"
        else:
            shown = result.get("skipped") or ("n/a" if result.get("ok") else "error")
        met = (
            "-"
            if value is None
            else ("yes" if (value <= bound if kind == "max" else value >= bound) else "NO")
        )
        bound_s = "" if bound == float("inf") else f"{'≤' if kind == 'max' else '≥'}{bound:g}"
        ratio = ""
        if value and pyspur:
            ratio = f"{(pyspur / value if kind == 'max' else value / pyspur):.1f}x"
        py = "" if pyspur is None else f"{pyspur:g}"
        lines.append(f"{label:<58} {shown:>10} {bound_s:>9} {py:>8} {ratio:>7}  {met}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", default="", help="comma-separated scenario names: " + ", ".join(SCENARIOS)
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (a smoke run, not a measurement)"
    )
    parser.add_argument("--out", default=None, help="also write the results (JSON lines) here")
    parser.add_argument(
        "--pyspur-url",
        default=None,
        help="a PySpur's API root (http://host:port/api): run the shared benchmark against "
        "it and Spurline side by side first",
    )
    parser.add_argument("--passes", type=int, default=3, help="side-by-side passes")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(SCENARIOS)
    if names == ["side_by_side"] and args.pyspur_url:
        names = []
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}")
    results: dict[str, dict[str, Any]] = {}
    side: dict[str, Any] | None = None
    if args.pyspur_url:
        side = side_by_side.compare(args.pyspur_url, args.passes)
        side["scenario"] = "side_by_side"
        side["command"] = f"python bench/run.py --only side_by_side --pyspur-url {args.pyspur_url}"
        print(json.dumps(side), flush=True)
        print("\n" + side_by_side.table(side) + "\n", file=sys.stderr, flush=True)
    for name in names:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        result = run_one(name, args.quick)
        results[name] = result
        line = json.dumps(result)
        print(line, flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(line + "\n")
    if args.quick:
        print("\n(--quick: smaller sizes than the targets assume)", file=sys.stderr)
    if results:
        print("\n" + targets_table(results), file=sys.stderr)
    ok = all(r["ok"] for r in results.values()) and (side is None or side["ok"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
