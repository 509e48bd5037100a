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
}


@pytest.mark.parametrize(("shape", "schema"), SHAPES.items(), ids=SHAPES.values())
def test_the_typed_dicts_have_the_fields_of_the_api(
    shape: type, schema: str, tmp_path: Path
) -> None:
    components = create_app(Settings(home=tmp_path)).openapi()["components"]["schemas"]
    assert set(typing.get_type_hints(shape)) == set(components[schema]["properties"])
