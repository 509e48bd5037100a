"""``spurline runs logs|watch|show`` with captured output and attempts
(docs/observability.md), and ``spurline run --json`` staying pure JSON."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import orjson

FLAKY = """import pathlib
p = pathlib.Path({counter!r})
n = int(p.read_text()) + 1 if p.exists() else 1
p.write_text(str(n))
print("try", n)
if n == 1:
    raise ValueError("first try fails")
return {{"n": n}}"""


def write_flaky(tmp_path: Path) -> Path:
    definition = {
        "nodes": [
            {"id": "in", "title": "In", "node_type": "InputNode", "config": {}},
            {
                "id": "p",
                "title": "P",
                "node_type": "PythonFuncNode",
                "config": {
                    "code": FLAKY.format(counter=str(tmp_path / "calls")),
                    "max_retries": 1,
                },
            },
        ],
        "links": [{"source_id": "in", "target_id": "p"}],
    }
    path = tmp_path / "flaky.json"
    path.write_text(json.dumps(definition))
    return path


def test_printing_nodes_keep_run_json_pure_and_logs_show_per_attempt(
    cli: Any, tmp_path: Path
) -> None:
    done = cli("run", str(write_flaky(tmp_path)), "--json")
    assert done.returncode == 0, done.stderr
    run = orjson.loads(done.stdout)  # the node's prints are not on stdout
    assert run["outputs"]["p"] == {"n": 2}
    logs = cli("runs", "logs", run["id"])
    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.splitlines()
    assert [re.sub(r"^\S+ ", "", line) for line in lines] == [
        "p#1 stdout INFO: try 1",
        "p#2 stdout INFO: try 2",
    ]
    only = cli("runs", "logs", run["id"], "--node", "p", "--attempt", "2").stdout
    assert only.splitlines()[0].endswith("p#2 stdout INFO: try 2")
    assert len(only.splitlines()) == 1

    show = cli("runs", "show", run["id"]).stdout
    rows = [line for line in show.splitlines() if line.startswith("│ p ")]
    assert len(rows) == 3  # its task row, then a row per attempt
    assert "attempts" in show
    assert re.search(r"│ p\s+│ 1\s+│ FAILED\s+│ run\s+│.*ValueError: first try fails", show)


def test_unknown_run_is_a_usage_error(cli: Any) -> None:
    for args in (("runs", "logs", "RNOPE"), ("runs", "watch", "RNOPE")):
        done = cli(*args)
        assert done.returncode == 2, args
        assert (
            done.stderr.strip().splitlines() == [done.stderr.strip().splitlines()[0]]
            and "RNOPE" in done.stderr
        )


def test_follow_and_watch_end_with_the_run(cli: Any, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    code = (
        "import pathlib, time\n"
        f"gate = pathlib.Path({str(gate)!r})\n"
        "print('before')\n"
        "while not gate.exists():\n"
        "    time.sleep(0.01)\n"
        "print('after')\n"
        "return {'ok': True}"
    )
    definition = {
        "nodes": [
            {"id": "in", "title": "In", "node_type": "InputNode", "config": {}},
            {"id": "p", "title": "P", "node_type": "PythonFuncNode", "config": {"code": code}},
        ],
        "links": [{"source_id": "in", "target_id": "p"}],
    }
    path = tmp_path / "gated.json"
    path.write_text(json.dumps(definition))
    # the run executes in one CLI process; another follows it
    running = subprocess.Popen(
        [*cli.argv, "run", str(path), "--json"],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        listed: list[dict[str, Any]] = []
        for _ in range(600):
            listed = orjson.loads(cli("runs", "list", "--json").stdout or "[]")
            if listed and listed[0]["tasks"][1]["status"] == "RUNNING":
                break
        run_id = listed[0]["id"]
        threading.Timer(1.0, gate.touch).start()
        follow = cli("runs", "logs", run_id, "--follow", timeout=120)
        watch = cli("runs", "watch", run_id, timeout=120)
    finally:
        gate.touch()
        out, err = running.communicate(timeout=120)
    assert running.returncode == 0, err
    assert orjson.loads(out)["status"] == "COMPLETED"
    assert follow.returncode == 0, follow.stderr
    assert [line.rsplit(": ", 1)[1] for line in follow.stdout.splitlines()] == ["before", "after"]
    assert watch.returncode == 0, watch.stderr
    assert f"{run_id}  COMPLETED  100%" in watch.stdout
