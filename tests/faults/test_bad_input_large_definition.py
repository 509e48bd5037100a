"""A large definition (docs/reliability.md#validation-and-bad-input): checking it is
linear in its size and runs off the event loop, so other requests go on meanwhile.
Before, 20,000 ForLoopNodes took minutes of the event loop (each loop scanned every
node for its body).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.conftest import BACKENDS, serving

from spurline.exceptions import DefinitionInvalid
from spurline.nodes.registry import parse_definition

JSON = {"content-type": "application/json"}


def loops(count: int) -> dict[str, Any]:
    """``count`` ForLoopNodes in a chain, each with a one-node body."""
    nodes: list[dict[str, Any]] = [{"id": "in", "node_type": "InputNode"}]
    links = []
    for i in range(count):
        nodes.append({"id": f"l{i}", "node_type": "ForLoopNode", "config": {"num_iterations": 1}})
        nodes.append({"id": f"b{i}", "node_type": "InputNode", "parent_id": f"l{i}"})
        links.append({"source_id": f"l{i - 1}" if i else "in", "target_id": f"l{i}"})
    return {"nodes": nodes, "links": links}


def empty_loops(count: int) -> dict[str, Any]:
    """``count`` ForLoopNodes in a chain, none with a body: the issue's 2.5 MB case,
    refused with one problem per loop."""
    nodes: list[dict[str, Any]] = [{"id": "in", "node_type": "InputNode"}]
    nodes += [
        {"id": f"l{i}", "node_type": "ForLoopNode", "config": {"num_iterations": 1}}
        for i in range(count)
    ]
    links = [{"source_id": f"l{i - 1}" if i else "in", "target_id": f"l{i}"} for i in range(count)]
    return {"nodes": nodes, "links": links}


def chain(count: int) -> dict[str, Any]:
    """``count`` PythonFuncNodes in a chain."""
    nodes: list[dict[str, Any]] = [{"id": "in", "node_type": "InputNode"}]
    links = []
    for i in range(count):
        code = f"return {{'step': {i}}}"
        nodes.append({"id": f"p{i}", "node_type": "PythonFuncNode", "config": {"code": code}})
        links.append({"source_id": f"p{i - 1}" if i else "in", "target_id": f"p{i}"})
    return {"nodes": nodes, "links": links}


def check_time(definition: dict[str, Any]) -> float:
    """CPU seconds of this thread to check ``definition``, the best of three: other
    processes on the shared machine do not count, nor does the garbage collector, whose
    full passes cost what the rest of the test process holds, not what the check does."""
    best = float("inf")
    for _ in range(3):
        gc.collect()
        gc.disable()
        started = time.thread_time()
        try:
            with suppress(DefinitionInvalid):
                parse_definition(definition)
        finally:
            gc.enable()
        best = min(best, time.thread_time() - started)
    return best


@pytest.mark.parametrize("shape", [loops, chain, empty_loops])
def test_checking_grows_linearly_with_the_definition(shape: Any) -> None:
    check_time(shape(10))  # imports and node registry
    small, large = check_time(shape(5_000)), check_time(shape(20_000))
    # linear: 4x the nodes take about 4x the time (4.1-4.7 measured); quadratic took 16x
    assert large / small < 8, (small, large)
    # 0.35-0.6 s of CPU on the development machine (the issue asks under 1 s); the
    # 20,000 ForLoopNodes took minutes when quadratic
    assert large < 2, large


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with serving(tmp_path, str(request.param)) as srv:
        yield srv.url


@pytest.mark.parametrize("shape", [loops, chain, empty_loops])
def test_other_requests_go_on_while_a_large_definition_is_checked(url: str, shape: Any) -> None:
    body = orjson.dumps({"name": "large", "definition": shape(20_000)})
    assert len(body) > 1_000_000
    answer: dict[str, Any] = {}

    def save() -> None:
        started = time.monotonic()
        r = httpx.post(f"{url}/wf/", content=body, headers=JSON, timeout=60)
        answer["seconds"] = time.monotonic() - started
        answer["status"] = r.status_code
        if r.status_code == 200:
            answer["nodes"] = len(r.json()["definition"]["nodes"])
        else:
            answer["problems"] = {p["msg"] for p in r.json()["detail"]}

    saver = threading.Thread(target=save)
    waits = []
    with httpx.Client(base_url=url, timeout=30) as client:
        saver.start()
        while saver.is_alive():
            started = time.monotonic()
            assert client.get("/health").status_code == 200
            waits.append(time.monotonic() - started)
        saver.join()
        stored = client.get("/wf/").json()

    if shape is empty_loops:
        assert answer["status"] == 422
        empty = "the loop body is empty: no node has this loop as parent_id"
        assert answer["problems"] == {f"node 'l{i}': {empty}" for i in range(20_000)}
    else:
        assert answer["status"] == 200
        assert answer["nodes"] == {loops: 40_001, chain: 20_001}[shape]
    assert answer["seconds"] < 20, answer
    assert len(waits) > 3
    # only the body's JSON decoding is on the loop (0.04 s); 0.22 s measured, loaded
    assert max(waits) < 2, sorted(waits)[-3:]
    assert [w["name"] for w in stored] == ([] if shape is empty_loops else ["large"])
