"""HTTP conventions of SPEC §2: trailing slashes, paging headers, DELETE /run/{id}/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text
from tests.api._contract import link, node, one_step, start, wait_for, wait_run
from tests.conftest import LiveServer, make_settings

SIMPLE = {
    "nodes": [node("in", "InputNode"), node("out", "OutputNode")],
    "links": [link("in", "out")],
}


def test_paths_work_with_and_without_trailing_slash(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf_id = make_workflow(SIMPLE)
    run_id = start(client, wf_id)
    wait_run(client, run_id)
    for path in [
        "/run/",
        f"/run/{run_id}/",
        f"/run/{run_id}/status/",
        f"/run/{run_id}/tasks/",
        f"/run/{run_id}/children/",
        "/wf/",
        f"/wf/{wf_id}/",
        f"/wf/{wf_id}/versions/",
        f"/wf/{wf_id}/runs/",
    ]:
        with_slash = client.get(path)
        without = client.get(path.rstrip("/"))
        assert (with_slash.status_code, without.status_code) == (200, 200), path
        assert without.json() == with_slash.json(), path
        assert with_slash.history == without.history == []
    for path in (f"/wf/{wf_id}/start_run", f"/wf/{wf_id}/start_run/"):
        r = client.post(path, json={})
        assert r.status_code == 200, path
        wait_run(client, r.json()["id"])
    for path in (f"/wf/{wf_id}/run", f"/wf/{wf_id}/run/"):
        r = client.post(path, json={"initial_inputs": {"in": {"a": 1}}})
        assert (r.status_code, r.json()["out"]) == (200, {"a": 1})
    body = {"name": "again", "definition": SIMPLE}
    assert client.post("/wf", json=body).status_code == 200  # as PySpur; runs_bench checks it
    assert client.put(f"/wf/{wf_id}", json=body).status_code == 200


def links_of(response: httpx.Response) -> dict[str, tuple[int, int]]:
    """rel -> (page, page_size) parsed from an RFC 8288 Link header."""
    out: dict[str, tuple[int, int]] = {}
    header = response.headers.get("link")
    if not header:
        return out
    for part in header.split(", "):
        url, rel = part.split("; ")
        query = parse_qs(urlsplit(url.strip("<>")).query)
        out[rel.removeprefix('rel="').rstrip('"')] = (
            int(query["page"][0]),
            int(query["page_size"][0]),
        )
    return out


def test_total_count_and_link_headers(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf_id = make_workflow(SIMPLE)
    for _ in range(5):
        wait_run(client, start(client, wf_id))
    expect = {
        1: {"next": (2, 2)},
        2: {"next": (3, 2), "prev": (1, 2)},
        3: {"prev": (2, 2)},
        9: {"prev": (3, 2)},  # past the end: prev points at the last page
    }
    for path in ("/run/", f"/wf/{wf_id}/runs/"):
        for page, rels in expect.items():
            r = client.get(path, params={"page": page, "page_size": 2})
            assert r.status_code == 200
            assert r.headers["x-total-count"] == "5"
            assert links_of(r) == rels, (path, page)
            assert len(r.json()) == {1: 2, 2: 2, 3: 1, 9: 0}[page]
    whole = client.get("/run/", params={"page_size": 5})
    assert links_of(whole) == {}
    assert whole.headers["x-total-count"] == "5"
    # Other query parameters are kept in the links.
    r = client.get("/run/", params={"page_size": 2, "status": "COMPLETED"})
    next_url = r.headers["link"].split(";")[0].strip("<>")
    assert parse_qs(urlsplit(next_url).query)["status"] == ["COMPLETED"]
    assert (
        client.get(next_url).json()
        == client.get("/run/", params={"page": 2, "page_size": 2}).json()
    )


def test_list_filters(client: httpx.Client, make_workflow: Callable[..., str]) -> None:
    ok_wf = make_workflow(SIMPLE)
    bad_wf = make_workflow(one_step("raise ValueError('no')"))
    ok = wait_run(client, start(client, ok_wf))["id"]
    bad = wait_run(client, start(client, bad_wf))["id"]

    def ids(**params: object) -> list[str]:
        r = client.get("/run/", params=params)
        assert r.status_code == 200
        assert r.headers["x-total-count"] == str(len(r.json()))
        return [run["id"] for run in r.json()]

    assert ids() == [bad, ok]
    assert ids(status="FAILED") == [bad]
    assert ids(status=["FAILED", "COMPLETED"]) == [bad, ok]
    assert ids(workflow_id=ok_wf) == [ok]
    assert ids(run_type="interactive", parent_only=True) == [bad, ok]
    assert ids(run_type="batch") == []


def task_rows(server: LiveServer, run_id: str) -> int:
    with server.runtime.db.read_engine.connect() as conn:
        query = text("SELECT count(*) FROM tasks WHERE run_id = :r")
        return int(conn.execute(query, {"r": run_id}).scalar_one())


def test_delete_run_removes_it_and_its_tasks(
    server: LiveServer, client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf_id = make_workflow(SIMPLE)
    keep, gone = (wait_run(client, start(client, wf_id))["id"] for _ in range(2))
    assert task_rows(server, gone) == 2
    r = client.delete(f"/run/{gone}/")
    assert (r.status_code, r.content) == (204, b"")
    assert client.get(f"/run/{gone}/").status_code == 404
    assert client.get(f"/run/{gone}/tasks/").status_code == 404
    assert task_rows(server, gone) == 0
    assert [run["id"] for run in client.get("/run/").json()] == [keep]
    assert client.delete(f"/run/{gone}").json() == {"detail": "Run not found"}
    assert task_rows(server, keep) == 2


def test_delete_running_run_is_409(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    wait_code = (
        "import pathlib, time\n"
        f"gate = pathlib.Path({str(gate)!r})\n"
        "end = time.monotonic() + 30\n"
        "while not gate.exists() and time.monotonic() < end:\n"
        "    time.sleep(0.01)\n"
        "return {'opened': gate.exists()}"
    )
    run_id = start(client, make_workflow(one_step(wait_code)))
    wait_for(
        lambda: client.get(f"/run/{run_id}/").json()["tasks"][1]["status"] == "RUNNING",
        what="the task to start",
    )
    r = client.delete(f"/run/{run_id}/")
    assert r.status_code == 409
    assert r.json() == {"detail": f"Run {run_id} is RUNNING; cancel it before deleting it"}
    assert client.get(f"/run/{run_id}/").json()["status"] == "RUNNING"
    gate.write_text("open")
    run = wait_run(client, run_id)
    assert (run["status"], run["outputs"]["p"]) == ("COMPLETED", {"opened": True})
    assert client.delete(f"/run/{run_id}/").status_code == 204


@pytest.mark.parametrize("path", ["/run/", "/wf/"])
def test_empty_lists(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert (r.status_code, r.json(), r.headers["x-total-count"]) == (200, [], "0")
    assert "link" not in r.headers


@pytest.fixture
def server_with(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Factory: a live SQLite server with settings overridden by keywords."""
    stack = ExitStack()

    def start_server(**overrides: Any) -> LiveServer:
        settings, cleanup = make_settings(tmp_path / f"s{len(stack._exit_callbacks)}", **overrides)
        stack.callback(cleanup)
        return stack.enter_context(LiveServer(settings))

    with stack:
        yield start_server


