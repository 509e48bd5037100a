"""``spurline.client``: the blocking and the asyncio client against a live server give
the same results and the same typed errors; the typed dicts match the API's shapes."""

from __future__ import annotations

import asyncio
import inspect
import typing
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import LiveServer, free_port
from tests.flows import links, node, review_flow

from spurline import client as sc
from spurline.api.app import create_app
from spurline.settings import Settings

UPPER = {
    "nodes": [
        node("in", "InputNode", output_schema={"text": "str"}),
        node("up", "PythonFuncNode", code="return {'upper': input_model.In.text.upper()}"),
    ],
    "links": links(("in", "up")),
}
FAILING = {
    "nodes": [node("in", "InputNode"), node("boom", "PythonFuncNode", code="return 1 / 0")],
    "links": links(("in", "boom")),
}


async def do(value: Any) -> Any:
    """The result of a client call: awaited for the asyncio client, as is otherwise."""
    return await value if inspect.isawaitable(value) else value


async def happy_path(api: Any) -> dict[str, Any]:
    wf = await do(api.create_workflow("upper", UPPER))
    run = await do(api.start_run(wf["id"], {"in": {"text": "abc"}}))
    done = await do(api.wait_run(run["id"], timeout=60))
    page = await do(api.list_runs(page_size=5, status=["COMPLETED"], workflow_id=wf["id"]))
    tasks = await do(api.run_tasks(run["id"]))
    outputs = await do(api.run_workflow(wf["id"], {"in": {"text": "xyz"}}))
    ds = await do(api.upload_dataset(b"text\na\nb\n", "rows.csv"))
    batch = await do(api.start_batch_run(wf["id"], ds["id"], 2))
    batch = await do(api.wait_run(batch["id"], timeout=60))
    children = await do(api.run_children(batch["id"]))
    results = await do(api.download_output_file(batch["output_file_id"]))
    return {
        "status": done["status"],
        "upper": done["outputs"]["up"],
        "listed": ([r["id"] for r in page.items], page.total),
        "run": run["id"],
        "tasks": [t["status"] for t in tasks],
        "blocking": outputs["up"],
        "batch": (batch["status"], len(children.items), children.total),
        "results": [line.startswith(b'{"row":') for line in results.splitlines()],
        "dataset": (ds["name"], ds["row_count"], ds["columns"]),
    }


async def errors(api: Any, tmp_path: Path) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    with pytest.raises(sc.NotFound) as missing:
        await do(api.get_run("Rnope"))
    seen["missing"] = (missing.value.what, missing.value.ident, str(missing.value))
    with pytest.raises(sc.Invalid) as invalid:
        await do(api.create_workflow("bad", {"nodes": [{"id": "a", "node_type": "Nope"}]}))
    seen["invalid"] = [p["msg"] for p in invalid.value.problems]
    failing = await do(api.create_workflow("failing", FAILING))
    with pytest.raises(sc.RunNotCompleted) as failed:
        await do(api.run_workflow(failing["id"]))
    seen["failed"] = (failed.value.status_code, failed.value.run["status"])
    with pytest.raises(sc.Conflict) as conflict:
        await do(api.cancel_run(failed.value.run["id"]))
    seen["conflict"] = str(conflict.value)
    review = await do(api.create_workflow("review", review_flow(tmp_path / "log")))
    paused = await do(api.start_run(review["id"]))
    paused = await do(api.wait_run(paused["id"], timeout=60))
    listed = await do(api.paused_runs())
    history = await do(api.pause_history(paused["id"]))
    resumed = await do(api.pause_action(paused["id"], "APPROVE", "ann", {"n": 1}, "ok"))
    resumed = await do(api.wait_run(resumed["id"], timeout=60))
    seen["pause"] = (
        paused["status"],
        [p["run"]["id"] for p in listed.items] == [paused["id"]],
        [h["pause_message"] for h in history],
        resumed["status"],
    )
    return seen


