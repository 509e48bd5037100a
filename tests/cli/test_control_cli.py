"""``spurline runs cancel|resume|retry`` on a real store (issue 3).

Most checks call the console script's entry point (``spurline.cli.main.main``) in
this process, so they stay fast; one goes through the real script in a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import Cli
from tests.flows import human, lines, links, logging_code, node, review_flow

from spurline.cli.main import main
from spurline.settings import get_settings


@dataclass
class Done:
    """What one command printed and its exit status."""

    code: int
    stdout: str
    stderr: str


Spurline = Callable[..., Done]


@pytest.fixture
def spurline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Spurline]:
    """``spurline *args`` through the script's entry point, on a fresh store in tmp_path."""
    for name in [k for k in os.environ if k.startswith("SPURLINE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SPURLINE_HOME", str(tmp_path))
    get_settings.cache_clear()

    def call(*args: str) -> Done:
        monkeypatch.setattr(sys, "argv", ["spurline", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        return Done(code, captured.out, captured.err)

    yield call
    get_settings.cache_clear()


def _start(spurline: Spurline, tmp_path: Path, definition: dict[str, Any]) -> tuple[str, Done]:
    wf = tmp_path / "flow.json"
    wf.write_text(json.dumps(definition))
    done = spurline("run", str(wf))
    found = re.search(r"run (R\w+) ", done.stderr)
    assert found, done.stderr
    return found.group(1), done


def _paused(spurline: Spurline, tmp_path: Path) -> str:
    run_id, done = _start(spurline, tmp_path, review_flow(tmp_path / "log"))
    assert done.code == 1
    assert f"run {run_id} PAUSED: Check the text" in done.stderr
    return run_id


def test_resume_approve_executes_the_rest(spurline: Spurline, tmp_path: Path) -> None:
    run_id = _paused(spurline, tmp_path)
    done = spurline(
        "runs", "resume", run_id, "--approve", "--input", "note=ok", "-i", "n=3",
        "--user", "ann", "--comments", "looks fine",
    )  # fmt: skip
    assert done.code == 0, done.stderr
    assert done.stderr.strip() == f"run {run_id} COMPLETED"
    outputs = json.loads(done.stdout)
    assert outputs["review"] == {"In": {}, "note": "ok", "n": 3}
    assert outputs["after"] == {"seen": {"In": {}, "note": "ok", "n": 3}}
    assert lines(tmp_path / "log") == {"after": 1}
    run = json.loads(spurline("runs", "show", run_id, "--json").stdout)
    assert run["status"] == "COMPLETED"


def test_resume_override_and_a_second_pause(spurline: Spurline, tmp_path: Path) -> None:
    two = {
        "nodes": [node("in", "InputNode"), human("first", "One"), human("second", "Two")],
        "links": links(("in", "first"), ("first", "second")),
    }
    run_id, done = _start(spurline, tmp_path, two)
    assert f"run {run_id} PAUSED: One" in done.stderr
    done = spurline("runs", "resume", run_id, "--override", "--input", "x=text")
    assert (done.code, done.stderr.strip()) == (0, f"run {run_id} PAUSED: Two")
    done = spurline("runs", "resume", run_id, "--approve", "--node", "second", "--json")
    assert done.code == 0
    run = json.loads(done.stdout)
    assert run["status"] == "COMPLETED"
    assert run["outputs"]["second"] == {"First": {"x": "text"}}


def test_resume_decline_and_cancel(spurline: Spurline, tmp_path: Path) -> None:
    run_id = _paused(spurline, tmp_path)
    done = spurline("runs", "resume", run_id, "--decline", "--user", "bob")
    assert done.code == 0
    assert done.stderr.strip() == f"run {run_id} CANCELED: Declined by bob at node 'review'"
    done = spurline("runs", "cancel", run_id)
    assert (done.code, done.stderr.strip()) == (2, f"error: Run {run_id} is already CANCELED")

    other = _paused(spurline, tmp_path)
    done = spurline("runs", "cancel", other, "--user", "carol")
    assert (done.code, done.stderr.strip()) == (0, f"run {other} CANCELED: Canceled by carol")


def test_retry_a_failed_run(spurline: Spurline, tmp_path: Path) -> None:
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
    run_id, done = _start(spurline, tmp_path, flaky)
    assert done.code == 1
    assert f"run {run_id} FAILED: Node 'b' failed: AssertionError: no flag" in done.stderr
    done = spurline("runs", "retry", run_id)
    assert (done.code, f"run {run_id} FAILED" in done.stderr) == (1, True)
    flag.touch()
    done = spurline("runs", "retry", run_id)
    assert (done.code, done.stderr.strip()) == (0, f"run {run_id} COMPLETED")
    assert lines(log) == {"a": 1, "b": 3}
    done = spurline("runs", "retry", run_id)
    not_failed = "not FAILED or CANCELED"
    assert (done.code, done.stderr.strip()) == (
        2,
        f"error: Run {run_id} is COMPLETED, {not_failed}",
    )


def test_bad_usage_exits_2_with_one_clear_line(spurline: Spurline, tmp_path: Path) -> None:
    run_id = _paused(spurline, tmp_path)
    cases = [
        (["resume", run_id], "give exactly one of --approve, --override, --decline"),
        (["resume", run_id, "--approve", "--decline"], "give exactly one of"),
        (["resume", run_id, "--approve", "-i", "novalue"], "--input takes key=value"),
        (["resume", run_id, "--approve", "--node", "in"], "Node 'in' is not paused"),
        (["resume", "R_nope", "--approve"], "no run R_nope"),
        (["cancel", "R_nope"], "no run R_nope"),
        (["retry", "R_nope"], "no run R_nope"),
        (["retry", run_id], f"Run {run_id} is PAUSED, not FAILED or CANCELED"),
    ]
    for args, message in cases:
        done = spurline("runs", *args)
        assert done.code == 2, (args, done.stderr)
        assert done.stderr.startswith("error: "), (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
    run = json.loads(spurline("runs", "show", run_id, "--json").stdout)
    assert run["status"] == "PAUSED"  # nothing changed


def test_the_real_script_resumes_a_paused_run(cli: Cli, tmp_path: Path) -> None:
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(review_flow(tmp_path / "log")))
    done = cli("run", str(flow))
    assert done.returncode == 1
    run_id = re.findall(r"run (R\w+) PAUSED", done.stderr)[0]
    done = cli("runs", "resume", run_id, "--approve", "--user", "ann")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == f"run {run_id} COMPLETED"
    assert json.loads(done.stdout)["review"] == {"In": {}}
    assert lines(tmp_path / "log") == {"after": 1}
