"""Logs, tracebacks, attempts and the event streams over HTTP (docs/observability.md),
on every deployment: SQLite, PostgreSQL, PostgreSQL + Celery.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from tests.api._contract import link, node, py, start, wait_run
from tests.api._sse import collect, read_events
from tests.conftest import LiveServer

FLAKY = """import logging, pathlib, sys
p = pathlib.Path({counter!r})
n = int(p.read_text()) + 1 if p.exists() else 1
p.write_text(str(n))
print("try", n)
print("to stderr", file=sys.stderr)
logging.warning("careful %d", n)
if n <= 2:
    raise ConnectionError(f"attempt {{n}} failed")
return {{"n": n}}"""


def flaky_definition(counter: Path) -> dict[str, Any]:
    code = FLAKY.format(counter=str(counter))
    return {
        "nodes": [
            node("in", "InputNode", "In"),
            py(code, "flaky", "Flaky", max_retries=2, retry_delay_s=0.01),
        ],
        "links": [link("in", "flaky")],
    }


def test_fails_twice_then_succeeds_three_attempts_with_logs(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    wf = make_workflow(flaky_definition(tmp_path / "calls"))
    r = client.post(f"/wf/{wf}/run/", json={})
    assert r.status_code == 200, r.text
    assert r.json()["flaky"] == {"n": 3}
    run = client.get("/run/").json()[0]
    task = next(t for t in run["tasks"] if t["node_id"] == "flaky")
    assert (task["status"], task["attempts"], task["error"], task["traceback"]) == (
        "COMPLETED",
        3,
        None,
        None,
    )
    assert task["ready_time"] <= task["start_time"]
    attempts = client.get(f"/run/{run['id']}/tasks/{task['id']}/attempts/").json()
    assert [(a["number"], a["status"], a["error"], a["started_by"]) for a in attempts] == [
        (1, "FAILED", "ConnectionError: attempt 1 failed", "run"),
        (2, "FAILED", "ConnectionError: attempt 2 failed", "node retry"),
        (3, "COMPLETED", None, "node retry"),
    ]
    assert (
        'line 9, in user_function\n    raise ConnectionError(f"attempt {n} failed")'
        in (attempts[0]["traceback"])
    )
    logs = client.get(f"/run/{run['id']}/logs/", params={"node": "flaky", "attempt": 2})
    assert logs.headers["x-total-count"] == "3"
    assert [(ln["stream"], ln["level"], ln["line"], ln["attempt"]) for ln in logs.json()] == [
        ("stdout", "INFO", "try 2", 2),
        ("stderr", "ERROR", "to stderr", 2),
        ("log", "WARNING", "careful 2", 2),
    ]
    every = client.get(f"/run/{run['id']}/logs/", params={"page_size": 4})
    assert every.headers["x-total-count"] == "9"
    assert [ln["line"] for ln in every.json()] == ["try 1", "to stderr", "careful 1", "try 2"]
    assert 'rel="next"' in every.headers["link"]


def test_traceback_names_the_failing_line_of_the_code(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    code = "def half(x):\n    return x / 0\n\ny = 1\nreturn {'y': half(y)}"
    wf = make_workflow(
        {"nodes": [node("in", "InputNode"), py(code, "p")], "links": [link("in", "p")]}
    )
    r = client.post(f"/wf/{wf}/run/", json={})
    assert r.status_code == 422
    task = next(t for t in r.json()["detail"]["run"]["tasks"] if t["node_id"] == "p")
    assert task["error"] == "ZeroDivisionError: division by zero"
    assert task["traceback"] == (
        "Traceback (most recent call last):\n"
        '  File "<PythonFuncNode code>", line 5, in user_function\n'
        "    return {'y': half(y)}\n"
        '  File "<PythonFuncNode code>", line 2, in half\n'
        "    return x / 0\n"
        "ZeroDivisionError: division by zero"
    )


GATED = """import pathlib, time
gate = pathlib.Path({gate!r})
print("waiting")
deadline = time.monotonic() + 30
while not gate.exists() and time.monotonic() < deadline:
    time.sleep(0.01)
