"""What security costs (docs/security.md): auth per request on ``GET /run/{id}/`` and the
PythonFuncNode limits per node on the 50-node python chain.

``.venv/bin/python bench/security.py [--baseline-src DIR] [--requests 500] [--runs 20]``

Each configuration is a real ``spurline serve`` on its own store; they run side by
side and get one request (or run) each in turn, so a change in machine load touches
each alike. Figures: median wall ms and CPU ms of the processes, with ratios to the
baseline:

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
import sys
from pathlib import Path
from typing import Any

import _compare
import httpx
from _compare import START_TIMEOUT_S, chain_per_node, env_with_src, load, ratios
from _measure import CheckFailed, blocking_run, call, create_workflow, summary_ms
from _workflows import chain


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


def _prepared_run(client: httpx.Client) -> str:
    """A COMPLETED run of Input -> 50 PythonFuncNodes -> Output (52 tasks); its id."""
    definition, expect = chain(50, "python")
    wf_id = create_workflow(client, "bench-auth", definition)
    blocking_run(client, wf_id, 7, expect(7))
    runs, _ = call(client, "GET", f"/wf/{wf_id}/runs/")
    return str(runs[0]["id"])


def auth_get_run(baseline: str | None, requests: int) -> dict[str, Any]:
    """``GET /run/{id}/`` on servers running side by side, one request to each in turn
    (so machine load touches all alike): median ms and server CPU ms per request."""
    configs = {
        "auth_off": env_with_src(None),
        "auth_required": env_with_src(None, SPURLINE_AUTH="required"),
    }
    if baseline:
        configs["baseline"] = env_with_src(baseline)
    servers = _compare.servers(configs)
    headers: dict[str, dict[str, str]] = {name: {} for name in configs}
    headers["auth_required"] = {"Authorization": f"Bearer {_token(servers['auth_required'].home)}"}
    times: dict[str, list[float]] = {name: [] for name in configs}
    cpu: dict[str, float] = {}
    try:
        clients = {}
        for name, srv in servers.items():
            srv.start(timeout=START_TIMEOUT_S)
            clients[name] = httpx.Client(base_url=srv.url, timeout=300, headers=headers[name])
        paths = {name: f"/run/{_prepared_run(c)}/" for name, c in clients.items()}
        for name, c in clients.items():  # warm-up, untimed
            for _ in range(5):
                call(c, "GET", paths[name])
        cpu0 = {name: srv.cpu()["server"] for name, srv in servers.items()}
        for _ in range(requests):
            for name, c in clients.items():
                body, elapsed = call(c, "GET", paths[name])
                if len(body["tasks"]) != 52 or body["status"] != "COMPLETED":
                    raise CheckFailed(f"{name}: unexpected run {body['id']}")
                times[name].append(elapsed)
        cpu = {n: (srv.cpu()["server"] - cpu0[n]) * 1000 / requests for n, srv in servers.items()}
    finally:
        for srv in servers.values():
            srv.stop()
    out: dict[str, Any] = {"params": {"requests": requests, "run_tasks": 52}}
    for name in configs:
        out[name] = {**summary_ms(times[name]), "server_cpu_ms_per_request": round(cpu[name], 3)}
    base = out["baseline" if baseline else "auth_off"]
    for name in configs:
        out[f"{name}_ratio_median"] = round(out[name]["median_ms"] / base["median_ms"], 3)
        out[f"{name}_ratio_cpu"] = round(
            out[name]["server_cpu_ms_per_request"] / base["server_cpu_ms_per_request"], 3
        )
    return out


def limits_chain(baseline: str | None, runs: int) -> dict[str, Any]:
    """ms per node of the 50-node python chain, with the limits and without (the
    baseline code), servers side by side and runs alternating."""
    if not baseline:
        return {"skipped": "needs --baseline-src (code without the limits)"}
    configs = {"limits": env_with_src(None), "baseline": env_with_src(baseline)}
    out: dict[str, Any] = {"params": {"runs": runs, "nodes": 52}}
    out.update(chain_per_node(configs, runs))
    found = ratios(out, "limits", "baseline")
    out["ratio_per_node"], out["ratio_cpu"] = found["ratio_per_node"], found["ratio_cpu"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--baseline-src", help="src folder of the code to compare against")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    baseline = str(Path(args.baseline_src).resolve()) if args.baseline_src else None
    for name, result in (
        ("auth_get_run", auth_get_run(baseline, args.requests)),
        ("limits_chain", limits_chain(baseline, args.runs)),
    ):
        print(json.dumps({"scenario": name, "load": load(), **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
