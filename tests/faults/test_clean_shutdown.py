"""Clean shutdown and restart (docs/reliability.md#clean-shutdown): SIGTERM lets the
nodes in flight finish within SPURLINE_SHUTDOWN_GRACE_S and exits 0; past the grace
the runs are handed over at once; a server restarted after kill -9 on the same home
takes its runs over at start-up, not after the lease (10 s here) expires.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
from tests.faults._serving import (
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

from spurline.engine.records import CRASHED_ERROR, INTERRUPTED_ERROR
from spurline.services.process_slot import ProcessSlot


def _slow(log: Path, seconds: float) -> dict[str, object]:
    """in -> slow (marks 'start', sleeps, marks 'end') -> after (marks 'after')."""
    slow = marking(log, "start", f"import time\ntime.sleep({seconds})\n" + marking(log, "end"))
    return workflow(
        [python_node("slow", slow), python_node("after", marking(log, "after"))],
        [("in", "slow"), ("slow", "after")],
    )


def _refused(url: str) -> bool:
    """Whether the server takes no new request any more (its port is closed)."""
    try:
        httpx.post(f"{url}/wf/x/start_run/", json={}, timeout=2)
    except httpx.TransportError:
        return True
    return False


def test_sigterm_lets_the_node_in_flight_finish_and_exits_0(tmp_path: Path) -> None:
    home, log = tmp_path / "home", tmp_path / "executions.log"
    server = serve(home, tmp_path, shutdown_grace_s="20")
    try:
        run_id = start_run(server.url, _slow(log, 2))
        wait_for("the slow node", lambda: executions(log)["start"])
        os.kill(server.proc.pid, signal.SIGTERM)
        termed = time.monotonic()
        wait_for("the port to close", lambda: _refused(server.url), timeout=5, step=0.1)
        code = server.proc.wait(timeout=30)
        exited = time.monotonic()
    finally:
        server.kill()
    row = run_row(home, run_id)
    assert code == 0, server.output()
    assert row["status"] == "COMPLETED"
    assert row["tasks"] == {"in": "COMPLETED", "slow": "COMPLETED", "after": "COMPLETED"}
    assert executions(log) == {"start": 1, "end": 1, "after": 1}
    assert attempts(home, run_id, "slow") == [(1, None, "run")]
    assert exited - termed < 10
    print(f"\n[shutdown] SIGTERM -> exit 0 after the run completed: {exited - termed:.2f} s")


def test_past_the_grace_the_run_is_handed_over_at_once(tmp_path: Path) -> None:
    """Two servers on one home; the one executing the run gets SIGTERM with a 1 s grace
    while its node needs 4 s: it exits 0 and the other server takes the run over at
    once (its lease had 10 s left), running the node again; nothing completed twice."""
    home, log = tmp_path / "home", tmp_path / "executions.log"
    env = {"shutdown_grace_s": "1", "lease_s": "10"}
    first = serve(home, tmp_path, **env)
    second = serve(home, tmp_path, **env)
    try:
        run_id = start_run(first.url, _slow(log, 4))
        wait_for("the slow node", lambda: executions(log)["start"])
        owner = run_row(home, run_id)["owner"]
        time.sleep(1.0)  # a live server's run is never taken by the other one
        assert run_row(home, run_id)["owner"] == owner
        os.kill(first.proc.pid, signal.SIGTERM)
        termed = time.monotonic()
        code = first.proc.wait(timeout=30)
        exited = time.monotonic()
        wait_for("the takeover", lambda: run_row(home, run_id)["owner"] != owner)
        taken = time.monotonic()
        wait_for("the run's end", lambda: run_row(home, run_id)["status"] in FINAL)
        ended = time.monotonic()
    finally:
        first.kill()
        second.kill()
    row = run_row(home, run_id)
    assert code == 0, first.output()
    assert row["status"] == "COMPLETED"
    assert executions(log) == {"start": 2, "end": 1, "after": 1}
    assert attempts(home, run_id, "slow") == [
        (1, INTERRUPTED_ERROR, "run"),
        (2, None, "takeover"),
    ]
    assert attempts(home, run_id, "in") == [(1, None, "run")]
    print(
        f"\n[shutdown] grace exceeded: SIGTERM -> exit 0 {exited - termed:.2f} s, "
        f"exit -> taken over {taken - exited:.2f} s "
        f"(lease had ~10 s left); exit -> run COMPLETED {ended - exited:.2f} s"
    )
    assert taken - exited < 1.5


def test_restart_after_kill_takes_its_runs_over_at_start_up(tmp_path: Path) -> None:
    home, log = tmp_path / "home", tmp_path / "executions.log"
    # a lease far longer than a restart, even on a loaded machine (a restart beside two
    # test suites took 9.6 s): a takeover before it ends is the start-up's, not expiry's
    env = {"lease_s": "30"}
    server = serve(home, tmp_path, **env)
    try:
        run_id = start_run(server.url, _slow(log, 1.5))
        wait_for("the slow node", lambda: executions(log)["start"])
        owner = run_row(home, run_id)["owner"]
        server.kill()
        killed = time.monotonic()
        server = serve(home, tmp_path, **env)
        wait_for("the takeover", lambda: run_row(home, run_id)["owner"] != owner)
        taken = time.monotonic()
        wait_for("the run's end", lambda: run_row(home, run_id)["status"] in FINAL)
        ended = time.monotonic()
        gap = server.logged_gap("Waiting for application startup", "taking over the run")
    finally:
        server.kill()
    assert run_row(home, run_id)["status"] == "COMPLETED"
    assert attempts(home, run_id, "slow") == [(1, CRASHED_ERROR, "run"), (2, None, "takeover")]
    assert executions(log) == {"start": 2, "end": 1, "after": 1}
    print(
        f"\n[restart] kill -9 -> restart: taken over {gap:.2f} s after start-up began, "
        f"{taken - server.spawned:.2f} s after spawn ({taken - killed:.2f} s after the kill; "
        f"lease 30 s); run COMPLETED {ended - server.ready:.2f} s after the server was up"
    )
    assert gap <= 1.0
    assert taken - killed < 25  # well before the dead server's lease would expire


def test_a_live_slot_is_never_taken(tmp_path: Path) -> None:
    """Two live processes on one home hold two slots; neither counts the other dead until
    it gives its slot up (exits)."""
    a, b = ProcessSlot(tmp_path), ProcessSlot(tmp_path)
    try:
        assert a.key is not None and b.key is not None and a.key != b.key
        assert b.dead([a.owner]) == []
        assert a.dead([b.owner, "otherhost:1:01ABC"]) == []
        a.close()
        c = ProcessSlot(tmp_path)  # a restart: takes the free slot, sees a dead
        try:
            assert c.key == a.key
            assert c.dead([a.owner, b.owner]) == [a.owner]
            assert b.dead([a.owner]) == []  # c, alive, holds that slot: it is its to take
        finally:
            c.close()
        assert b.dead([a.owner, c.owner]) == [a.owner, c.owner]
    finally:
        a.close()
        b.close()