def test_body_over_the_limit_is_413(server_with: Callable[..., LiveServer]) -> None:
    small_limit = server_with(max_body_bytes=2000)
    detail = {"detail": "request body is larger than the limit of 2000 bytes"}
    definition = {"nodes": [node("in", "InputNode", title="A" * 3000)], "links": []}
    chunks = [b'{"name": "x", "definition": {"nodes": [], "pad": "', b"x" * 3000, b'"}}']
    with httpx.Client(base_url=small_limit.url, timeout=30) as client:
        r = client.post("/wf/", json={"name": "big", "definition": definition})
        assert (r.status_code, r.json()) == (413, detail)
        # Without Content-Length (chunked), the limit applies while the body streams in.
        r = client.post("/wf/", content=iter(chunks), headers={"content-type": "application/json"})
        assert "content-length" not in r.request.headers
        assert (r.status_code, r.json()) == (413, detail)
        assert client.get("/wf/").headers["x-total-count"] == "0"
        small = {"nodes": [node("in", "InputNode")], "links": []}
        assert client.post("/wf/", json={"name": "ok", "definition": small}).status_code == 200


def test_blocking_run_still_running_after_the_wait_is_202(
    server_with: Callable[..., LiveServer], tmp_path: Path
) -> None:
    srv = server_with(blocking_timeout_s=0.2)
    gate = tmp_path / "gate"
    code = (
        "import pathlib, time\n"
        f"gate = pathlib.Path({str(gate)!r})\n"
        "while not gate.exists():\n"
        "    time.sleep(0.01)\n"
        "return {'done': True}"
    )
    with httpx.Client(base_url=srv.url, timeout=30) as client:
        wf_id = client.post("/wf/", json={"name": "w", "definition": one_step(code)}).json()["id"]
        r = client.post(f"/wf/{wf_id}/run/", json={})
        assert r.status_code == 202
        run = r.json()
        assert run["status"] == "RUNNING"
        assert r.headers["location"] == f"/run/{run['id']}/"
        assert run["tasks"][1]["status"] in ("PENDING", "RUNNING")
        assert run["duration"] >= 0 and run["end_time"] is None
        gate.write_text("open")
        assert wait_run(client, run["id"])["outputs"]["p"] == {"done": True}
