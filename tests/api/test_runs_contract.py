"""Contract tests over real HTTP: every field of RunResponseSchema and TaskResponseSchema
(SPEC §2.1, §2.2) for the run shapes issue 2's acceptance names.

Each test checks the volatile fields with ``checked_run`` (ids, datetimes, duration,
percentage, topological order, definition_hash) and then compares the whole run with
one literal that names every field.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.api._contract import (
    DT,
    checked_run,
    link,
    node,
    pending_task,
    py,
    skipped,
    start,
    task_,
    wait_run,
)


@pytest.fixture
def client(shared_client: httpx.Client) -> httpx.Client:
    """Each test reads only its own workflow and run, so one server per backend serves all."""
    return shared_client


def run_(status: str, tasks: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """The expected placeholder form of a finished run (as ``checked_run`` returns it)."""
    completed = {t["node_id"]: t["outputs"] for t in tasks if t["status"] == "COMPLETED"}
    ended = status in ("COMPLETED", "FAILED", "CANCELED")
    base = {
        "id": "<run id>",
        "workflow_id": "<wf id>",
        "workflow_version_id": "<version id>",
        "workflow_version": {
            "version": 1,
            "name": "test workflow",
            "description": "",
            "definition": "<definition>",
            "definition_hash": fields.pop("definition_hash"),
            "created_at": DT,
            "updated_at": DT,
        },
        "status": status,
        "start_time": DT,
        "end_time": DT if ended else None,
        "initial_inputs": None,
        "outputs": completed or None,
        "tasks": tasks,
        "parent_run_id": None,
        "run_type": "interactive",
        "output_file_id": None,
        "input_dataset_id": None,
        "message": None,
        "duration": "<end - start>" if ended else None,
        "percentage_complete": 100.0,
    }
    return {**base, **fields}


def finished(
    client: httpx.Client, make_workflow: Callable[..., str], definition: dict[str, Any], inputs: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create the workflow, start a run, wait for its end; return (raw run, checked run)."""
    wf_id = make_workflow(definition)
    run_id = start(client, wf_id, inputs)
    raw = wait_run(client, run_id)
    assert raw["workflow_id"] == wf_id
    stored = client.get(f"/wf/{wf_id}/").json()["definition"]
    assert raw["workflow_version"]["definition"] == stored
    # The three read endpoints agree on the run and its tasks.
    assert client.get(f"/run/{run_id}/status/").json() == raw
    assert client.get(f"/run/{run_id}/tasks/").json() == raw["tasks"]
    return raw, checked_run(raw, definition["links"])


LINEAR = {
    "nodes": [
        node("in", "InputNode", "In", output_schema={"text": "str"}),
        py("return {'upper': input_model.In.text.upper()}", "up", "Upper"),
        node("out", "OutputNode", "Out", output_map={"result": "Upper.upper"}),
    ],
    "links": [link("in", "up"), link("up", "out")],
}


def test_linear_run(client: httpx.Client, make_workflow: Callable[..., str]) -> None:
    raw, run = finished(client, make_workflow, LINEAR, {"in": {"text": "penguin"}})
    assert run == run_(
        "COMPLETED",
        [
            task_("in", "InputNode", "COMPLETED", {"text": "penguin"}, {"text": "penguin"}),
            task_(
                "up",
                "PythonFuncNode",
                "COMPLETED",
                {"In": {"text": "penguin"}},
                {"upper": "PENGUIN"},
            ),
            task_(
                "out",
                "OutputNode",
                "COMPLETED",
                {"Upper": {"upper": "PENGUIN"}},
                {"result": "PENGUIN"},
            ),
        ],
        initial_inputs={"in": {"text": "penguin"}},
        definition_hash=raw["workflow_version"]["definition_hash"],
    )
    assert raw["outputs"] == {
        "in": {"text": "penguin"},
        "up": {"upper": "PENGUIN"},
        "out": {"result": "PENGUIN"},
    }


def rendezvous(me: str, other: str, folder: Path) -> str:
    """Code that returns only once the ``other`` branch has started too (proves concurrency)."""
    return (
        "import pathlib, time\n"
        f"d = pathlib.Path({str(folder)!r})\n"
        f"(d / {me!r}).write_text('started')\n"
        "end = time.monotonic() + 20\n"
        f"while not (d / {other!r}).exists():\n"
        "    if time.monotonic() > end:\n"
        f"        raise RuntimeError('{other} never ran alongside {me}')\n"
        "    time.sleep(0.01)\n"
        f"return {{'branch': {me!r}, 'n': input_model.In.n}}"
    )


