"""Datasets over HTTP (SPEC §6): upload in every format, read back, bad input, limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import LiveServer, make_settings


def upload(client: httpx.Client, filename: str, content: bytes, **params: str) -> httpx.Response:
    return client.post("/ds/", params=params, files={"file": (filename, content, "text/plain")})


def test_csv_upload_records_columns_and_rows(client: httpx.Client, server: LiveServer) -> None:
    r = upload(client, "pets.csv", b"name,age\nRex,3\nTom,NA\n", name="pets", description="d")
    assert r.status_code == 200, r.text
    ds = r.json()
    assert (ds["name"], ds["description"], ds["columns"], ds["row_count"]) == (
        "pets",
        "d",
        ["name", "age"],
        2,
    )
    assert client.get(f"/ds/{ds['id']}/").json() == ds
    assert [d["id"] for d in client.get("/ds/").json()] == [ds["id"]]
    files = list((server.settings.home / "datasets").iterdir())
    assert [f.name for f in files] == [f"{ds['id']}.jsonl"]


def test_form_fields_name_the_dataset(client: httpx.Client) -> None:
    r = client.post(
        "/ds",
        data={"name": "from form", "description": "form desc"},
        files={"file": ("x.jsonl", b'{"a": 1}\n{"a": 2, "b": "x"}\n', "application/json")},
    )
    assert r.status_code == 200, r.text
    ds = r.json()
    assert (ds["name"], ds["description"], ds["columns"], ds["row_count"]) == (
        "from form",
        "form desc",
        ["a", "b"],
        2,
    )


def test_json_array_upload_streams_objects(client: httpx.Client) -> None:
    rows = b"[" + b",".join(b'{"i": %d, "s": "%s"}' % (i, b"x" * 50) for i in range(3000)) + b"]"
    r = upload(client, "rows.json", rows)
    assert r.status_code == 200, r.text
    assert (r.json()["columns"], r.json()["row_count"], r.json()["name"]) == (
        ["i", "s"],
        3000,
        "rows",
    )


def test_delete_removes_record_and_file(client: httpx.Client, server: LiveServer) -> None:
    ds = upload(client, "a.csv", b"a\n1\n").json()
    assert client.delete(f"/ds/{ds['id']}/").status_code == 204
    assert client.get(f"/ds/{ds['id']}/").status_code == 404
    assert list((server.settings.home / "datasets").iterdir()) == []
    assert client.delete(f"/ds/{ds['id']}/").status_code == 404


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.csv", b"", "the file is empty"),
        ("blank.csv", b"\n\n  \n", "the file is empty"),
        ("nohead.csv", b"1,2,3\n4,5,6\n", "the CSV has no header"),
        ("ragged.csv", b"a,b\n1,2\n3\n", "row 2 (line 3) has 1 fields, the header has 2"),
        ("header_only.csv", b"a,b\n", "the file has no rows"),
        ("cut.jsonl", b'{"a": 1', "line 1 is not valid JSON"),
        ("nums.json", b"[1, 2]", "the JSON is not a list of objects: element 0 is a number"),
        ("mixed.json", b'[{"a": 1}, "x"]', "element 1 is a string"),
        ("lines.jsonl", b'{"a": 1}\n[1]\n', "line 2 is a JSON array, not an object"),
        ("bad.json", b'[{"a": 1}, {"a": ', "element 1 of the JSON array is not valid JSON"),
    ],
)
def test_bad_files_are_422_naming_the_problem(
    client: httpx.Client, server: LiveServer, name: str, content: bytes, problem: str
) -> None:
    r = upload(client, name, content)
    assert r.status_code == 422, r.text
    assert problem in r.json()["detail"][0]["msg"]
    assert client.get("/ds/").json() == []
    folder = server.settings.home / "datasets"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_json_object_not_a_list_is_422(client: httpx.Client) -> None:
    r = upload(client, "obj.json", b'  {"rows": [{"a": 1}]}')
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"] == "the JSON is not a list of objects"


def test_missing_file_field_is_422(client: httpx.Client) -> None:
    r = client.post("/ds/", data={"name": "x"}, files={"other": ("a.csv", b"a\n1\n", "text/csv")})
    assert r.status_code == 422
    assert "field named 'file'" in r.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"file=x"),
        ("multipart/form-data; boundary=xx", b"--xx\r\nbad\rheader: 1\r\n\r\nabc\r\n--xx--\r\n"),
    ],
)
def test_malformed_multipart_is_422(client: httpx.Client, content_type: str, body: bytes) -> None:
    r = client.post("/ds/", content=body, headers={"content-type": content_type})
    assert r.status_code == 422, r.text
    [problem] = r.json()["detail"]
    assert problem["loc"] == ["body"]
    assert problem["msg"].startswith("the body is not a valid multipart form: ")
    assert client.get("/ds/").json() == []


def test_unknown_dataset_is_404(client: httpx.Client) -> None:
    assert client.get("/ds/nope/").json() == {"detail": "Dataset not found"}
    assert client.get("/ds/nope/").status_code == 404


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[LiveServer]:
    settings, cleanup = make_settings(tmp_path, max_body_bytes=64 * 1024)
    try:
        with LiveServer(settings) as srv:
            yield srv
    finally:
        cleanup()


def test_upload_over_the_limit_is_413_and_leaves_nothing(small_server: LiveServer) -> None:
    big = b"a,b\n" + b"1,2\n" * 100_000  # 400 KB against a 64 KiB limit
    with httpx.Client(base_url=small_server.url, timeout=60) as client:
        r = upload(client, "big.csv", big)
        assert r.status_code == 413
        assert "larger than the limit of 65536 bytes" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while streaming
        boundary = b"--xx"
        yield (
            boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="b.csv"\r\n\r\n'
        )
        for _ in range(100):
            yield b"1,2\n" * 1000
        yield b"\r\n" + boundary + b"--\r\n"

    with httpx.Client(base_url=small_server.url, timeout=60) as client:
        r = client.post(
            "/ds/", content=chunks(), headers={"content-type": "multipart/form-data; boundary=xx"}
        )
        assert r.status_code == 413
    with httpx.Client(base_url=small_server.url, timeout=60) as client:
        assert client.get("/ds/").json() == []
    folder = small_server.settings.home / "datasets"
    assert not folder.exists() or list(folder.iterdir()) == []
