"""Poison runs (docs/reliability.md#poison-runs): a node that kills the server it runs
under is run at most SPURLINE_MAX_CRASHES (3) times; then its task ends FAILED, the run
fails by its normal rules, and the restarted server stays up.

Also: a node's output is checked against SPURLINE_PYTHON_MAX_OUTPUT_MB and its printed
lines cut to SPURLINE_LOG_CAP_BYTES in its own process, so neither reaches the server's
memory whole.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from tests.faults._serving import (
    Server,
    attempts,
    executions,
    marking,
    python_node,
    run_row,
    serve,
    start_run,
    wait_for,
    workflow,
)
from tests.flows import FINAL

from spurline.engine.records import CRASHED_ERROR

# Native code gets past the audit hook that refuses os.kill (docs/security.md §5) and
# kills the server's process group (the server and its forkserver, the pool worker's
# parent), as the OOM killer or a container's memory limit would; the Python workers,
# each in a session of its own, die with their owner (docs/reliability.md#orphans-and-hogging).
KILL_SERVER = "import ctypes, os\nctypes.CDLL(None).kill(-os.getpgid(os.getppid()), 9)\nreturn {}"


def test_poison_node_fails_after_three_crashes_and_the_server_stays_up(tmp_path: Path) -> None:
    home, log = tmp_path / "home", tmp_path / "executions.log"
    definition = workflow(
        [
            python_node("first", marking(log, "first")),
            python_node("side", marking(log, "side")),
            python_node("poison", marking(log, "poison", KILL_SERVER)),
            python_node("after", marking(log, "after")),
        ],
        [("in", "first"), ("in", "side"), ("first", "poison"), ("poison", "after")],
    )
    env = {"lease_s": "2"}
    server = serve(home, tmp_path, **env)
    servers = [server]
    resumed: list[float] = []  # per restart: start-up (lifespan) to takeover, s
    try:
        run_id = start_run(server.url, definition)
        owner = None
        while True:
            row = run_row(home, run_id)
            if row["status"] in FINAL:
                break
            if not server.alive():
                assert len(servers) <= 3, "the server was restarted 3 times and died again"
                owner = row["owner"]
                server = serve(home, tmp_path, may_die=True, **env)
                servers.append(server)
                wait_for("the takeover", lambda o=owner: run_row(home, run_id)["owner"] != o)
                resumed.append(
                    server.logged_gap("Waiting for application startup", "taking over the run")
                )
            time.sleep(0.02)
        ended = time.monotonic()
        wait_for("the last server", lambda: server.ready or None)
        time.sleep(1.5)  # nothing runs the poison node again: the server stays up
        assert server.alive(), server.output()
        with httpx.Client(base_url=server.url, timeout=30) as c:
            run = c.get(f"/run/{run_id}/").json()
            tasks = {t["node_id"]: t for t in run["tasks"]}
            listed = c.get(f"/run/{run_id}/tasks/{tasks['poison']['id']}/attempts/").json()
    finally:
        for s in servers:
            s.kill()

    assert len(servers) == 4  # the first life and 3 restarts
    assert run["status"] == "FAILED"
    crash = "NodeCrashed: the node crashed its executor 3 times"
    assert tasks["poison"]["status"] == "FAILED"
    assert tasks["poison"]["error"].startswith(crash)
    assert {n: (t["status"], t["error"]) for n, t in tasks.items() if n != "poison"} == {
        "in": ("COMPLETED", None),
        "first": ("COMPLETED", None),
        "side": ("COMPLETED", None),
        "after": ("CANCELED", None),
    }
    assert run["message"].startswith(f"Node 'poison' failed: {crash}"), run["message"]
    assert [(a["number"], a["status"]) for a in listed] == [
        (1, "FAILED"),
        (2, "FAILED"),
        (3, "FAILED"),
    ]
    assert [a["error"] for a in listed[:2]] == [CRASHED_ERROR] * 2
    assert listed[2]["error"] == tasks["poison"]["error"]
    assert [a["started_by"] for a in listed] == ["run", "takeover", "takeover"]
    assert attempts(home, run_id, "first") == [(1, None, "run")]
    # no completed task ran twice: 'side' ran again only after an attempt of it
    # crashed (it finished in its worker, but the server died before storing that)
    side = attempts(home, run_id, "side")
    assert [e for _, e, _ in side] == [CRASHED_ERROR] * (len(side) - 1) + [None]
    ran = executions(log)
    assert 1 <= ran["side"] <= len(side)
    # the poison node ran 3 times, what follows it never
    assert ran == {"first": 1, "side": ran["side"], "poison": 3}
    print(
        "\n[poison] start-up -> takeover after each restart: "
        + ", ".join(f"{gap:.2f} s" for gap in resumed)
        + f"; last restart spawned -> run FAILED {ended - servers[-1].spawned:.2f} s"
    )
    assert max(resumed) <= 1.0  # a restarted server takes its runs over at start-up


def test_oversized_output_fails_in_its_own_process(tmp_path: Path) -> None:
    """A node returning 30 MiB and printing 8 MiB fails naming the output limit (16 MiB);
    the server's peak memory grows by far less than that, since the output was refused
    and the print cut to the log cap (1 MiB) before anything was sent back."""
    home = tmp_path / "home"
    big = "print('p' * (8 << 20))\nx = 'y' * (30 << 20)\nreturn {'x': x}"
    server = serve(home, tmp_path)
    try:
        run_id = start_run(server.url, workflow([python_node("big", big)], [("in", "big")]))
        before = _peak_rss_mb(server)
        wait_for("the run's end", lambda: run_row(home, run_id)["status"] in FINAL, timeout=60)
        after = _peak_rss_mb(server)
        with httpx.Client(base_url=server.url, timeout=30) as c:
            task = next(
                t for t in c.get(f"/run/{run_id}/").json()["tasks"] if t["node_id"] == "big"
            )
            lines = c.get(f"/run/{run_id}/logs/", params={"node": "big", "page_size": 1000}).json()
    finally:
        server.kill()
    assert task["status"] == "FAILED"
    assert task["error"] == (
        "LimitExceeded: output limit: the code returned 30.0 MB, more than 16 MB "
        "(SPURLINE_PYTHON_MAX_OUTPUT_MB)"
    )
    assert after - before < 15, (before, after)
    kept = sum(len(ln["line"].encode()) for ln in lines if ln["stream"] == "stdout")
    assert 0 < kept <= 1 << 20  # SPURLINE_LOG_CAP_BYTES of the 8 MiB printed
    assert any("characters dropped" in ln["line"] for ln in lines)  # saying what was cut


def _peak_rss_mb(server: Server) -> float:
    """The server process's peak resident memory (VmHWM), MiB."""
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")
