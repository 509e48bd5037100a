"""``spurline run``: inputs, outputs, exit statuses (0 COMPLETED, 1 FAILED, 2 usage error)
and one-line errors, through the real console script in a subprocess.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

FAILING = {
    "nodes": [
        {"id": "in", "node_type": "InputNode"},
        {"id": "boom", "node_type": "PythonFuncNode", "config": {"code": "return {'x': 1 / 0}"}},
        {"id": "ok", "node_type": "PythonFuncNode", "config": {"code": "return {'y': 2}"}},
        {"id": "after", "node_type": "MergeNode"},
    ],
    "links": [
        {"source_id": "in", "target_id": "boom"},
        {"source_id": "in", "target_id": "ok"},
        {"source_id": "boom", "target_id": "after"},
    ],
}
INVALID = {
    "nodes": [
        {"id": "in", "node_type": "InputNode"},
        {"id": "a", "node_type": "NoSuchNode"},
        {"id": "b", "node_type": "MergeNode"},
        {"id": "c", "node_type": "MergeNode"},
    ],
    "links": [
        {"source_id": "b", "target_id": "c"},
        {"source_id": "c", "target_id": "b"},
        {"source_id": "in", "target_id": "ghost"},
    ],
}


def write(tmp_path: Path, name: str, content: Any) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def assert_usage_error(done: Any, *fragments: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert done.stderr.startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


def test_hello_prints_the_output_node_result(cli: Any) -> None:
    done = cli("run", "examples/hello.json", "--input", "name=  Ada   Lovelace ")
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout) == {
        "greeting": "Hello, Ada Lovelace!",
        "shout": "HELLO, ADA LOVELACE!",
    }
    assert re.fullmatch(r"run R\w{26} COMPLETED in [0-9.]+ s\n", done.stderr)


def test_all_prints_every_node_and_json_prints_the_run(cli: Any) -> None:
    done = cli("run", "examples/hello.json", "-i", "name=Bo", "--all")
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout) == {
        "in": {"name": "Bo"},
        "greet": {"greeting": "Hello, Bo!"},
        "shout": {"shout": "HELLO, BO!"},
        "out": {"greeting": "Hello, Bo!", "shout": "HELLO, BO!"},
    }
    run = orjson.loads(cli("run", "examples/hello.json", "-i", "name=Cy", "--json").stdout)
    assert run["status"] == "COMPLETED"
    assert run["percentage_complete"] == 100
    assert run["initial_inputs"] == {"in": {"name": "Cy"}}
    assert run["workflow_version"]["name"] == "hello"
    assert [t["status"] for t in run["tasks"]] == ["COMPLETED"] * 4


def test_inputs_file_flat_nested_and_stdin_with_input_overriding(cli: Any, tmp_path: Path) -> None:
    flat = write(tmp_path, "flat.json", {"name": "Flat"})
    nested = write(tmp_path, "nested.json", {"in": {"name": "Nested"}})
    done = cli("run", "examples/hello.json", "--inputs", flat)
    assert orjson.loads(done.stdout)["greeting"] == "Hello, Flat!"
    done = cli("run", "examples/hello.json", "--inputs", nested, "-i", "name=Override")
    assert orjson.loads(done.stdout)["greeting"] == "Hello, Override!"
    done = cli("run", "examples/hello.json", "--inputs", "-", stdin='{"name": "Piped"}')
    assert orjson.loads(done.stdout)["greeting"] == "Hello, Piped!"


def test_values_are_typed_by_the_output_schema(cli: Any) -> None:
    values = '[3750, 3800, null, "NA", 3250, 6300, "4100", 20000]'
    done = cli("run", "examples/numbers.json", "-i", f"values={values}")
    assert done.returncode == 0, done.stderr
    result = orjson.loads(done.stdout)
    assert (result["n"], result["dropped"], result["min"], result["max"]) == (6, 2, 3250, 20000)
    # A str field keeps text that looks like JSON; field:=json parses it.
    done = cli("run", "examples/hello.json", "-i", "name=42")
    assert orjson.loads(done.stdout)["greeting"] == "Hello, 42!"
    done = cli("run", "examples/hello.json", "-i", 'name:="JSON"')
    assert orjson.loads(done.stdout)["greeting"] == "Hello, JSON!"


def test_an_unknown_field_is_a_warning_without_enforce_schema(cli: Any) -> None:
    done = cli("run", "examples/penguins.json", "-i", "species=Gentoo", "-i", "wings=2")
    assert done.returncode == 0, done.stderr
    assert "warning: the InputNode 'penguin' has no field 'wings'" in done.stderr
    assert orjson.loads(done.stdout)["route"] == "Unclassified"


def test_a_failed_run_exits_1_and_names_the_node(cli: Any, tmp_path: Path) -> None:
    done = cli("run", write(tmp_path, "failing.json", FAILING))
    assert done.returncode == 1
    assert done.stdout == ""
    found = re.search(
        r"run (R\w+) FAILED: Node 'boom' failed: ZeroDivisionError: division by zero", done.stderr
    )
    assert found, done.stderr
    assert "Traceback" not in done.stderr
    run = orjson.loads(cli("runs", "show", found.group(1), "--json").stdout)
    assert {t["node_id"]: t["status"] for t in run["tasks"]} == {
        "in": "COMPLETED",
        "boom": "FAILED",
        "ok": "COMPLETED",
        "after": "CANCELED",
    }
    assert run["outputs"]["ok"] == {"y": 2}


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["run", "nothere.json"], ["cannot read workflow nothere.json: No such file"]),
        (["run", "examples/hello.json", "-i", "name"], ["--input takes field=value", "'name'"]),
        (["run", "examples/hello.json", "-i", "=x"], ["--input takes field=value"]),
        (["run", "examples/hello.json", "-i", "name:=nope"], ["--input name:= needs a JSON"]),
        (
            ["run", "examples/hello.json", "-i", "name=x", "-i", "nmae=y"],
            ["the InputNode 'in' has no field 'nmae' (its fields: name)"],
        ),
        (
            ["run", "examples/hello.json"],
            ["the inputs do not fit", "initial_inputs['in'] is missing field 'name' (str)"],
        ),
        (
            ["run", "examples/hello.json", "-i", "name:=5"],
            ["initial_inputs['in'].name must be str, got int"],
        ),
        (
            ["run", "examples/numbers.json", "-i", "values=[1, NA]"],
            ["initial_inputs['data'].values must be list, got str"],
        ),
        (["run", "examples/hello.json", "--inputs", "nope.json"], ["cannot read --inputs"]),
    ],
)
def test_usage_errors_exit_2_with_one_clear_message(
    cli: Any, args: list[str], fragments: list[str]
) -> None:
    assert_usage_error(cli(*args), *fragments)


def test_bad_files_exit_2(cli: Any, tmp_path: Path) -> None:
    malformed = write(tmp_path, "malformed.json", '{"nodes": [')
    assert_usage_error(cli("run", malformed), f"workflow {malformed} is not valid JSON")
    listed = write(tmp_path, "list.json", "[1, 2]")
    assert_usage_error(cli("run", listed), "must hold a JSON object, not list")
    bad_inputs = write(tmp_path, "inputs.json", "{oops")
    done = cli("run", "examples/hello.json", "--inputs", bad_inputs)
    assert_usage_error(done, f"--inputs {bad_inputs} is not valid JSON")
    other = write(tmp_path, "other.json", {"in": {"name": "x"}, "elsewhere": {}})
    done = cli("run", "examples/hello.json", "--inputs", other)
    assert_usage_error(done, "names 'elsewhere', which is not the workflow's InputNode ('in')")


def test_an_invalid_definition_lists_every_problem(cli: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "invalid.json", {"name": "x", "definition": INVALID})
    done = cli("run", path)
    assert_usage_error(done, f"error: workflow {path} is not valid\n")
    assert done.stderr.splitlines()[1:] == [
        "  - node 'a': unknown node_type 'NoSuchNode'",
        "  - link 2 (in -> ghost): target_id 'ghost' is not a node",
        "  - the links form a cycle through nodes b, c (at links)",
    ]


def test_rejected_inputs_create_no_run(cli: Any) -> None:
    assert cli("run", "examples/hello.json").returncode == 2
    listed = cli("runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert orjson.loads(listed.stdout) == []


def test_python_dash_m_and_help(cli: Any) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "spurline", "--help"],
        env=cli.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    for command in ("serve", "run", "runs", "db"):
        assert command in done.stdout
