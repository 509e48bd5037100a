"""Bad uploads and bodies (docs/reliability.md#validation-and-bad-input), over HTTP on
SQLite and PostgreSQL: each is a 4xx naming the problem or is stored faithfully, never
a 500; a cell the store cannot hold fails its batch row, not the batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.api._contract import link, node, py
from tests.api.test_batch import wait_finished
from tests.conftest import BACKENDS, serving
from tests.flows import FINAL

JSON = {"content-type": "application/json"}
HUGE = "9" * 101


@pytest.fixture(scope="module", params=BACKENDS)
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    """One live server per store for the module: rejections leave nothing behind."""
    with (
        serving(tmp_path_factory.mktemp("store"), str(request.param)) as srv,
        httpx.Client(base_url=srv.url, timeout=120) as c,
    ):
        yield c


def upload(client: httpx.Client, name: str, content: bytes) -> httpx.Response:
    return client.post("/ds/", files={"file": (name, content)})


def dataset_count(client: httpx.Client) -> str:
    return client.get("/ds/").headers["x-total-count"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "deep.json",
            b"[" + b"[" * 100_000 + b"]" * 100_000 + b"]",
            "element 0 of the JSON array is nested too deeply",
        ),
        (
            "deep.jsonl",
            b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}\n",
            "line 1 is not valid JSON: depth limit exceeded",
        ),
        (
            "surrogate.json",
            b'[{"a": "ok"}, {"a": "\\ud800"}]',
            "row 1.a is a string with an unpaired surrogate, not valid UTF-8",
        ),
        ("surrogate.jsonl", b'{"a": "\\ud800"}\n', "line 1 is not valid JSON"),
        (
            "huge.json",
            b'[{"a": ' + HUGE.encode() + b"}]",
            "row 0.a is an integer beyond 64 bits, which JSON storage cannot hold",
        ),
        (
            "huge.jsonl",
            b'{"a": 1}\n{"b": ' + HUGE.encode() + b"}\n",
            "row 1.b is an integer beyond 64 bits, which JSON storage cannot hold",
        ),
        (
            "nul-header.csv",
            b"a\x00b,c\n1,2\n",
            "column 'a\\x00b' is a string with a NUL character (\\u0000), which the store "
            "cannot hold",
        ),
        (
            "nul-key.jsonl",
            b'{"ok": 1}\n{"a\\u0000b": 1}\n',
            "column 'a\\x00b' is a string with a NUL character",
        ),
    ],
)
def test_an_upload_the_store_cannot_hold_is_422_naming_it(
    client: httpx.Client, name: str, content: bytes, message: str
) -> None:
    before = dataset_count(client)
    r = upload(client, name, content)
    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    assert problem["loc"] == ["body", "file"]
    assert problem["msg"].startswith(message), problem["msg"]
    assert dataset_count(client) == before


def test_a_dataset_name_the_store_cannot_hold_is_422(client: httpx.Client) -> None:
    before = dataset_count(client)
    r = client.post("/ds/", files={"file": ("ok.csv", b"a\n1\n")}, data={"name": "x\x00y"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == [
        {
            "loc": ["body", "name"],
            "msg": "name is a string with a NUL character (\\u0000), which the store cannot hold",
            "type": "value_error",
        }
    ]
    assert dataset_count(client) == before


def test_a_csv_field_over_128_kib_is_stored_faithfully(client: httpx.Client) -> None:
    long = "é" * 200_000  # 400 KB of UTF-8, past Python's default 128 KiB field limit
    r = upload(client, "long.csv", f"a,b\n{long},1\nshort,2\n".encode())
    assert r.status_code == 200, r.text
    assert r.json()["row_count"] == 2
    rows = client.get(f"/ds/{r.json()['id']}/preview/").json()["rows"]
    assert rows == [{"a": long, "b": "1"}, {"a": "short", "b": "2"}]


ECHO: dict[str, Any] = {
    "nodes": [
        node("in", "InputNode", "In", output_schema={"text": "string", "n": "integer"}),
        py("return {'text': input_model.In.text, 'n': input_model.In.n}", "echo"),
    ],
    "links": [link("in", "echo")],
}


def test_a_cell_the_store_cannot_hold_fails_its_row_not_the_batch(client: httpx.Client) -> None:
    cells = b"text,n\nfirst,0\nnul\x00here,1\nthird,2\nfourth,x\nfifth," + HUGE.encode() + b"\n"
    r = upload(client, "cells.csv", cells)
    assert r.status_code == 200, r.text  # the file keeps the NUL as it was sent
    dataset = r.json()["id"]
    preview = client.get(f"/ds/{dataset}/preview/").json()["rows"]
    assert preview[1] == {"text": "nul\x00here", "n": "1"}
    wf = client.post("/wf/", json={"name": "echo", "definition": ECHO}).json()["id"]

    parent = client.post(
        f"/wf/{wf}/start_batch_run/", json={"dataset_id": dataset, "mini_batch_size": 2}
    )
    assert parent.status_code == 200, parent.text
    done = wait_finished(client, parent.json()["id"], 60)

    assert (done["status"], done["message"]) == ("FAILED", "3 of 5 rows failed")
    lines = [
        json.loads(x)
        for x in client.get(f"/of/{done['output_file_id']}/download/").text.split("\n")
        if x
    ]
    assert [(x["row"], x["status"]) for x in lines] == [
        (0, "COMPLETED"),
        (1, "FAILED"),
        (2, "COMPLETED"),
        (3, "FAILED"),
        (4, "FAILED"),
    ]
    assert lines[0]["outputs"]["echo"] == {"text": "first", "n": 0}
    assert lines[1]["error"] == (
        "row 1: column 'text' is a string with a NUL character (\\u0000), "
        "which the store cannot hold"
    )
    assert lines[3]["error"] == "row 3: column 'n': 'x' is not an integer"
    assert lines[4]["error"] == (
        "row 4: column 'n' is an integer beyond 64 bits, which JSON storage cannot hold"
    )
    children = client.get(f"/run/{done['id']}/children/").json()
    assert {c["status"] for c in children} <= set(FINAL) and len(children) == 5


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        (
            b'{"initial_inputs": {"in": {"v": ' + HUGE.encode() + b"}}}",
            ["body", "initial_inputs"],
            "is an integer beyond 64 bits",
        ),
        (
            b'{"initial_inputs": {"in": {"v": "\\ud800"}}}',
            ["body", "initial_inputs"],
            "initial_inputs.in.v is a string with an unpaired surrogate",
        ),
        (
            b'{"initial_inputs": {"in": {"v": "a\\u0000b"}}}',
            ["body", "initial_inputs"],
            "is a string with a NUL character",
        ),
        (
            b'{"initial_inputs": {"in": {"v": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}}",
            ["body"],
            "request body JSON is nested too deeply",
        ),
    ],
)
def test_a_start_body_the_store_cannot_hold_is_422_and_starts_nothing(
    client: httpx.Client, body: bytes, where: list[Any], message: str
) -> None:
    definition = {"nodes": [node("in", "InputNode")], "links": []}
    wf = client.post("/wf/", json={"name": "bodies", "definition": definition}).json()["id"]
    r = client.post(f"/wf/{wf}/start_run/", content=body, headers=JSON)
    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    assert problem["loc"] == where
    assert message in problem["msg"]
    assert client.get(f"/wf/{wf}/runs/").json() == []
