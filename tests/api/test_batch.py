"""Batch runs over HTTP (SPEC §6): the penguins batch, row typing, failures, bad input."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests._penguins import PENGUINS, check_row, csv_rows, penguins_csv
from tests.conftest import LiveServer

ADD_ONE: dict[str, Any] = {
    "nodes": [
        {
            "id": "in",
            "title": "In",
            "node_type": "InputNode",
            "config": {"output_schema": {"v": "integer"}},
        },
        {
            "id": "add",
            "title": "Add",
            "node_type": "PythonFuncNode",
            "config": {
                "code": "assert input_model.In.v != 3, 'three'\nreturn {'v': input_model.In.v + 1}"
            },
        },
        {"id": "out", "title": "Out", "node_type": "OutputNode", "config": {}},
    ],
    "links": [{"source_id": "in", "target_id": "add"}, {"source_id": "add", "target_id": "out"}],
}


def upload(client: httpx.Client, path: Path) -> dict[str, Any]:
    r = client.post(
        "/ds/", params={"name": path.stem}, files={"file": (path.name, path.read_bytes())}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def upload_bytes(client: httpx.Client, name: str, content: bytes) -> str:
    r = client.post("/ds/", files={"file": (name, content)})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def wait_finished(client: httpx.Client, run_id: str, deadline_s: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        run = client.get(f"/run/{run_id}/").json()
        if run["status"] in ("COMPLETED", "FAILED", "CANCELED"):
            return dict(run)
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish: {run}")


def output_lines(client: httpx.Client, file_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/of/{file_id}/download/")
    assert r.status_code == 200
    return [json.loads(line) for line in r.text.splitlines()]


def test_penguins_batch_over_the_api(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    rows = csv_rows()
    wf = make_workflow(PENGUINS)
    ds = upload(client, penguins_csv())
    assert ds["row_count"] == len(rows) == 344
    r = client.post(
        f"/wf/{wf}/start_batch_run/", json={"dataset_id": ds["id"], "mini_batch_size": 8}
    )
    assert r.status_code == 200, r.text
    parent = r.json()
    assert (parent["run_type"], parent["input_dataset_id"], parent["status"]) == (
        "batch",
        ds["id"],
        "PENDING",
    )
    done = wait_finished(client, parent["id"])
    assert (done["status"], done["percentage_complete"], done["message"]) == (
        "COMPLETED",
        100.0,
        None,
    )

    lines = output_lines(client, parent["output_file_id"])
    assert [line["row"] for line in lines] == list(range(344))
    children = client.get(f"/run/{parent['id']}/children/").json()
    assert [c["id"] for c in children] == [line["run_id"] for line in lines]
    assert {(c["parent_run_id"], c["run_type"], c["status"]) for c in children} == {
        (parent["id"], "batch", "COMPLETED")
    }
    for row, line, child in zip(rows, lines, children, strict=True):
        assert line["status"] == "COMPLETED"
        assert line["outputs"] == child["outputs"]["summary"]
        check_row(row, child["initial_inputs"]["penguin"], line["outputs"])
    assert sum(1 for row in rows if row["body_mass_g"] == "NA") == 2
    assert sum(1 for row in rows if "NA" in row.values()) == 11
    meta = client.get(f"/of/{parent['output_file_id']}/").json()
    assert (meta["run_id"], meta["file_name"]) == (parent["id"], f"batch_{parent['id']}.jsonl")


def test_rows_are_typed_per_the_input_schema(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    schema = {"i": "int", "f": "float", "b": "bool", "s": "str", "l": "list"}
    definition = {
        "nodes": [
            {
                "id": "in",
                "title": "In",
                "node_type": "InputNode",
                "config": {"output_schema": schema},
            },
            {"id": "out", "title": "Out", "node_type": "OutputNode", "config": {}},
        ],
        "links": [{"source_id": "in", "target_id": "out"}],
    }
    wf = make_workflow(definition)
    ds = upload_bytes(
        client,
        "t.csv",
        b'i,f,b,s,l,extra\n7,2.5,true,007,"[1, 2]",x\nNA,,no,NA,[],y\n1.5,x,maybe,s,{},z\n',
    )
    parent = client.post(f"/wf/{wf}/start_batch_run/", json={"dataset_id": ds}).json()
    done = wait_finished(client, parent["id"])
    assert (done["status"], done["message"]) == ("FAILED", "1 of 3 rows failed")
    lines = output_lines(client, parent["output_file_id"])
    assert lines[0]["outputs"] == {"i": 7, "f": 2.5, "b": True, "s": "007", "l": [1, 2]}
    assert lines[1]["outputs"] == {"i": None, "f": None, "b": False, "s": None, "l": []}
    assert lines[2]["status"] == "FAILED"
    assert lines[2]["error"] == (
        "row 2: column 'i': '1.5' is not an int; column 'f': 'x' is not a float; "
        "column 'b': 'maybe' is not a bool; column 'l': '{}' is not a list"
    )


def test_failed_rows_fail_the_parent_and_the_file_is_complete(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow(ADD_ONE)
    ds = upload_bytes(client, "v.jsonl", b"".join(b'{"v": %d}\n' % i for i in range(6)))
    parent = client.post(
        f"/wf/{wf}/start_batch_run/", json={"dataset_id": ds, "mini_batch_size": 2}
    ).json()
    done = wait_finished(client, parent["id"])
    assert (done["status"], done["message"]) == ("FAILED", "1 of 6 rows failed")
    assert done["percentage_complete"] == 99.99
    lines = output_lines(client, parent["output_file_id"])
    assert [(x["row"], x["status"]) for x in lines] == [
        (0, "COMPLETED"),
        (1, "COMPLETED"),
        (2, "COMPLETED"),
        (3, "FAILED"),
        (4, "COMPLETED"),
        (5, "COMPLETED"),
    ]
    assert [x.get("outputs", {}).get("v") for x in lines] == [1, 2, 3, None, 5, 6]
    assert lines[3]["error"] == "Node 'add' failed: AssertionError: three"


def test_missing_column_is_422_before_any_run(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow(ADD_ONE)
    ds = upload_bytes(client, "w.csv", b"w\n1\n")
    r = client.post(f"/wf/{wf}/start_batch_run/", json={"dataset_id": ds})
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"] == (
        f"dataset {ds} has no column for the InputNode field(s) 'v' (columns: w)"
    )
    assert client.get("/run/").json() == []


@pytest.mark.parametrize("size", [0, -1])
def test_mini_batch_size_below_one_is_422(
    client: httpx.Client, make_workflow: Callable[..., str], size: int
) -> None:
    wf = make_workflow(ADD_ONE)
    ds = upload_bytes(client, "v.csv", b"v\n1\n")
    r = client.post(f"/wf/{wf}/start_batch_run/", json={"dataset_id": ds, "mini_batch_size": size})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "mini_batch_size"]
    assert client.get("/run/").json() == []


def test_unknown_dataset_or_workflow_is_404(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow(ADD_ONE)
    r = client.post(f"/wf/{wf}/start_batch_run/", json={"dataset_id": "Dnope"})
    assert (r.status_code, r.json()) == (404, {"detail": "Dataset not found"})
    ds = upload_bytes(client, "v.csv", b"v\n1\n")
    r = client.post("/wf/Wnope/start_batch_run", json={"dataset_id": ds})
    assert (r.status_code, r.json()) == (404, {"detail": "Workflow not found"})
    assert client.get("/of/Fnope/").status_code == 404
    assert client.get("/of/Fnope/download").status_code == 404


SLOW: dict[str, Any] = {
    "nodes": [
        {
            "id": "in",
            "title": "In",
            "node_type": "InputNode",
            "config": {"output_schema": {"v": "int"}},
        },
        {
            "id": "nap",
            "title": "Nap",
            "node_type": "PythonFuncNode",
            "config": {"code": "import time\ntime.sleep(0.2)\nreturn {'v': input_model.In.v}"},
        },
    ],
    "links": [{"source_id": "in", "target_id": "nap"}],
}


def _wait_rows(client: httpx.Client, run_id: str, at_least: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = client.get(f"/run/{run_id}/children/").json()
        if sum(c["status"] == "COMPLETED" for c in children) >= at_least:
            return
        time.sleep(0.05)
    raise AssertionError("rows did not finish")


def test_cancel_stops_unfinished_rows_and_delete_removes_everything(
    client: httpx.Client, server: LiveServer, make_workflow: Callable[..., str]
) -> None:
    from spurline.engine.clock import now
    from spurline.store.runs import cancel_run

    wf = make_workflow(SLOW)
    ds = upload_bytes(client, "v.csv", b"v\n" + b"".join(b"%d\n" % i for i in range(200)))
    parent = client.post(
        f"/wf/{wf}/start_batch_run/", json={"dataset_id": ds, "mini_batch_size": 2}
    ).json()
    _wait_rows(client, parent["id"], 2)
    server.runtime.db.writer.run(lambda c: cancel_run(c, parent["id"], now(), "Canceled by test"))
    done = wait_finished(client, parent["id"])
    assert done["status"] == "CANCELED"
    time.sleep(0.5)  # the dispatcher notices within its progress interval and stops
    children = client.get(f"/run/{parent['id']}/children/").json()
    statuses = [c["status"] for c in children]
    assert set(statuses) == {"COMPLETED", "CANCELED"}
    assert statuses.count("CANCELED") > 150  # rows were created ahead, in one chunk
    settled = client.get(f"/run/{parent['id']}/children/").json()
    assert [c["status"] for c in settled] == statuses  # nothing new started

    out = Path(server.settings.home) / "outputs" / f"{parent['id']}.jsonl"
    assert out.is_file()
    assert client.delete(f"/run/{parent['id']}/").status_code == 204
    assert client.get(f"/run/{parent['id']}/").status_code == 404
    assert client.get("/run/", params={"page_size": 100}).json() == []
    assert client.get(f"/of/{parent['output_file_id']}/").status_code == 404
    assert not out.exists()


def test_a_batch_resumes_after_a_restart(tmp_path: Path) -> None:
    from tests.conftest import make_settings

    settings, cleanup = make_settings(tmp_path, lease_s=1.0)
    rows = b"v\n" + b"".join(b"%d\n" % i for i in range(24))
    try:
        with LiveServer(settings) as first, httpx.Client(base_url=first.url, timeout=60) as client:
            r = client.post("/wf/", json={"name": "slow", "definition": SLOW})
            wf = r.json()["id"]
            ds = upload_bytes(client, "v.csv", rows)
            parent = client.post(
                f"/wf/{wf}/start_batch_run/", json={"dataset_id": ds, "mini_batch_size": 2}
            ).json()
            _wait_rows(client, parent["id"], 4)
        # The first server is gone mid-batch; its lease expires and the next one takes over.
        with LiveServer(settings) as second, httpx.Client(base_url=second.url) as client:
            before = {
                c["id"]: c["end_time"]
                for c in client.get(f"/run/{parent['id']}/children/").json()
                if c["status"] == "COMPLETED"
            }
            assert 4 <= len(before) < 24
            done = wait_finished(client, parent["id"], 120)
            assert (done["status"], done["percentage_complete"]) == ("COMPLETED", 100.0)
            children = client.get(f"/run/{parent['id']}/children/").json()
            assert [c["initial_inputs"]["in"]["v"] for c in children] == list(range(24))
            assert {c["status"] for c in children} == {"COMPLETED"}
            after = {c["id"]: c["end_time"] for c in children}
            assert all(after[cid] == end for cid, end in before.items())  # not run again
            lines = output_lines(client, parent["output_file_id"])
            assert [(x["row"], x["outputs"]["nap"]["v"]) for x in lines] == [
                (i, i) for i in range(24)
            ]
    finally:
        cleanup()