def test_parallel_fan_out_fan_in(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    definition = {
        "nodes": [
            node("in", "InputNode", "In", output_schema={"n": "int"}),
            py(rendezvous("a", "b", tmp_path), "a", "A"),
            py(rendezvous("b", "a", tmp_path), "b", "B"),
            node("c", "StaticValueNode", "C", values={"branch": "c"}),
            node("merge", "MergeNode", "Merge"),
            node("out", "OutputNode", "Out"),
        ],
        "links": [
            link("in", "a"),
            link("in", "b"),
            link("in", "c"),
            link("a", "merge"),
            link("b", "merge"),
            link("c", "merge"),
            link("merge", "out"),
        ],
    }
    raw, run = finished(client, make_workflow, definition, {"in": {"n": 7}})
    merged = {"A": {"branch": "a", "n": 7}, "B": {"branch": "b", "n": 7}, "C": {"branch": "c"}}
    assert run == run_(
        "COMPLETED",
        [
            task_("in", "InputNode", "COMPLETED", {"n": 7}, {"n": 7}),
            task_("a", "PythonFuncNode", "COMPLETED", {"In": {"n": 7}}, merged["A"]),
            task_("b", "PythonFuncNode", "COMPLETED", {"In": {"n": 7}}, merged["B"]),
            task_("c", "StaticValueNode", "COMPLETED", {"In": {"n": 7}}, merged["C"]),
            task_("merge", "MergeNode", "COMPLETED", merged, merged),
            # An OutputNode without output_map outputs the union of its inputs' dicts.
            task_("out", "OutputNode", "COMPLETED", {"Merge": merged}, merged),
        ],
        initial_inputs={"in": {"n": 7}},
        definition_hash=raw["workflow_version"]["definition_hash"],
    )
    tasks = {t["node_id"]: t for t in raw["tasks"]}
    # The join started only after every branch had finished.
    assert tasks["merge"]["start_time"] >= max(tasks[b]["end_time"] for b in "abc")


def router_definition(folder: Path) -> dict[str, Any]:
    """in -> router; route 'big' -> big -> big_after; default 'small' -> small; both -> merge.

    The code of ``big`` and ``big_after`` writes a marker file and then fails, so any
    call of the untaken branch shows up twice over.
    """
    trap = (
        "import pathlib\n"
        f"pathlib.Path({str(folder)!r}, {{name!r}}).write_text('called')\n"
        "raise RuntimeError('the untaken branch was executed')"
    )
    return {
        "nodes": [
            node("in", "InputNode", "In", output_schema={"size": "int"}),
            node(
                "route",
                "RouterNode",
                "Route",
                route_map={
                    "big": {
                        "conditions": [
                            {"variable": "In.size", "operator": "greater_than", "value": 10}
                        ]
                    },
                    "small": {"conditions": []},
                },
            ),
            py(trap.format(name="big"), "big", "Big"),
            py(trap.format(name="big_after"), "big_after", "BigAfter"),
            py("return {'label': 'small', 'size': input_model.Route.size}", "small", "Small"),
            node("merge", "MergeNode", "Merge"),
            node("out", "OutputNode", "Out", output_map={"label": "Merge.Small.label"}),
        ],
        "links": [
            link("in", "route"),
            link("route", "big", "big"),
            link("route", "small", "small"),
            link("big", "big_after"),
            link("big_after", "merge"),
            link("small", "merge"),
            link("merge", "out"),
        ],
    }


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    """An empty folder where trap nodes leave a file when called."""
    folder = tmp_path / "markers"
    folder.mkdir()
    return folder


def test_router_untaken_branch_never_executes(
    client: httpx.Client, make_workflow: Callable[..., str], markers: Path
) -> None:
    definition = router_definition(markers)
    raw, run = finished(client, make_workflow, definition, {"in": {"size": 3}})
    small = {"label": "small", "size": 3}
    assert run == run_(
        "COMPLETED",
        [
            task_("in", "InputNode", "COMPLETED", {"size": 3}, {"size": 3}),
            # Router output: {route: payload} for the taken route only.
            task_("route", "RouterNode", "COMPLETED", {"In": {"size": 3}}, {"small": {"size": 3}}),
            skipped("big", "PythonFuncNode"),
            skipped("big_after", "PythonFuncNode"),
            # A route link delivers the route's payload under the router's title.
            task_("small", "PythonFuncNode", "COMPLETED", {"Route": {"size": 3}}, small),
            # The branches meet again: the join runs with the delivered input only.
            task_("merge", "MergeNode", "COMPLETED", {"Small": small}, {"Small": small}),
            task_(
                "out", "OutputNode", "COMPLETED", {"Merge": {"Small": small}}, {"label": "small"}
            ),
        ],
        initial_inputs={"in": {"size": 3}},
        definition_hash=raw["workflow_version"]["definition_hash"],
    )
    assert sorted(p.name for p in markers.iterdir()) == []


def test_router_takes_the_other_branch_on_other_input(
    client: httpx.Client, make_workflow: Callable[..., str], markers: Path
) -> None:
    definition = router_definition(markers)
    raw, run = finished(client, make_workflow, definition, {"in": {"size": 30}})
    # 'big' was called this time (it writes its marker, then fails), 'small' was skipped.
    statuses = {t["node_id"]: (t["status"], t["error"]) for t in raw["tasks"]}
    assert statuses == {
        "in": ("COMPLETED", None),
        "route": ("COMPLETED", None),
        "big": ("FAILED", "RuntimeError: the untaken branch was executed"),
        "big_after": ("CANCELED", None),
        "small": ("CANCELED", None),
        "merge": ("CANCELED", None),
        "out": ("CANCELED", None),
    }
    assert sorted(p.name for p in markers.iterdir()) == ["big"]
    assert run["status"] == "FAILED"
    assert run["percentage_complete"] == round(100 * 2 / 7, 2)


FAILING = {
    "nodes": [
        node("in", "InputNode", "In", output_schema={"x": "int"}),
        py("raise ValueError(f'bad x {input_model.In.x}')", "bad", "Bad"),
        node("bad_next", "StaticValueNode", "BadNext", values={"never": True}),
        py(
            "import time\ntime.sleep(0.2)\nreturn {'double': input_model.In.x * 2}",
            "good",
            "Good",
        ),
        node("good_next", "StaticValueNode", "GoodNext", values={"ok": True}),
        node("out", "OutputNode", "Out"),
    ],
    "links": [
        link("in", "bad"),
        link("bad", "bad_next"),
        link("in", "good"),
        link("good", "good_next"),
        link("bad_next", "out"),
        link("good_next", "out"),
    ],
}


def test_failing_node_with_independent_branch(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    raw, run = finished(client, make_workflow, FAILING, {"in": {"x": 4}})
    assert run == run_(
        "FAILED",
        [
            task_("in", "InputNode", "COMPLETED", {"x": 4}, {"x": 4}),
            task_("bad", "PythonFuncNode", "FAILED", {"In": {"x": 4}}, None, "ValueError: bad x 4"),
            # Dependants of the failed node: CANCELED, no error, never started.
            skipped("bad_next", "StaticValueNode"),
            # The independent branch still finished.
            task_("good", "PythonFuncNode", "COMPLETED", {"In": {"x": 4}}, {"double": 8}),
            task_(
                "good_next", "StaticValueNode", "COMPLETED", {"Good": {"double": 8}}, {"ok": True}
            ),
            # The join depends on the failed branch too: CANCELED although one input arrived.
            skipped("out", "OutputNode"),
        ],
        initial_inputs={"in": {"x": 4}},
        message="Node 'bad' failed: ValueError: bad x 4",
        percentage_complete=50.0,
        definition_hash=raw["workflow_version"]["definition_hash"],
    )


def counter_code(counter: Path, failures: int) -> str:
    """Code that fails its first ``failures`` calls, counting calls in ``counter``."""
    return (
        "import pathlib\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        f"if n <= {failures}:\n"
        "    raise ConnectionError(f'attempt {n} failed')\n"
        "return {'attempts': n}"
    )


def retry_definition(counter: Path, failures: int, max_retries: int) -> dict[str, Any]:
    return {
        "nodes": [
            node("in", "InputNode", "In"),
            py(
                counter_code(counter, failures),
                "flaky",
                "Flaky",
                max_retries=max_retries,
                retry_delay_s=0.01,
            ),
            node("out", "OutputNode", "Out", output_map={"attempts": "Flaky.attempts"}),
        ],
        "links": [link("in", "flaky"), link("flaky", "out")],
    }


def test_run_with_retries_completes(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    counter = tmp_path / "calls"
    definition = retry_definition(counter, failures=2, max_retries=3)
    raw, run = finished(client, make_workflow, definition, None)
    assert run == run_(
        "COMPLETED",
        [
            task_("in", "InputNode", "COMPLETED", {}, {}),
            task_("flaky", "PythonFuncNode", "COMPLETED", {"In": {}}, {"attempts": 3}, attempts=3),
            task_("out", "OutputNode", "COMPLETED", {"Flaky": {"attempts": 3}}, {"attempts": 3}),
        ],
        initial_inputs={},
        definition_hash=raw["workflow_version"]["definition_hash"],
    )
    assert counter.read_text() == "3"


def test_run_with_retries_exhausted_fails(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    counter = tmp_path / "calls"
    definition = retry_definition(counter, failures=5, max_retries=2)
    raw, run = finished(client, make_workflow, definition, None)
    error = "ConnectionError: attempt 3 failed"
    assert run == run_(
        "FAILED",
        [
            task_("in", "InputNode", "COMPLETED", {}, {}),
            task_("flaky", "PythonFuncNode", "FAILED", {"In": {}}, None, error, attempts=3),
            skipped("out", "OutputNode"),
        ],
        initial_inputs={},
        message=f"Node 'flaky' failed: {error}",
        percentage_complete=33.33,
        definition_hash=raw["workflow_version"]["definition_hash"],
    )
    # One first attempt plus max_retries retries, then no more.
    assert counter.read_text() == "3"


def test_start_run_response_is_the_pending_run(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf_id = make_workflow(LINEAR)
    r = client.post(f"/wf/{wf_id}/start_run/", json={"initial_inputs": {"in": {"text": "a"}}})
    assert r.status_code == 200
    body = r.json()
    run = checked_run(body, LINEAR["links"])
    assert run == run_(
        "PENDING",
        [
            pending_task("in", "InputNode"),
            pending_task("up", "PythonFuncNode"),
            pending_task("out", "OutputNode"),
        ],
        initial_inputs={"in": {"text": "a"}},
        percentage_complete=0.0,
        definition_hash=body["workflow_version"]["definition_hash"],
    )
    wait_run(client, body["id"])
