"""Spurline and PySpur side by side with the shared benchmark (bench/shared/runs_bench.py).

    python bench/run.py --pyspur-url http://127.0.0.1:6399/api [--passes 3]
    python bench/side_by_side.py --pyspur-url http://127.0.0.1:6399/api

A ``spurline serve`` of this checkout is started on a fresh store; then, for each
pass, ``runs_bench.py`` runs with the same arguments against Spurline and against
the PySpur given, the order swapped every pass so neither always goes first on a
warmer (or busier) machine. Both stores keep what each pass adds, so the runs list
grows alike on both. Every figure is the median over the passes of that pass's
median; the machine's load averages are printed beside each pass. Before each side
runs, the machine must be quiet (at most 25 % of its CPU busy over 2 s, waiting up
to 180 s): anything still busy (left by the previous side, or stray processes)
would otherwise slow the side that follows. A pass whose
checks failed on either side is reported and left out of the medians (the
benchmark never turns a wrong answer into a time).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _compare import START_TIMEOUT_S, load
from _server import Server

RUNS_BENCH = Path(__file__).resolve().parent / "shared" / "runs_bench.py"
#: the arguments issue 16's table was measured with
DEFAULT_ARGS = ["-N", "50", "-W", "20", "-R", "10", "-M", "2000", "-K", "200", "--requests", "50"]


def _get(result: dict[str, Any], *path: str) -> float | None:
    node: Any = result
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return float(node) if isinstance(node, int | float) else None


# (label, how to read it from runs_bench's JSON, "lower" or "higher" is better)
FIGURES: list[tuple[str, Callable[[dict[str, Any]], float | None], str]] = [
    (
        "GET /run/{id}/ of the chain run (N+2 tasks), median ms",
        lambda r: _get(r, "reads", "get_run_many_tasks", "median_ms"),
        "lower",
    ),
    (
        "GET /run/?page=1&page_size=10 after the fill, median ms",
        lambda r: _get(r, "reads", "list_page1", "median_ms"),
        "lower",
    ),
    (
        "blocking runs/s, 3-node workflow, 4 clients",
        lambda r: _get(r, "fill", "runs_per_s"),
        "higher",
    ),
    (
        "chain of N python nodes, ms per node",
        lambda r: _get(r, "chain", "per_node_ms_median"),
        "lower",
    ),
    ("batch rows/s", lambda r: _get(r, "batch", "rows_per_s"), "higher"),
    (
        "fan-out of W + merge, blocking run median ms",
        lambda r: _get(r, "fanout", "wall", "median_ms"),
        "lower",
    ),
    (
        "GET /run/ deep page, median ms",
        lambda r: _get(r, "reads", "list_deep_page", "median_ms"),
        "lower",
    ),
    (
        "GET /run/{parent}/ while the batch runs, median ms",
        lambda r: _get(r, "batch", "poll_latency_during_batch", "median_ms"),
        "lower",
    ),
]


def _busy_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def wait_for_quiet(limit: float = 0.25, window_s: float = 2.0, timeout_s: float = 180) -> float:
    """Wait until at most ``limit`` of the machine's CPU was busy over ``window_s``
    seconds; the seconds waited (``timeout_s`` at most: then it goes on anyway)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        busy0, total0 = _busy_ticks()
        time.sleep(window_s)
        busy1, total1 = _busy_ticks()
        if total1 > total0 and (busy1 - busy0) / (total1 - total0) <= limit:
            break
    return round(time.monotonic() - t0, 1)