ERRORS = {
    "missing": ("run", "Rnope", "no run Rnope"),
    "invalid": [
        "node 'a': unknown node_type 'Nope'",
        "a workflow needs exactly one top-level InputNode, found 0",
    ],
    "failed": (422, "FAILED"),
    "pause": ("PAUSED", True, ["Check the text"], "COMPLETED"),
}


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("kind", ["blocking", "asyncio"])
def test_both_clients_give_the_same_results_and_errors(
    server: LiveServer, tmp_path: Path, kind: str
) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        if kind == "blocking":
            with sc.Client(server.url) as api:
                return await happy_path(api), await errors(api, tmp_path)
        async with sc.AsyncClient(server.url) as aapi:
            return await happy_path(aapi), await errors(aapi, tmp_path)

    happy, seen = asyncio.run(main())
    assert happy == {
        "status": "COMPLETED",
        "upper": {"upper": "ABC"},
        "listed": ([happy["run"]], 1),
        "run": happy["run"],
        "tasks": ["COMPLETED", "COMPLETED"],
        "blocking": {"upper": "XYZ"},
        "batch": ("COMPLETED", 2, 2),
        "results": [True, True],
        "dataset": ("rows", 2, ["text"]),
    }
    conflict = seen.pop("conflict")
    assert conflict.startswith("Run R") and conflict.endswith("already FAILED"), conflict
    assert seen == ERRORS


def test_an_unreachable_server_is_server_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with sc.Client(url) as api, pytest.raises(sc.ServerUnavailable) as blocking:
        api.list_runs()
    assert str(blocking.value).startswith(f"cannot reach the Spurline server at {url}: ")

    async def main() -> None:
        async with sc.AsyncClient(url) as api:
            await api.get_workflow("W1")

    with pytest.raises(sc.ServerUnavailable):
        asyncio.run(main())


SHAPES = {
    sc.Run: "RunResponseSchema",
    sc.Task: "TaskResponseSchema",
    sc.WorkflowVersion: "WorkflowVersionResponseSchema",
    sc.VersionListItem: "WorkflowVersionListItem",
    sc.Workflow: "WorkflowResponseSchema",
    sc.PauseRecord: "PauseHistoryResponseSchema",
    sc.PausedRun: "PausedWorkflowResponseSchema",
    sc.Dataset: "DatasetResponseSchema",
    sc.OutputFile: "OutputFileResponseSchema",
    sc.Attempt: "AttemptResponseSchema",
    sc.LogLine: "LogLineResponseSchema",
    sc.PruneReport: "PruneResponse",
}


@pytest.mark.parametrize(("shape", "schema"), SHAPES.items(), ids=SHAPES.values())
def test_the_typed_dicts_have_the_fields_of_the_api(
    shape: type, schema: str, tmp_path: Path
) -> None:
    components = create_app(Settings(home=tmp_path)).openapi()["components"]["schemas"]
    assert set(typing.get_type_hints(shape)) == set(components[schema]["properties"])


FLAKY = """import pathlib
p = pathlib.Path({counter!r})
n = int(p.read_text()) + 1 if p.exists() else 1
p.write_text(str(n))
print("try", n)
if n == 1:
    raise ValueError("first try fails")
return {{"n": n}}"""


