"""What security costs (docs/security.md): auth per request on ``GET /run/{id}/`` and the
PythonFuncNode limits per node on the 50-node python chain.

``.venv/bin/python bench/security.py [--baseline-src DIR] [--rounds 3]``

Each configuration is a real ``spurline serve`` on its own store. Rounds alternate
the configurations, so a change in machine load touches each alike; the figures are
medians over every round, with the ratio to the baseline:

- ``auth_get_run``: ``GET /run/{id}/`` of a 52-task run with auth off (loopback) and
  with ``SPURLINE_AUTH=required`` and a Bearer token (verified once, then cached);
  with ``--baseline-src`` (a checkout's ``src`` without this code, e.g. main's) also
  that baseline.
- ``limits_chain``: blocking run of Input -> 50 PythonFuncNodes -> Output, ms per node,
  against ``--baseline-src`` (limits cannot be switched off, so the baseline is the
  code without them). Skipped without ``--baseline-src``.

Prints one JSON object per scenario; ``uptime`` is recorded beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from _measure import blocking_run, call, create_workflow, timed_gets
from _server import Server
from _workflows import chain


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _env(src: str | None, **extra: str) -> dict[str, str]:
    env = dict(extra)
    if src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    return env


def _token(home: Path) -> str:
    from spurline.services.auth import AuthService, Role
    from spurline.settings import Settings
    from spurline.store.db import Database

    settings = Settings(home=home)
    db = Database(settings.resolved_database_url())
    try:
        db.upgrade()
        return AuthService(db, settings).create_token("bench", Role.ADMIN)[1]
    finally:
        db.close()


def _get_run_ms(srv: Server, headers: dict[str, str], requests: int) -> float:
    with httpx.Client(base_url=srv.url, timeout=300, headers=headers) as client:
        definition, expect = chain(50, "python")
        wf_id = create_workflow(client, "bench-auth", definition)
        blocking_run(client, wf_id, 7, expect(7))
        runs, _ = call(client, "GET", f"/wf/{wf_id}/runs/")
        run_id = runs[0]["id"]

        def check(body: Any) -> str | None:
            ok = body["id"] == run_id and len(body["tasks"]) == 52
            return None if ok else f"unexpected run {body['id']}"

        return float(timed_gets(client, f"/run/{run_id}/", requests, check)["median_ms"])


def auth_get_run(baseline: str | None, rounds: int, requests: int) -> dict[str, Any]:
    """Median ms of ``GET /run/{id}/`` per configuration, and ratios to auth off."""
    configs: dict[str, tuple[dict[str, str], bool]] = {
        "auth_off": (_env(None), False),
        "auth_required": (_env(None, SPURLINE_AUTH="required"), True),
    }
    if baseline:
        configs["baseline"] = (_env(baseline), False)
    medians: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(rounds):
        for name, (env, with_token) in configs.items():
            srv = Server(env=env)
            headers = {"Authorization": f"Bearer {_token(srv.home)}"} if with_token else {}
            with srv:
                medians[name].append(_get_run_ms(srv, headers, requests))
    out: dict[str, Any] = {"params": {"rounds": rounds, "requests": requests}}
    for name, values in medians.items():
        out[f"{name}_median_ms"] = round(statistics.median(values), 3)
    base = out.get("baseline_median_ms") or out["auth_off_median_ms"]
    out["auth_required_ratio"] = round(out["auth_required_median_ms"] / base, 3)
    out["auth_off_ratio"] = round(out["auth_off_median_ms"] / base, 3)
    out["rounds_ms"] = medians
    return out


def limits_chain(baseline: str | None, rounds: int, runs: int) -> dict[str, Any]:
    """ms per node of the 50-node python chain, with the limits and without (baseline)."""
    if not baseline:
        return {"skipped": "needs --baseline-src (code without the limits)"}
    definition, expect = chain(50, "python")
    per_node: dict[str, list[float]] = {"limits": [], "baseline": []}
    for _ in range(rounds):
        for name, env in (("limits", _env(None)), ("baseline", _env(baseline))):
            with Server(env=env) as srv, httpx.Client(base_url=srv.url, timeout=300) as c:
                wf_id = create_workflow(c, "bench-limits", definition)
                for i in range(2):
                    blocking_run(c, wf_id, 1000 + i, expect(1000 + i))
                walls = [blocking_run(c, wf_id, i, expect(i)) for i in range(runs)]
                per_node[name].append(statistics.median(walls) * 1000 / 52)
    out: dict[str, Any] = {"params": {"rounds": rounds, "runs": runs, "nodes": 52}}
    for name, values in per_node.items():
        out[f"{name}_per_node_ms"] = round(statistics.median(values), 4)
    out["ratio"] = round(out["limits_per_node_ms"] / out["baseline_per_node_ms"], 3)
    out["rounds_per_node_ms"] = per_node
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--baseline-src", help="src folder of the code to compare against")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    baseline = str(Path(args.baseline_src).resolve()) if args.baseline_src else None
    for name, result in (
        ("auth_get_run", auth_get_run(baseline, args.rounds, args.requests)),
        ("limits_chain", limits_chain(baseline, args.rounds, args.runs)),
    ):
        print(json.dumps({"scenario": name, "load": _load(), **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
