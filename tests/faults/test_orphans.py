"""Orphans and hogging (docs/reliability.md#orphans-and-hogging): user code and what it
forks die with its time limit and with its server (kill -9 included); runaway nodes do
not hold every Python slot.

Each test runs a real ``spurline serve`` subprocess on a SQLite store. Node code writes
``<kind>-<pid>`` marker files into a folder of the test, so the test knows the pids of
the processes user code ran in and checks ``/proc`` for them (a zombie, waiting for
init to reap it, counts as gone: it runs nothing).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import free_port
from tests.flows import FINAL, process_alive, start, wait_status
from tests.worker._cluster import Cluster, services_down

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@contextmanager
def _serve(home: Path, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], httpx.Client]]:
    """``spurline serve`` on the store under ``home``; killed (its group) on exit."""
    port = free_port()
    settings = {"SPURLINE_HOME": str(home), "SPURLINE_LEASE_S": "2", **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "spurline", "serve", "--port", str(port), "--log-level", "warning"],
        env={**os.environ, **settings},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        deadline = time.monotonic() + 60
        while True:
            with suppress(httpx.TransportError):
                if client.get("/health").status_code == 200:
                    break
            assert proc.poll() is None, "server exited at start"
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        yield proc, client
    finally:
        client.close()
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _workflow(client: httpx.Client, code: str, timeout_s: float) -> str:
    nodes = [
        {"id": "in", "title": "In", "node_type": "InputNode", "config": {}},
        {
            "id": "code",
            "title": "Code",
            "node_type": "PythonFuncNode",
            "config": {"code": code, "timeout_s": timeout_s},
        },
        {"id": "out", "title": "Out", "node_type": "OutputNode", "config": {}},
    ]
    links = [{"source_id": "in", "target_id": "code"}, {"source_id": "code", "target_id": "out"}]
    r = client.post(
        "/wf/", json={"name": "orphans", "definition": {"nodes": nodes, "links": links}}
    )
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


def _markers(folder: Path, kind: str) -> list[int]:
    return [int(p.name.split("-")[1]) for p in folder.glob(f"{kind}-*")]


def _wait_markers(folder: Path, kind: str, count: int, within_s: float) -> list[int]:
    deadline = time.monotonic() + within_s
    while len(pids := _markers(folder, kind)) < count:
        assert time.monotonic() < deadline, f"{len(pids)} of {count} {kind} markers"
        time.sleep(0.05)
    return pids


def _wait_gone(pids: list[int], within_s: float) -> float:
    """Seconds until none of ``pids`` runs; fails past ``within_s``."""
    start = time.monotonic()
    while alive := [pid for pid in pids if process_alive(pid)]:
        assert time.monotonic() - start < within_s, f"still running: {alive}"
        time.sleep(0.05)
    return time.monotonic() - start


def _forking_code(folder: Path, children: int) -> str:
    """Code that forks ``children`` processes writing a marker forever, then spins."""
    return f"""
import os, time
folder = {str(folder)!r}
for _ in range({children}):
    if os.fork() == 0:
        while True:
            with open(folder + '/child-' + str(os.getpid()), 'w') as f:
                f.write(str(time.time()))
            time.sleep(0.05)
open(folder + '/worker-' + str(os.getpid()), 'w').close()
while True:
    time.sleep(0.05)
"""


def test_forked_children_die_with_the_time_limit(tmp_path: Path) -> None:
    folder = tmp_path / "markers"
    folder.mkdir()
    with _serve(tmp_path / "home") as (_, client):
        wf = _workflow(client, _forking_code(folder, 3), timeout_s=2)
        run_id = start(client, wf, {"in": {"n": 0}})
        pids = _wait_markers(folder, "child", 3, 30) + _wait_markers(folder, "worker", 1, 30)
        assert all(process_alive(pid) for pid in pids)
        run = wait_status(client, run_id, FINAL, 30)
        ended = time.monotonic()
        assert run["status"] == "FAILED"
        assert "ran longer than 2 s" in str(run["tasks"]), run["tasks"]
        took = _wait_gone(pids, 5)
        print(f"\nforked children gone {took:.2f} s after the run failed")
        # nothing writes any more: the marker files stop changing
        written = {p: p.stat().st_mtime for p in folder.glob("child-*")}
        time.sleep(0.5)
        assert {p: p.stat().st_mtime for p in folder.glob("child-*")} == written
        assert time.monotonic() - ended < 10


def _second_try_returns(folder: Path) -> str:
    """Code whose first try forks a child and spins for ever (both writing markers);
    a second try writes its own marker and returns."""
    return f"""
import os, time
folder = {str(folder)!r}
if os.path.exists(folder + '/first'):
    open(folder + '/second-' + str(os.getpid()), 'w').close()
    return {{"tries": 2}}
open(folder + '/first', 'w').close()
if os.fork() == 0:
    while True:
        open(folder + '/child-' + str(os.getpid()), 'w').close()
        time.sleep(0.05)
open(folder + '/worker-' + str(os.getpid()), 'w').close()
while True:
    time.sleep(0.05)