async def observed(api: Any, tmp_path: Path) -> dict[str, Any]:
    code = FLAKY.format(counter=str(tmp_path / f"calls-{type(api).__name__}"))
    flaky = {
        "nodes": [node("in", "InputNode"), node("p", "PythonFuncNode", code=code, max_retries=1)],
        "links": links(("in", "p")),
    }
    wf = await do(api.create_workflow("flaky", flaky))
    run = await do(api.start_run(wf["id"]))
    # From the first event: the stream ends with "end" once the run has ended.
    if isinstance(api, sc.AsyncClient):
        events = [e async for e in api.run_events(run["id"])]
        resumed = [e async for e in api.run_events(run["id"], events[2].id)]
    else:
        events = list(api.run_events(run["id"]))
        resumed = list(api.run_events(run["id"], events[2].id))
    task = next(t for t in (await do(api.get_run(run["id"])))["tasks"] if t["node_id"] == "p")
    attempts = await do(api.task_attempts(run["id"], task["id"]))
    logs = await do(api.run_logs(run["id"], node="p"))
    second = await do(api.run_logs(run["id"], attempt=2, page_size=1))
    with pytest.raises(sc.Invalid) as ahead:
        await do(api.run_logs(run["id"], page_size=1001))
    with pytest.raises(sc.NotFound) as missing:
        await do(api.task_attempts(run["id"], "Tnope"))
    return {
        "end": (events[-1].id, events[-1].event, events[-1].data),
        "ids_grow": [e.id for e in events[:-1]] == sorted({e.id for e in events[:-1]}),
        "resumed": resumed == events[3:],
        "log_ids": [e.id for e in events if e.event == "log"] == [x["id"] for x in logs.items],
        "attempts": [(a["number"], a["status"], a["error"], a["started_by"]) for a in attempts],
        "traceback": "first try fails" in (attempts[0]["traceback"] or ""),
        "logs": ([(x["attempt"], x["line"]) for x in logs.items], logs.total),
        "second": ([x["line"] for x in second.items], second.total),
        "bad_page": ahead.value.status_code,
        "missing": missing.value.status_code,
        "run": run["id"],
    }


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("kind", ["blocking", "asyncio"])
def test_logs_attempts_and_the_resumable_event_stream(
    server: LiveServer, tmp_path: Path, kind: str
) -> None:
    async def main() -> dict[str, Any]:
        if kind == "blocking":
            with sc.Client(server.url) as api:
                return await observed(api, tmp_path)
        async with sc.AsyncClient(server.url) as aapi:
            return await observed(aapi, tmp_path)

    seen = asyncio.run(main())
    assert seen == {
        "end": (None, "end", {"run_id": seen["run"], "status": "COMPLETED"}),
        "ids_grow": True,
        "resumed": True,
        "log_ids": True,
        "attempts": [
            (1, "FAILED", "ValueError: first try fails", "run"),
            (2, "COMPLETED", None, "node retry"),
        ],
        "traceback": True,
        "logs": ([(1, "try 1"), (2, "try 2")], 2),
        "second": (["try 2"], 1),
        "bad_page": 422,
        "missing": 404,
        "run": seen["run"],
    }


def test_a_future_last_event_id_is_invalid(server: LiveServer) -> None:
    with sc.Client(server.url) as api:
        run = api.start_run(api.create_workflow("upper", UPPER)["id"], {"in": {"text": "a"}})
        with pytest.raises(sc.Invalid) as ahead:
            next(iter(api.run_events(run["id"], 10**12)))
        with pytest.raises(sc.NotFound):
            next(iter(api.run_events("Rnope")))
    assert "ahead of the newest event" in str(ahead.value)


def test_the_event_decoder_reads_the_sse_format() -> None:
    from spurline.client._flows import EventStream

    stream = EventStream("R1", last_event_id=7)
    assert stream.call().headers == {"Accept": "text/event-stream", "Last-Event-ID": "7"}
    lines = [
        ": ping",
        "id: 8",
        "event: log",
        'data: {"line": "a",',
        'data:  "n": 1}',
        "retry: 100",
        "",
        "",
        "event: end",
        'data: {"status": "FAILED"}',
        "",
    ]
    events = [e for e in map(stream.feed, lines) if e is not None]
    assert [(e.id, e.event, e.data) for e in events] == [
        (8, "log", {"line": "a", "n": 1}),
        (None, "end", {"status": "FAILED"}),
    ]
    assert (stream.last_event_id, stream.ended) == (8, True)
    assert stream.call().headers["Last-Event-ID"] == "8"
