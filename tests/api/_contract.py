"""Helpers for the contract tests: definitions, polling, and field-by-field checks of
RunResponseSchema and TaskResponseSchema (SPEC §2.1, §2.2).

``checked_run`` validates every volatile field of a run (ids, datetimes, duration,
task timings) against the contract and replaces it with a placeholder, so a test can
then compare the whole response with one literal dict that names every field.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import datetime, timedelta
from typing import Any

import httpx

RUN_FIELDS = {
    "id",
    "workflow_id",
    "workflow_version_id",
    "workflow_version",
    "status",
    "start_time",
    "end_time",
    "initial_inputs",
    "outputs",
    "tasks",
    "parent_run_id",
    "run_type",
    "output_file_id",
    "input_dataset_id",
    "message",
    "duration",
    "percentage_complete",
    "started_by",
    "canceled_by",
    "retried_by",
    # additive, docs/operations.md
    "tags",
    "metadata",
    "schedule_id",
    "scheduled_for",
    "rerun_of",
    "reruns",
}
#: The additive fields of a run (docs/operations.md) as a run started without them has them.
OPERATIONS_DEFAULTS: dict[str, Any] = {
    "tags": [],
    "metadata": {},
    "schedule_id": None,
    "scheduled_for": None,
    "rerun_of": None,
    "reruns": [],
}
TASK_FIELDS = {
    "id",
    "run_id",
    "node_id",
    "node_type",
    "status",
    "start_time",
    "end_time",
    "inputs",
    "outputs",
    "error",
    "is_downstream_of_pause",
    "attempts",
    "ready_time",
    "traceback",
}
VERSION_FIELDS = {
    "version",
    "name",
    "description",
    "definition",
    "definition_hash",
    "created_at",
    "updated_at",
}
FINISHED = ("COMPLETED", "FAILED", "CANCELED")
# RFC 3339 date-time with an explicit offset (Z or +00:00), as orjson writes it.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
DT = "<datetime>"


def node(node_id: str, node_type: str, title: str | None = None, **config: Any) -> dict[str, Any]:
    """A definition node; ``title`` defaults to the id, ``config`` from keywords."""
    return {"id": node_id, "title": title or node_id, "node_type": node_type, "config": config}


def link(source: str, target: str, route: str | None = None) -> dict[str, Any]:
    """A definition link; ``route`` becomes ``source_handle``."""
    out: dict[str, Any] = {"source_id": source, "target_id": target}
    if route is not None:
        out["source_handle"] = route
    return out


def py(code: str, node_id: str, title: str | None = None, **config: Any) -> dict[str, Any]:
    """A PythonFuncNode with ``code`` as its function body."""
    return node(node_id, "PythonFuncNode", title, code=code, **config)


def one_step(code: str, **config: Any) -> dict[str, Any]:
    """A workflow ``in -> p`` whose only work is PythonFuncNode ``p`` running ``code``."""
    return {"nodes": [node("in", "InputNode"), py(code, "p", **config)], "links": [link("in", "p")]}


def assert_still_serving(client: httpx.Client, make_workflow: Any) -> None:
    """The server answers and still runs a PythonFuncNode workflow to completion."""
    assert client.get("/health").json()["status"] == "ok"
    wf_id = make_workflow(one_step("return {'ok': True}"))
    r = client.post(f"/wf/{wf_id}/run/", json={})
    assert (r.status_code, r.json()["p"]) == (200, {"ok": True})


def parse_dt(value: Any) -> datetime:
    """A response datetime: RFC 3339 text with a UTC offset; returned timezone-aware."""
    assert isinstance(value, str) and RFC3339.match(value), f"not RFC 3339 with offset: {value!r}"
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.utcoffset() == timedelta(0), f"not UTC: {value!r}"
    return parsed


def canonical_hash(definition: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``definition`` (sorted keys, no whitespace)."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def start(client: httpx.Client, wf_id: str, inputs: dict[str, Any] | None = None) -> str:
    """POST start_run; returns the new run id after checking the 200 and its Location."""
    r = client.post(f"/wf/{wf_id}/start_run/", json={"initial_inputs": inputs})
    assert r.status_code == 200, r.text
    run_id = str(r.json()["id"])
    assert r.headers["location"] == f"/run/{run_id}/"
    return run_id


def wait_run(
    client: httpx.Client, run_id: str, statuses: tuple[str, ...] = FINISHED, deadline_s: float = 60
) -> dict[str, Any]:
    """Poll ``GET /run/{id}/`` until its status is one of ``statuses``; returns the run."""
    end = time.monotonic() + deadline_s
    while True:
        r = client.get(f"/run/{run_id}/")
        assert r.status_code == 200, r.text
        run: dict[str, Any] = r.json()
        if run["status"] in statuses:
            return run
        assert time.monotonic() < end, f"run {run_id} still {run['status']}"
        time.sleep(0.02)


def wait_for(predicate: Any, deadline_s: float = 30, what: str = "condition") -> None:
    """Poll ``predicate()`` every 20 ms until it is true."""
    end = time.monotonic() + deadline_s
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


def expected_percentage(tasks: list[dict[str, Any]], status: str) -> float:
    """SPEC §2.1: 100.0 when COMPLETED, else 100 x completed / tasks, 2 decimals,
    capped at 99.99 (every task done but the run not yet marked COMPLETED)."""
    if status == "COMPLETED":
        return 100.0
    done = sum(1 for t in tasks if t["status"] == "COMPLETED")
    return min(round(100.0 * done / len(tasks), 2), 99.99) if tasks else 0.0


def checked_task(task: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """Check one task's volatile fields against the contract; return it with placeholders."""
    assert set(task) == TASK_FIELDS
    assert task["id"].startswith("T") and len(task["id"]) == 27
    assert task["run_id"] == run["id"]
    assert task["is_downstream_of_pause"] is False
    out = dict(task, id="<task id>", run_id="<run id>")
    started = ended = None
    if task["start_time"] is not None:
        started = parse_dt(task["start_time"])
        assert started >= parse_dt(run["start_time"])
        out["start_time"] = DT
    if task["end_time"] is not None:
        ended = parse_dt(task["end_time"])
        out["end_time"] = DT
        if run["end_time"] is not None:
            assert ended <= parse_dt(run["end_time"])
    if started and ended:
        assert started <= ended
    if task["status"] == "PENDING":
        assert task["start_time"] is None and task["end_time"] is None
    if task["status"] in FINISHED:
        assert task["end_time"] is not None
    if task["status"] != "FAILED":
        assert task["error"] is None
        assert task["traceback"] is None
    # the observability fields (docs/observability.md) are checked here, not compared
    ready, attempts = out.pop("ready_time"), out["attempts"]
    out.pop("traceback")
    assert isinstance(attempts, int) and attempts >= 0
    if ready is not None:
        assert attempts >= 1
        if started:
            assert parse_dt(ready) <= started
    return out


