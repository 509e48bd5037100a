"""``spurline runs cancel|resume|retry`` on a real store (issue 3)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from tests.flows import human, lines, links, logging_code, node, review_flow
from typer.testing import CliRunner

from spurline.cli.main import app
from spurline.settings import get_settings


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A CLI runner on a fresh SQLite store under ``tmp_path``."""
    monkeypatch.setenv("SPURLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SPURLINE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _invoke(cli: CliRunner, *args: str) -> Result:
    result = cli.invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def _run_file(cli: CliRunner, tmp_path: Path, definition: dict[str, Any]) -> tuple[str, Result]:
    wf = tmp_path / "flow.json"
    wf.write_text(json.dumps(definition))
    result = _invoke(cli, "run", str(wf))
    found = re.search(r"run (R\w+) ", result.stderr)
    assert found, result.stderr
    return found.group(1), result


def _paused(cli: CliRunner, tmp_path: Path) -> str:
    run_id, result = _run_file(cli, tmp_path, review_flow(tmp_path / "log"))
    assert result.exit_code == 1
    assert f"run {run_id} PAUSED: Check the text" in result.stderr
    return run_id


def test_resume_approve_executes_the_rest(cli: CliRunner, tmp_path: Path) -> None:
    run_id = _paused(cli, tmp_path)
    result = _invoke(
        cli, "runs", "resume", run_id, "--approve", "--input", "note=ok", "-i", "n=3",
        "--user", "ann", "--comments", "looks fine",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"run {run_id} COMPLETED" in result.stderr
    outputs = json.loads(result.stdout)
    assert outputs["review"] == {"In": {}, "note": "ok", "n": 3}
    assert outputs["after"] == {"seen": {"In": {}, "note": "ok", "n": 3}}
    assert lines(tmp_path / "log") == {"after": 1}
    show = _invoke(cli, "runs", "show", run_id)
    assert "COMPLETED" in show.stdout


def test_resume_override_and_a_second_pause(cli: CliRunner, tmp_path: Path) -> None:
    two = {
        "nodes": [node("in", "InputNode"), human("first", "One"), human("second", "Two")],
        "links": links(("in", "first"), ("first", "second")),
    }
    run_id, result = _run_file(cli, tmp_path, two)
    assert f"run {run_id} PAUSED: One" in result.stderr
    result = _invoke(cli, "runs", "resume", run_id, "--override", "--input", "x=text")
    assert result.exit_code == 0
    assert f"run {run_id} PAUSED: Two" in result.stderr
    result = _invoke(cli, "runs", "resume", run_id, "--approve", "--node", "second")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["second"] == {"First": {"x": "text"}}


def test_resume_decline_and_cancel(cli: CliRunner, tmp_path: Path) -> None:
    run_id = _paused(cli, tmp_path)
    result = _invoke(cli, "runs", "resume", run_id, "--decline", "--user", "bob")
    assert result.exit_code == 0
    assert f"run {run_id} CANCELED: Declined by bob at node 'review'" in result.stderr
    result = _invoke(cli, "runs", "cancel", run_id)
    assert result.exit_code == 2
    assert f"Run {run_id} is already CANCELED" in result.stderr

    other = _paused(cli, tmp_path)
    result = _invoke(cli, "runs", "cancel", other, "--user", "carol")
    assert result.exit_code == 0
    assert f"run {other} CANCELED: Canceled by carol" in result.stderr


def test_retry_a_failed_run(cli: CliRunner, tmp_path: Path) -> None:
    flag, log = tmp_path / "flag", tmp_path / "log"
    body = f"import os\nassert os.path.exists({str(flag)!r}), 'no flag'\nreturn {{}}"
    flaky = {
        "nodes": [
            node("in", "InputNode"),
            node("a", "PythonFuncNode", code=logging_code(log, "a")),
            node("b", "PythonFuncNode", code=logging_code(log, "b", body)),
        ],
        "links": links(("in", "a"), ("a", "b")),
    }
    run_id, result = _run_file(cli, tmp_path, flaky)
    assert result.exit_code == 1
    assert f"run {run_id} FAILED: Node 'b' failed: AssertionError: no flag" in result.stderr
    result = _invoke(cli, "runs", "retry", run_id)
    assert result.exit_code == 1
    assert f"run {run_id} FAILED" in result.stderr
    flag.touch()
    result = _invoke(cli, "runs", "retry", run_id)
    assert result.exit_code == 0
    assert f"run {run_id} COMPLETED" in result.stderr
    assert lines(log) == {"a": 1, "b": 3}
    result = _invoke(cli, "runs", "retry", run_id)
    assert result.exit_code == 2
    assert f"Run {run_id} is COMPLETED, not FAILED" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["resume", "{run}"], "give exactly one of --approve, --override, --decline"),
        (["resume", "{run}", "--approve", "--decline"], "give exactly one of"),
        (["resume", "{run}", "--approve", "--input", "novalue"], "--input takes key=value"),
        (["resume", "{run}", "--approve", "--node", "in"], "Node 'in' is not paused"),
        (["resume", "R_nope", "--approve"], "no run R_nope"),
        (["cancel", "R_nope"], "no run R_nope"),
        (["retry", "R_nope"], "no run R_nope"),
        (["retry", "{run}"], "is PAUSED, not FAILED"),
    ],
)
def test_bad_usage_exits_2_with_a_clear_error(
    cli: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    run_id = _paused(cli, tmp_path)
    result = _invoke(cli, "runs", *(a.replace("{run}", run_id) for a in args))
    assert result.exit_code == 2
    assert message in result.stderr
    show = _invoke(cli, "runs", "show", run_id)
    assert "PAUSED" in show.stdout  # nothing changed