def run_bench(base_url: str, args: list[str]) -> dict[str, Any]:
    """One ``runs_bench.py`` run against ``base_url``; its JSON (``ok`` false and
    ``failures`` when a check failed or it could not run at all)."""
    done = subprocess.run(
        [sys.executable, str(RUNS_BENCH), "--base-url", base_url, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        result: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        return {"ok": False, "failures": [f"runs_bench.py exited {done.returncode}"]}
    return result


def compare(pyspur_url: str, passes: int = 3, args: list[str] | None = None) -> dict[str, Any]:
    """``passes`` alternating runs of the shared benchmark against a fresh Spurline and
    the PySpur at ``pyspur_url`` (its API root, e.g. ``http://host:6080/api``).

    Returns ``{"passes": [...], "figures": [{label, pyspur, spurline, ratio}], "ok"}``;
    ``ratio`` is how many times better Spurline is (PySpur/Spurline for times,
    Spurline/PySpur for rates), over the medians of the passes both sides passed.
    """
    args = args or DEFAULT_ARGS
    out: dict[str, Any] = {"args": args, "pyspur_url": pyspur_url, "passes": []}
    srv = Server()
    try:
        srv.start(timeout=START_TIMEOUT_S)
        sides = {"spurline": srv.url + "/api", "pyspur": pyspur_url}
        for i in range(passes):
            order = list(sides) if i % 2 == 0 else list(reversed(sides))
            entry: dict[str, Any] = {"pass": i + 1, "order": order}
            for side in order:
                entry[f"quiet_wait_s_{side}"] = wait_for_quiet()
                entry[f"load_before_{side}"] = load()
                print(f"[side-by-side] pass {i + 1}: {side} ...", file=sys.stderr, flush=True)
                result = run_bench(sides[side], args)
                entry[side] = {
                    "ok": bool(result.get("ok")),
                    "failures": result.get("failures", [])[:5],
                    "figures": {label: read(result) for label, read, _ in FIGURES},
                }
            entry["load_after"] = load()
            out["passes"].append(entry)
        out["spurline_server"] = srv.memory()
    finally:
        srv.stop()
    good = [p for p in out["passes"] if p["spurline"]["ok"] and p["pyspur"]["ok"]]
    out["figures"] = []
    for label, _, better in FIGURES:
        medians = {}
        for side in ("pyspur", "spurline"):
            values = [p[side]["figures"][label] for p in good]
            values = [v for v in values if v is not None]
            medians[side] = round(statistics.median(values), 3) if values else None
        ratio = None
        if medians["pyspur"] and medians["spurline"]:
            ratio = (
                medians["pyspur"] / medians["spurline"]
                if better == "lower"
                else medians["spurline"] / medians["pyspur"]
            )
        out["figures"].append({"label": label, **medians, "ratio": ratio and round(ratio, 2)})
    out["passes_both_ok"] = len(good)
    out["ok"] = len(good) == passes
    return out


def table(result: dict[str, Any]) -> str:
    """The medians of both sides and Spurline's lead, one line per figure."""
    lines = [
        f"runs_bench.py {' '.join(result['args'])}; {result['passes_both_ok']} of "
        f"{len(result['passes'])} passes passed every check on both sides",
        f"{'figure':<52} {'PySpur':>9} {'Spurline':>9} {'lead':>7}",
    ]
    for fig in result["figures"]:
        py = "-" if fig["pyspur"] is None else f"{fig['pyspur']:g}"
        sp = "-" if fig["spurline"] is None else f"{fig['spurline']:g}"
        lead = "-" if fig["ratio"] is None else f"{fig['ratio']:.1f}x"
        lines.append(f"{fig['label']:<52} {py:>9} {sp:>9} {lead:>7}")
    for p in result["passes"]:
        lines.append(
            f"pass {p['pass']} ({' then '.join(p['order'])}): "
            + "; ".join(
                f"{side} (after {p[f'quiet_wait_s_{side}']} s waiting for a quiet machine) "
                f"{p[f'load_before_{side}']}"
                for side in p["order"]
            )
        )
        for side in p["order"]:
            if not p[side]["ok"]:
                lines.append(f"  {side} FAILED its checks: {p[side]['failures']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pyspur-url", required=True, help="PySpur's API root, e.g. .../api")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument(
        "--bench-args",
        default=" ".join(DEFAULT_ARGS),
        help="runs_bench.py's arguments (default: issue 16's)",
    )
    args = parser.parse_args()
    result = compare(args.pyspur_url, args.passes, args.bench_args.split())
    print(json.dumps(result))
    print("\n" + table(result), file=sys.stderr)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
