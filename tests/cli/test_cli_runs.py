"""``spurline runs list|show`` and ``spurline db upgrade`` on a real store."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest


def run_hello(cli: Any, name: str) -> dict[str, Any]:
    done = cli("run", "examples/hello.json", "-i", f"name={name}", "--json")
    assert done.returncode == 0, done.stderr
    run: dict[str, Any] = orjson.loads(done.stdout)
    return run


def test_db_upgrade_creates_the_store(cli: Any, tmp_path: Path) -> None:
    done = cli("db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"store at sqlite:///{tmp_path / 'spurline.db'} is up to date\n"
    assert (tmp_path / "spurline.db").stat().st_size > 0
    assert cli("db", "upgrade").returncode == 0  # idempotent


def test_runs_list_pages_newest_first_and_filters(cli: Any) -> None:
    first = run_hello(cli, "one")
    penguin = cli("run", "examples/penguins.json", "-i", "species=Adelie", "--json")
    assert penguin.returncode == 0, penguin.stderr
    second = orjson.loads(penguin.stdout)

    listed = orjson.loads(cli("runs", "list", "--json").stdout)
    assert [r["id"] for r in listed] == [second["id"], first["id"]]
    assert listed[1]["outputs"]["out"] == {"greeting": "Hello, one!", "shout": "HELLO, ONE!"}
    page2 = orjson.loads(cli("runs", "list", "--json", "--page", "2", "--page-size", "1").stdout)
    assert [r["id"] for r in page2] == [first["id"]]
    only = cli("runs", "list", "--json", "--workflow-id", first["workflow_id"])
    assert [r["id"] for r in orjson.loads(only.stdout)] == [first["id"]]
    none = cli("runs", "list", "--json", "--status", "FAILED")
    assert orjson.loads(none.stdout) == []

    table = cli("runs", "list").stdout
    assert table.splitlines()[0].strip() == "runs: page 1, 2 in all"
    rows = [line for line in table.splitlines() if line.startswith("│ R")]
    assert [line.split()[1] for line in rows] == [second["id"], first["id"]]
    assert re.search(rf"│ {first['id']} │ hello \(v1\)\s+│ COMPLETED\s+│", rows[1])
    assert re.search(r"│ penguins \(v1\)\s+│ COMPLETED", rows[0])


def test_runs_show_prints_the_tasks_as_a_table(cli: Any) -> None:
    run = run_hello(cli, "Ada")
    done = cli("runs", "show", run["id"])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{run['id']}  COMPLETED  100%  workflow hello (v1) ")
    assert lines[2:4] == ["type interactive", 'inputs: {"in":{"name":"Ada"}}']
    rows = [line for line in lines if line.startswith("│ ")]
    assert [row.split("│")[1].strip() for row in rows] == ["in", "greet", "shout", "out"]
    assert re.search(r"│ greet\s+│ PythonFuncNode\s+│ COMPLETED\s+│\s+\d+ │ {\"greeting\"", rows[1])
    assert '{"greeting":"Hello, Ada!","shout":"HELLO, ADA!"}' in rows[3]

    as_json = orjson.loads(cli("runs", "show", run["id"], "--json").stdout)
    assert as_json == run  # what `run --json` printed when the run ended


def test_unknown_run_and_bad_options_exit_2(cli: Any) -> None:
    assert cli("db", "upgrade").returncode == 0
    done = cli("runs", "show", "RNOSUCHRUN")
    assert (done.returncode, done.stdout, done.stderr) == (2, "", "error: no run RNOSUCHRUN\n")
    done = cli("runs", "list", "--status", "BOGUS")
    assert done.returncode == 2
    assert "'BOGUS' is not one of" in done.stderr
    assert "Traceback" not in done.stderr
    assert cli("runs", "list", "--page", "0").returncode == 2


def test_a_broken_store_is_one_line_not_a_traceback(cli: Any, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    cli.env["SPURLINE_HOME"] = str(not_a_folder)
    done = cli("runs", "list")
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: no Spurline store at {not_a_folder / 'spurline.db'} ")
    assert len(done.stderr.splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_brackets_in_outputs_and_errors_are_shown_verbatim(cli: Any, tmp_path: Path) -> None:
    # Rich reads "[true]" or "[bold]" as markup; the CLI must print them as they are.
    definition = {
        "nodes": [
            {"id": "in", "node_type": "InputNode"},
            {
                "id": "flags",
                "node_type": "PythonFuncNode",
                "config": {"code": "return {'f': [True]}"},
            },
            {
                "id": "bad",
                "node_type": "PythonFuncNode",
                "config": {"code": "raise ValueError('[bold]x[/bold] [true]')"},
            },
        ],
        "links": [
            {"source_id": "in", "target_id": "flags"},
            {"source_id": "in", "target_id": "bad"},
        ],
    }
    path = tmp_path / "[brackets].json"
    path.write_bytes(orjson.dumps(definition))
    done = cli("run", str(path))
    assert done.returncode == 1
    assert "failed: ValueError: [bold]x[/bold] [true]\n" in done.stderr
    run_id = re.search(r"run (R\w+) FAILED", done.stderr)
    assert run_id, done.stderr
    shown = cli("runs", "show", run_id.group(1)).stdout
    assert '{"f":[true]}' in shown
    assert "workflow [brackets] (v1)" in shown
    assert "\nbad: ValueError: [bold]x[/bold] [true]\n" in shown
    # then its traceback, at the line of the node's code, brackets verbatim too
    assert "    raise ValueError('[bold]x[/bold] [true]')\nValueError: [bold]x[/bold]" in shown


def test_runs_list_parent_only_leaves_out_batch_rows(cli: Any, tmp_path: Path) -> None:
    rows = tmp_path / "names.csv"
    rows.write_text("name\nAda\nGrace\nEdsger\n")
    done = cli("run", "examples/hello.json", "--dataset", str(rows))
    assert done.returncode == 0, done.stderr

    everything = orjson.loads(cli("runs", "list", "--json").stdout)
    parents = orjson.loads(cli("runs", "list", "--json", "--parent-only").stdout)
    assert len(everything) == 4
    assert [(r["run_type"], r["parent_run_id"]) for r in parents] == [("batch", None)]
    children = [r for r in everything if r["parent_run_id"] == parents[0]["id"]]
    assert sorted(r["initial_inputs"]["in"]["name"] for r in children) == ["Ada", "Edsger", "Grace"]


def test_an_unreachable_database_is_named_without_its_password(cli: Any) -> None:
    pytest.importorskip("psycopg")
    cli.env["SPURLINE_DATABASE_URL"] = "postgresql+psycopg://bob:sekret@127.0.0.1:1/x"
    for args in (["runs", "list"], ["tokens", "list"]):
        done = cli(*args)
        assert (done.returncode, done.stdout) == (1, ""), done.stderr
        assert done.stderr.startswith(
            "error: cannot use the database postgresql+psycopg://bob:***@127.0.0.1:1/x: "
            'connection to server at "127.0.0.1", port 1 failed: Connection refused'
        )
        assert "sekret" not in done.stderr and len(done.stderr.splitlines()) == 1
