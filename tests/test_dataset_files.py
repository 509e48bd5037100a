"""Reading dataset files and typing row values (SPEC §6), without a server."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from spurline.exceptions import DatasetInvalid
from spurline.services import datasets
from spurline.services.datasets import coerce, ingest, read_rows

ROWS = [
    {"i": i, "f": i / 7, "s": "é" * (i % 5), "n": None, "l": [i, {"k": True}]} for i in range(300)
]


@pytest.mark.parametrize("chunk", [1, 7, 64 * 1024])
def test_a_json_array_is_read_across_chunk_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(datasets, "_CHUNK", chunk)
    raw = json.dumps(ROWS, ensure_ascii=False, indent=1).encode()
    dest = tmp_path / "d.jsonl"
    assert ingest(io.BytesIO(raw), "d.json", dest) == ("json", ["i", "f", "s", "n", "l"], 300)
    assert list(read_rows(dest)) == ROWS
    assert list(read_rows(dest, start=298)) == ROWS[298:]


def test_format_follows_the_content_without_an_extension(tmp_path: Path) -> None:
    dest = tmp_path / "d.jsonl"
    assert ingest(io.BytesIO(b'\xef\xbb\xbf {"a": 1}\n'), "upload", dest)[0] == "jsonl"
    assert ingest(io.BytesIO(b"[{}]"), "upload", dest)[:2] == ("json", [])
    assert ingest(io.BytesIO(b"a;b\n1;2\n"), "upload", dest) == ("csv", ["a;b"], 1)


def test_a_failed_read_leaves_no_file(tmp_path: Path) -> None:
    dest = tmp_path / "d.jsonl"
    with pytest.raises(DatasetInvalid, match="row 3 \\(line 4\\) has 3 fields"):
        ingest(io.BytesIO(b"a,b\n1,2\n3,4\n5,6,7\n"), "x.csv", dest)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DatasetInvalid, match="not UTF-8"):
        ingest(io.BytesIO(b"a\n\xff\xfe\n"), "x.csv", dest)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("value", "type_name", "expected"),
    [
        ("NA", "int", None),
        ("", "str", None),
        (" 12 ", "integer", 12),
        ("1e3", "int", 1000),
        ("3.0", "int", 3),
        ("2.5", "float", 2.5),
        (4, "number", 4.0),
        ("Yes", "bool", True),
        ("0", "boolean", False),
        ('{"a": [1]}', "dict", {"a": [1]}),
        ("[1, 2]", "array", [1, 2]),
        (12, "str", "12"),
        ("x", "any", "x"),
        ([1], "list", [1]),
    ],
)
def test_values_are_typed_per_the_schema(value: object, type_name: str, expected: object) -> None:
    assert coerce(value, type_name) == expected


@pytest.mark.parametrize(
    ("value", "type_name", "message"),
    [
        ("2.5", "int", "'2.5' is not an int"),
        ("abc", "float", "'abc' is not a float"),
        ("maybe", "bool", "'maybe' is not a bool"),
        ("[1]", "dict", "'[1]' is not a dict"),
        (True, "integer", "True is not an integer"),
    ],
)
def test_values_that_do_not_fit_name_the_type(value: object, type_name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", "\\[").replace("]", "\\]")):
        coerce(value, type_name)
