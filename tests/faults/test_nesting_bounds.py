"""Bounded nesting (docs/reliability.md#bounded-nesting), over HTTP on every store:
a loop of sub-workflow references is refused at save (both dialects, create and
replace), a run nested past ``max_depth`` fails with a clear message, and a run that
would pass ``max_child_runs`` fails before creating the children.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from tests.api._contract import link, node, py
from tests.conftest import serving
from tests.flows import FINAL

from spurline.store.orm import VERSIONS


@pytest.fixture
def client(tmp_path: Path, backend: str) -> Iterator[httpx.Client]:
    """A live server with small nesting limits, so that each limit is reached fast."""
    with (
        serving(tmp_path, backend, max_depth=4, max_child_runs=30) as srv,
        httpx.Client(base_url=srv.url, timeout=60) as c,
    ):
        yield c


def calling(target: str | None) -> dict[str, Any]:
    """A workflow whose one step runs workflow ``target`` (a plain step when None)."""
    step = (
        node("call", "SubworkflowNode", workflow_id=target)
        if target
        else py("return {'v': 1}", "call")
    )
    return {"nodes": [node("in", "InputNode"), step], "links": [link("in", "call")]}


def save(client: httpx.Client, definition: dict[str, Any], name: str, prefix: str = "") -> str:
    r = client.post(f"{prefix}/wf/", json={"name": name, "definition": definition})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def chain_of(client: httpx.Client, calls: int) -> str:
    """A chain of workflows, each calling the next ``calls`` times deep; the top's id."""
    target = save(client, calling(None), "w0")
    for i in range(1, calls + 1):
        target = save(client, calling(target), f"w{i}")
    return target


def run(client: httpx.Client, wf_id: str) -> httpx.Response:
    return client.post(f"/wf/{wf_id}/run/", json={"initial_inputs": {"in": {}}}, timeout=120)


def every_run_final(client: httpx.Client) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = client.get("/run/", params={"page_size": 100}).json()
    assert {r["status"] for r in runs} <= set(FINAL)
    return runs


@pytest.mark.parametrize("prefix", ["", "/api"])
def test_a_loop_of_references_is_refused_at_save(client: httpx.Client, prefix: str) -> None:
    a = save(client, calling(None), "A", prefix)
    b = save(client, calling(a), "B", prefix)
    c = save(client, calling(b), "C", prefix)
    before = client.get(f"/wf/{a}/versions/").json()

    r = client.put(f"{prefix}/wf/{a}/", json={"name": "A", "definition": calling(c)})

    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    assert problem["type"] == "reference_cycle"
    assert problem["loc"] == ["definition", "nodes", 1, "config", "workflow_id"]
    assert f"'A' ({a}) -> 'C' ({c}) -> 'B' ({b}) -> 'A' ({a})" in problem["msg"]
    assert client.get(f"/wf/{a}/versions/").json() == before  # nothing written


def test_a_workflow_naming_itself_is_refused(client: httpx.Client) -> None:
    a = save(client, calling(None), "self")
    embedded = {
        "nodes": [
            node("in", "InputNode"),
            {**node("outer", "SubworkflowNode"), "subworkflow": calling(a)},
        ],
        "links": [link("in", "outer")],
    }
    r = client.put(f"/wf/{a}/", json={"name": "self", "definition": embedded})
    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    loc = ["definition", "nodes", 1, "subworkflow", "nodes", 1, "config", "workflow_id"]
    assert problem["loc"] == loc
    assert f"'self' ({a}) -> 'self' ({a})" in problem["msg"]


def test_a_run_deeper_than_max_depth_fails_clearly(client: httpx.Client) -> None:
    r = run(client, chain_of(client, 5))  # depth 5 > max_depth 4

    assert r.status_code == 422, r.text
    message = r.json()["detail"]["message"]
    assert "nest deeper than SPURLINE_MAX_DEPTH=4" in message
    runs = every_run_final(client)
    # root + 4 nested levels were created; the fifth was refused before it existed
    assert len(runs) == 5


def test_a_run_past_max_child_runs_fails_before_creating_them(client: httpx.Client) -> None:
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("loop", "ForLoopNode", num_iterations=31),
            {**node("body_in", "InputNode"), "parent_id": "loop"},
            {**py("return {'i': 1}", "work"), "parent_id": "loop"},
        ],
        "links": [link("in", "loop"), link("body_in", "work")],
    }
    wf = save(client, definition, "wide")

    r = run(client, wf)

    assert r.status_code == 422, r.text
    message = r.json()["detail"]["message"]
    assert "past SPURLINE_MAX_CHILD_RUNS=30" in message
    assert "starting 31 more child runs" in message
    [root] = every_run_final(client)
    assert client.get(f"/run/{root['id']}/children/").json() == []


def test_runs_within_the_limits_complete(client: httpx.Client) -> None:
    r = run(client, chain_of(client, 4))
    assert r.status_code == 200, r.text
    assert {r["status"] for r in every_run_final(client)} == {"COMPLETED"}


def test_many_small_starts_stop_exactly_at_max_child_runs(client: httpx.Client) -> None:
    """20 loop iterations (20 children), each calling a sub-workflow (one child each):
    the tree reaches 30 after 10 calls and the 11th is refused."""
    inner = save(client, calling(None), "inner")
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("loop", "ForLoopNode", num_iterations=20),
            {**node("body_in", "InputNode"), "parent_id": "loop"},
            {**node("call", "SubworkflowNode", workflow_id=inner), "parent_id": "loop"},
        ],
        "links": [link("in", "loop"), link("body_in", "call")],
    }
    r = run(client, save(client, definition, "many"))

    assert r.status_code == 422, r.text
    assert "past SPURLINE_MAX_CHILD_RUNS=30" in r.json()["detail"]["message"]
    runs = every_run_final(client)
    assert len(runs) == 1 + 30  # the root and exactly the 30 children allowed
    statuses = sorted(r["status"] for r in runs)
    assert statuses.count("COMPLETED") == 20  # 10 iterations and their 10 sub-workflows


def test_a_loop_already_in_the_store_stops_at_max_depth(tmp_path: Path, backend: str) -> None:
    """The issue's case: a workflow that reaches itself (here through a store written
    before the save check existed) used to nest 2,215 child runs in 15 s."""
    with (
        serving(tmp_path, backend, max_depth=4) as srv,
        httpx.Client(base_url=srv.url, timeout=60) as client,
    ):
        a = save(client, calling(None), "A")
        b = save(client, calling(a), "B")
        version = client.get(f"/wf/{a}/versions/").json()[0]["id"]
        with (
            srv.runtime.store.db.write_engine.begin() as conn
        ):  # A -> B, behind the save check's back
            conn.execute(
                update(VERSIONS).where(VERSIONS.c.id == version).values(definition=calling(b))
            )

        r = run(client, a)

        assert r.status_code == 422, r.text
        assert "nest deeper than SPURLINE_MAX_DEPTH=4" in r.json()["detail"]["message"]
        runs = every_run_final(client)
        assert len(runs) == 5  # A, B, A, B, A: the sixth was never created