print("through")
return {{"ok": gate.exists()}}"""


def test_sse_on_another_api_process_sees_every_event_and_resumes(
    server: LiveServer, client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    definition = {
        "nodes": [
            node("in", "InputNode", "In"),
            py("print('a'); return {'a': 1}", "a", "A"),
            py(GATED.format(gate=str(gate)), "b", "B"),
            py("return {'c': 1}", "c", "C"),
        ],
        "links": [link("in", "a"), link("a", "b"), link("b", "c")],
    }
    wf = make_workflow(definition)
    with LiveServer(server.settings) as other, httpx.Client(base_url=other.url) as b:
        run_id = start(client, wf)
        # process B; the run executes on A (or a Celery worker): read until b runs
        first = []
        with b.stream("GET", f"/run/{run_id}/events/", timeout=60) as r:
            for e in read_events(r):
                first.append(e)
                if e.event == "task" and e.data["node_id"] == "b":
                    break
        threading.Timer(0.3, gate.touch).start()  # the run goes on while we reconnect
        rest = collect(b, f"/run/{run_id}/events/", last_event_id=first[-1].id)
        assert wait_run(client, run_id)["status"] == "COMPLETED"
        replay = collect(b, f"/run/{run_id}/events/")
    assert rest[-1].event == "end" and rest[-1].data == {"run_id": run_id, "status": "COMPLETED"}
    got = [(e.id, e.event, e.data) for e in first + rest[:-1]]
    assert got == [(e.id, e.event, e.data) for e in replay[:-1]]
    ids = [int(e.id or 0) for e in replay[:-1]]
    assert ids == sorted(set(ids))
    runs = [e.data["status"] for e in replay if e.event == "run"]
    assert runs == ["PENDING", "RUNNING", "COMPLETED"]
    b_tasks = [e.data["status"] for e in replay if e.event == "task" and e.data["node_id"] == "b"]
    assert b_tasks == ["RUNNING", "COMPLETED"]
    lines = [e.data["line"] for e in replay if e.event == "log"]
    assert lines == ["a", "waiting", "through"]
    assert all(e.data["run_id"] == run_id and e.data["workflow_id"] == wf for e in replay[:-1])


def test_events_of_every_run_filtered_by_workflow(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    one = make_workflow({"nodes": [node("in", "InputNode")], "links": []})
    two = make_workflow({"nodes": [node("in", "InputNode")], "links": []})
    assert client.post(f"/wf/{one}/run/", json={}).status_code == 200
    assert client.post(f"/wf/{two}/run/", json={}).status_code == 200
    seen = collect(client, f"/events/?workflow_id={two}", stop_after=3, timeout=10)
    assert {e.data["workflow_id"] for e in seen} == {two}
    assert [(e.event, e.data.get("status")) for e in seen] == [
        ("run", "PENDING"),
        ("run", "RUNNING"),
        ("attempt", "COMPLETED"),
    ]


def test_unknown_ids_and_bad_last_event_id(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow({"nodes": [node("in", "InputNode")], "links": []})
    run = client.post(f"/wf/{wf}/start_run/", json={}).json()
    for path in ("/run/RNOPE/events/", "/run/RNOPE/logs/", "/run/RNOPE/tasks/TNOPE/attempts/"):
        r = client.get(path)
        assert (r.status_code, r.json()) == (404, {"detail": "Run not found"}), path
    r = client.get(f"/run/{run['id']}/tasks/TNOPE/attempts/")
    assert (r.status_code, r.json()) == (404, {"detail": "Task not found"})
    for bad in ("abc", "-1", "1e3", "9" * 30):
        r = client.get(f"/run/{run['id']}/events/", headers={"Last-Event-ID": bad})
        assert r.status_code == 422, bad
        assert r.json()["detail"][0]["loc"] == ["header", "Last-Event-ID"]
        assert "Last-Event-ID" in r.json()["detail"][0]["msg"]
    r = client.get("/events/", headers={"Last-Event-ID": "999999999"})
    assert r.status_code == 422
    assert "ahead of the newest event" in r.json()["detail"][0]["msg"]
    r = client.get(f"/run/{run['id']}/logs/", params={"attempt": 0})
    assert r.status_code == 422


def test_huge_binary_and_long_output_is_capped(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    code = (
        "import sys\n"
        "chunk = ('z' * 99 + '\\n') * 10_000\n"
        "for _ in range(100):\n"
        "    sys.stdout.write(chunk)\n"  # 100 MB in 1,000,000 lines
        "sys.stdout.buffer.write(b'bad \\xff\\xfe bytes\\n')\n"
        "print('q' * 10_000_000)\n"  # one 10 MB line
        "print('last')\n"
        "return {'ok': True}"
    )
    wf = make_workflow(
        {"nodes": [node("in", "InputNode"), py(code, "p")], "links": [link("in", "p")]}
    )
    r = client.post(f"/wf/{wf}/run/", json={})
    assert (r.status_code, r.json()["p"]) == (200, {"ok": True})
    run_id = client.get("/run/").json()[0]["id"]
    first = client.get(f"/run/{run_id}/logs/", params={"page_size": 1000})
    total = int(first.headers["x-total-count"])
    assert total <= 10_001
    last_page = (total + 999) // 1000
    tail = client.get(f"/run/{run_id}/logs/", params={"page": last_page, "page_size": 1000})
    lines = [ln["line"] for ln in tail.json()]
    assert lines[-1] == "last"
    assert lines[-3] == "bad \ufffd\ufffd bytes"
    long = lines[-2]
    assert long.startswith("q" * 1000) and "characters dropped" in long
    assert len(long.encode()) <= 512 * 1024
    markers = [ln for ln in first.json() + tail.json() if ln["stream"] == "meta"]
    middle = [
        ln
        for page in range(2, last_page)
        for ln in client.get(
            f"/run/{run_id}/logs/", params={"page": page, "page_size": 1000}
        ).json()
        if ln["stream"] == "meta"
    ]
    (marker,) = markers + middle
    assert "bytes" in marker["line"] and "dropped" in marker["line"]
    stored = sum(
        len(ln["line"].encode())
        for page in range(1, last_page + 1)
        for ln in client.get(
            f"/run/{run_id}/logs/", params={"page": page, "page_size": 1000}
        ).json()
    )
    assert stored <= 1024 * 1024 + 200


def test_queue_wait_does_not_count_against_the_time_limit(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    # 2 worker processes, 6 runs of a 0.8 s node limited to 1.2 s: the last ones wait
    # about 1.6 s for a process, which must not count as run time.
    code = "import time\ntime.sleep(0.8)\nreturn {'ok': True}"
    wf = make_workflow(
        {
            "nodes": [node("in", "InputNode"), py(code, "p", timeout_s=1.2)],
            "links": [link("in", "p")],
        }
    )
    run_ids = [start(client, wf) for _ in range(6)]
    runs = [wait_run(client, rid) for rid in run_ids]
    assert [r["status"] for r in runs] == ["COMPLETED"] * 6
    waits = []
    for r in runs:
        t = r["tasks"][1]
        waits.append(_seconds(t["start_time"]) - _seconds(t["ready_time"]))
    assert max(waits) > 0.5  # some runs really queued


def _seconds(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp()


def test_disconnecting_clients_leave_nothing_behind(
    server: LiveServer, client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    if server.settings.executor == "celery":
        return  # the API process is the same as without Celery; once per store is enough
    cycles = 1000 if server.settings.database_url is None else 200  # PostgreSQL: slower
    wf = make_workflow({"nodes": [node("in", "InputNode")], "links": []})
    run_id = client.post(f"/wf/{wf}/start_run/", json={}).json()["id"]
    rt = server.runtime
    loop = rt.hub._loop

    def task_count() -> int:
        import asyncio

        return len(asyncio.all_tasks(loop))

    # one cycle first: sse-starlette starts one shutdown-watcher task per process on
    # its first stream, which then stays (it is not per connection)
    with client.stream("GET", "/events/") as r:
        next(r.iter_lines())
    deadline = time.monotonic() + 10
    while rt.hub.subscribers and time.monotonic() < deadline:
        time.sleep(0.05)
    before = task_count()
    for i in range(cycles):
        path = f"/run/{run_id}/events/" if i % 2 else "/events/"
        with client.stream("GET", path) as r:
            assert r.status_code == 200
            next(r.iter_lines())  # connected and receiving
    deadline = time.monotonic() + 10
    pool = rt.db.read_engine.pool
    # the scheduler's and the hub's polls read now and then: a connection out for a
    # moment is theirs; a leaked one stays out past the deadline
    while (
        rt.hub.subscribers or task_count() > before or pool.checkedout()
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not rt.hub.subscribers
    assert task_count() <= before
    assert rt.db.read_engine.pool.checkedout() == 0