def checked_run(run: dict[str, Any], links: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Check a run's volatile fields against SPEC §2.1 and return it with placeholders.

    Checks: exactly the schema's fields; ids; RFC 3339 UTC datetimes; end_time set
    exactly when finished; duration == end - start (>= 0); percentage_complete as
    the contract defines it; outputs == every COMPLETED task's outputs keyed by node
    id; tasks in topological order of ``links``; the version's definition_hash.
    """
    assert set(run) == RUN_FIELDS
    assert run["id"].startswith("R") and len(run["id"]) == 27
    assert run["workflow_id"].startswith("W")
    assert run["workflow_version_id"].startswith("V")
    begun = parse_dt(run["start_time"])
    out = dict(run, id="<run id>", workflow_id="<wf id>", workflow_version_id="<version id>")
    out["start_time"] = DT
    if run["status"] in FINISHED:
        ended = parse_dt(run["end_time"])
        assert ended >= begun
        assert run["duration"] == (ended - begun).total_seconds()
        assert run["duration"] >= 0
        out["end_time"], out["duration"] = DT, "<end - start>"
    else:
        assert run["end_time"] is None
    pct = run["percentage_complete"]
    assert isinstance(pct, float) and 0.0 <= pct <= 100.0
    assert pct == expected_percentage(run["tasks"], run["status"])
    assert (pct == 100.0) == (run["status"] == "COMPLETED")
    completed = {t["node_id"]: t["outputs"] for t in run["tasks"] if t["status"] == "COMPLETED"}
    assert run["outputs"] == (completed or None)
    order = [t["node_id"] for t in run["tasks"]]
    for lk in links or []:
        assert order.index(lk["source_id"]) < order.index(lk["target_id"]), lk
    out["workflow_version"] = checked_version(run["workflow_version"])
    out["tasks"] = [checked_task(t, run) for t in run["tasks"]]
    for name, default in OPERATIONS_DEFAULTS.items():
        if out[name] == default:  # the seed's shape, plus additive fields left empty
            del out[name]
    return out


def checked_version(version: dict[str, Any]) -> dict[str, Any]:
    """Check an embedded workflow version; return it with placeholders for its times."""
    assert set(version) == VERSION_FIELDS
    assert version["definition_hash"] == canonical_hash(version["definition"])
    created, updated = parse_dt(version["created_at"]), parse_dt(version["updated_at"])
    assert created <= updated
    return dict(version, created_at=DT, updated_at=DT, definition="<definition>")


def pending_task(node_id: str, node_type: str) -> dict[str, Any]:
    """The expected placeholder form of a task that never started."""
    return task_(node_id, node_type, "PENDING", None, None, start=None, end=None)


def task_(
    node_id: str,
    node_type: str,
    status: str,
    inputs: dict[str, Any] | None,
    outputs: dict[str, Any] | None,
    error: str | None = None,
    start: str | None = DT,
    end: str | None = DT,
    attempts: int | None = None,
) -> dict[str, Any]:
    """The expected placeholder form of one task (as ``checked_task`` returns it);
    ``attempts`` defaults to 1 for a task that started, else 0."""
    return {
        "id": "<task id>",
        "run_id": "<run id>",
        "node_id": node_id,
        "node_type": node_type,
        "status": status,
        "start_time": start,
        "end_time": end,
        "inputs": inputs,
        "outputs": outputs,
        "error": error,
        "is_downstream_of_pause": False,
        "attempts": (1 if start is not None else 0) if attempts is None else attempts,
    }


def skipped(node_id: str, node_type: str) -> dict[str, Any]:
    """A task that was not run: CANCELED, no error, no inputs/outputs, never started."""
    return task_(node_id, node_type, "CANCELED", None, None, start=None)