"""


def _kill_mid_node(victim: subprocess.Popen[bytes], folder: Path) -> None:
    """kill -9 ``victim`` once the node and its child run; its user code must go at once,
    before any other process could take the run over."""
    pids = _wait_markers(folder, "child", 1, 30) + _wait_markers(folder, "worker", 1, 30)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    took = _wait_gone(pids, 5)
    print(f"\nuser code gone {took:.2f} s after the kill -9")
    assert not _markers(folder, "second")


def _ran_once_more(run: dict[str, Any], folder: Path) -> None:
    assert run["status"] == "COMPLETED", run
    assert run["outputs"]["code"] == {"tries": 2}
    assert len(_markers(folder, "second")) == 1
    assert len(_markers(folder, "worker")) == 1


def test_user_code_dies_with_a_killed_server(tmp_path: Path) -> None:
    """kill -9 of ``spurline serve`` mid-node; a restarted server takes the run over
    and runs the node again, only after the first try is gone."""
    folder = tmp_path / "markers"
    folder.mkdir()
    home = tmp_path / "home"
    with _serve(home) as (proc, client):
        wf = _workflow(client, _second_try_returns(folder), timeout_s=120)
        run_id = start(client, wf, {"in": {"n": 0}})
        _kill_mid_node(proc, folder)
    with _serve(home) as (_, client):
        _ran_once_more(wait_status(client, run_id, FINAL, 45), folder)


def test_user_code_dies_with_a_killed_celery_worker(tmp_path: Path) -> None:
    """The same with ``spurline worker`` (PostgreSQL, Redis): the worker is killed
    mid-node, another worker finishes the run."""
    if why := services_down():
        pytest.skip(why)
    folder = tmp_path / "markers"
    folder.mkdir()
    with Cluster(tmp_path, SPURLINE_LEASE_S="2", SPURLINE_QUEUE_WAIT_S="20") as cluster:
        victim = cluster.start_worker(concurrency=2)
        api = cluster.start_api()
        cluster.ready()
        with httpx.Client(base_url=api, timeout=30) as client:
            wf = _workflow(client, _second_try_returns(folder), timeout_s=120)
            run_id = start(client, wf, {"in": {"n": 0}})
            _kill_mid_node(victim, folder)
            cluster.start_worker(concurrency=2)
            _ran_once_more(wait_status(client, run_id, FINAL, 50), folder)


def test_a_fork_bomb_leaves_no_strays(tmp_path: Path) -> None:
    """Forks until refused (SPURLINE_PYTHON_MAX_PROCESSES), then hits its time limit;
    the server still runs the next Python node."""
    folder = tmp_path / "markers"
    folder.mkdir()
    bomb = f"""
import os, time
folder = {str(folder)!r}
forks = 0
try:
    while True:
        if os.fork() == 0:
            try:
                os.fork()
            except Exception:
                pass
            while True:
                open(folder + '/child-' + str(os.getpid()), 'w').close()
                time.sleep(0.05)
        forks += 1
except Exception as exc:
    open(folder + '/refused-' + str(forks), 'w').write(str(exc))
while True:
    time.sleep(0.05)
"""
    with _serve(tmp_path / "home", SPURLINE_PYTHON_MAX_PROCESSES="6") as (_, client):
        wf = _workflow(client, bomb, timeout_s=3)
        run_id = start(client, wf, {"in": {"n": 0}})
        pids = _wait_markers(folder, "child", 6, 30)
        assert _markers(folder, "refused") == [6]
        assert wait_status(client, run_id, FINAL, 30)["status"] == "FAILED"
        took = _wait_gone(pids, 5)
        print(f"\nfork bomb's 6 children gone {took:.2f} s after the run failed")
        assert len(_markers(folder, "child")) == 6
        quick = start(client, _workflow(client, "return {'ok': True}", timeout_s=10))
        assert wait_status(client, quick, FINAL, 20)["status"] == "COMPLETED"


def test_busy_nodes_do_not_hold_every_python_slot(tmp_path: Path) -> None:
    """With 2 regular Python processes held by busy loops, a quick node still runs."""
    folder = tmp_path / "markers"
    folder.mkdir()
    busy = f"""
import os
open({str(folder)!r} + '/worker-' + str(os.getpid()), 'w').close()
while True:
    pass
"""
    with _serve(tmp_path / "home", SPURLINE_PYTHON_WORKERS="2") as (_, client):
        busy_wf = _workflow(client, busy, timeout_s=20)
        hogs = [start(client, busy_wf, {"in": {"n": n}}) for n in range(2)]
        _wait_markers(folder, "worker", 2, 30)
        started = time.monotonic()
        quick = start(client, _workflow(client, "return {'ok': True}", timeout_s=20))
        run = wait_status(client, quick, FINAL, 15)
        took = time.monotonic() - started
        print(f"\nquick node done in {took:.2f} s beside 2 busy loops")
        assert run["status"] == "COMPLETED"
        assert took < 5
        for hog in hogs:
            r = client.post(f"/wf/cancel_workflow/{hog}/")
            assert r.status_code == 200, r.text
        hog_pids = _markers(folder, "worker")
        assert {wait_status(client, hog, FINAL, 20)["status"] for hog in hogs} == {"CANCELED"}
        _wait_gone(hog_pids, 5)
