"""Every ``runs``, ``workflows`` and ``datasets`` command, with ``--json``, against a
server on another port and another store (``--server``), and against the local store
from an unrelated directory (``SPURLINE_HOME``): one scenario, two targets.

The commands go through the console script's entry point in this process (fast);
``test_cli_subprocess.py`` checks the real script.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import REPO, LiveServer
from tests.flows import links, node, review_flow

from spurline.cli.main import main
from spurline.settings import Settings, get_settings

HELLO = REPO / "examples" / "hello.json"
FAILING = {
    "nodes": [
        node("in", "InputNode"),
        node("boom", "PythonFuncNode", code="return {'x': 1 / 0}"),
    ],
    "links": links(("in", "boom")),
}
# Prints, then fails on every try: two attempts, each with its line and traceback.
NOISY_CODE = """import pathlib
p = pathlib.Path({counter!r})
n = int(p.read_text()) + 1 if p.exists() else 1
p.write_text(str(n))
print("try", n)
raise ValueError(f"no luck {{n}}")"""


def noisy(tmp: Path) -> dict[str, Any]:
    code = NOISY_CODE.format(counter=str(tmp / "noisy-calls"))
    return {
        "nodes": [node("in", "InputNode"), node("p", "PythonFuncNode", code=code, max_retries=1)],
        "links": links(("in", "p")),
    }


@dataclass
class Done:
    """What one command printed and its exit status."""

    code: int
    stdout: str
    stderr: str


Spurline = Callable[..., Done]


def make_spurline(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], cwd: Path, **env: str
) -> Spurline:
    """``spurline *args`` through the script's entry point, in ``cwd`` with ``env`` only."""
    for name in [k for k in os.environ if k.startswith("SPURLINE_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cwd.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(cwd)
    get_settings.cache_clear()

    def call(*args: str) -> Done:
        monkeypatch.setattr(sys, "argv", ["spurline", *args])
        get_settings.cache_clear()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        return Done(code, captured.out, captured.err)

    return call


def write(path: Path, content: Any) -> str:
    path.write_text(json.dumps(content))
    return str(path)


def exercise(sp: Spurline, tmp: Path) -> dict[str, str]:
    """Every command once (most with ``--json``, which must parse); returns the ids of
    what is left: the workflow ``hello`` and a batch run."""

    def js(*args: str, code: int = 0) -> Any:
        done = sp(*args, "--json")
        assert done.code == code, (args, done.stderr)
        return json.loads(done.stdout)

    # workflows: apply never replaces by name; --workflow (or "id") gives a new version
    created = js("workflows", "apply", str(HELLO))
    wf = created["id"]
    assert (created["name"], created["outcome"]) == ("hello", "created")
    assert (js("workflows", "apply", str(HELLO))["id"], "unchanged") == (wf, "unchanged")
    hi = json.loads(HELLO.read_text())
    greet = hi["definition"]["nodes"][1]["config"]
    greet["code"] = greet["code"].replace("Hello", "Hi")
    other = js("workflows", "apply", write(tmp / "hi.json", hi))
    assert other["outcome"] == "created" and other["id"] != wf and other["name"] == "hello"
    updated = js("workflows", "apply", str(tmp / "hi.json"), "--workflow", wf)
    assert (updated["id"], updated["outcome"]) == (wf, "updated")
    assert {w["id"] for w in js("workflows", "list")} == {wf, other["id"]}
    shown = js("workflows", "show", wf)
    assert shown["definition"]["nodes"][1]["config"]["code"] == greet["code"]
    assert [v["version"] for v in js("workflows", "versions", wf)] == [2, 1]
    diff = js("workflows", "diff", wf)
    assert (diff["from_version"], diff["to_version"]) == (1, 2)
    changed = [x for x in diff["diff"].splitlines() if x[:1] in "+-" and "code" in x]
    assert [(x[0], "Hello, {name}" in x, "Hi, {name}" in x) for x in changed] == [
        ("-", True, False),
        ("+", False, True),
    ]
    # a bare definition's top-level "id" and "name" count as in the wrapped form
    bare = {"id": other["id"], "name": "hello", **json.loads(json.dumps(hi["definition"]))}
    bare["nodes"][1]["config"]["code"] = greet["code"].replace("Hi", "Hey")
    applied = js("workflows", "apply", write(tmp / "bare.json", bare))
    assert (applied["id"], applied["name"], applied["outcome"]) == (other["id"], "hello", "updated")
    assert js("workflows", "delete", other["id"]) == {"id": other["id"], "deleted": True}
    assert [w["id"] for w in js("workflows", "list")] == [wf]

    # runs
    run = js("run", "--workflow", wf, "-i", "name=Ada")
    assert (run["status"], run["outputs"]["out"]["greeting"]) == ("COMPLETED", "Hi, Ada!")
    listed = js("runs", "list", "--workflow-id", wf, "--status", "COMPLETED")
    assert [r["id"] for r in listed] == [run["id"]]
    assert js("runs", "show", run["id"]) == run
    review = write(tmp / "review.json", {"name": "review", "definition": review_flow(tmp / "log")})
    paused = js("run", review, code=1)
    assert (paused["status"], paused["message"]) == ("PAUSED", "Check the text")
    resumed = js("runs", "resume", paused["id"], "--approve", "-i", "note=ok", "--user", "ann")
    assert resumed["status"] == "COMPLETED"
    assert resumed["outputs"]["after"] == {"seen": {"In": {}, "note": "ok"}}
    second = js("run", review, code=1)
    canceled = js("runs", "cancel", second["id"], "--user", "carol")
    assert (canceled["status"], canceled["message"]) == ("CANCELED", "Canceled by carol")
    failed = js("run", write(tmp / "failing.json", FAILING), code=1)
    retried = js("runs", "retry", failed["id"], code=1)
    assert (retried["id"], retried["status"]) == (failed["id"], "FAILED")
    assert "ZeroDivisionError" in (retried["message"] or "")
    observe(sp, js, tmp)
    assert js("runs", "delete", failed["id"]) == {"id": failed["id"], "deleted": True}
    gone = sp("runs", "show", failed["id"], "--json")
    assert (gone.code, gone.stdout, gone.stderr) == (2, "", f"error: no run {failed['id']}\n")

    # datasets and a batch
    names = tmp / "names.csv"
    names.write_text("name\nAda\nGrace\n")
    ds = js("datasets", "upload", str(names))
    assert (ds["name"], ds["columns"], ds["row_count"]) == ("names", ["name"], 2)
    assert [d["id"] for d in js("datasets", "list")] == [ds["id"]]
    assert js("datasets", "show", ds["id"]) == ds
    results = tmp / "out.jsonl"
    done = sp("run", "--workflow", wf, "--dataset", str(names), "--output", str(results))
    assert done.code == 0, done.stderr
    summary = re.search(r"batch (R\w+) COMPLETED: 2 rows, 2 completed, 0 failed", done.stdout)
    assert summary, done.stdout
    rows = [json.loads(x) for x in results.read_text().splitlines()]
    assert [r["outputs"]["greeting"] for r in rows] == ["Hi, Ada!", "Hi, Grace!"]
    children = js("runs", "children", summary.group(1))
    assert [c["id"] for c in children] == [r["run_id"] for r in rows]
    again = js("run", "--workflow", wf, "--dataset", str(names))  # the parent run
    assert (again["run_type"], again["status"]) == ("batch", "COMPLETED")
    assert again["input_dataset_id"] not in (None, ds["id"])  # each batch uploads its file
    parents = js("runs", "list", "--parent-only", "--workflow-id", wf)
    assert [r["run_type"] for r in parents] == ["batch", "batch", "interactive"]
    assert js("datasets", "delete", ds["id"]) == {"id": ds["id"], "deleted": True}
    assert sp("datasets", "show", ds["id"]).stderr == f"error: no dataset {ds['id']}\n"
    operate(sp, js, tmp, wf, run["id"], second["id"])
    return {"workflow": wf, "batch": summary.group(1)}


def operate(
    sp: Spurline, js: Callable[..., Any], tmp: Path, wf: str, done: str, canceled: str
) -> None:
    """Tags, metadata and idempotency keys at start; finding runs by them; reruns,
    schedules, webhooks and prune (docs/operations.md). ``done`` is a COMPLETED run
    of ``wf``, ``canceled`` a CANCELED one."""
    start = ["run", "--workflow", wf, "-i", "name=Bob", "--tag", "nightly", "--tag", "cli"]
    tagged = js(*start, "--meta", "team=data", "--meta", "env=test", "--idempotency-key", "k-1")
    assert (tagged["tags"], tagged["metadata"]) == (
        ["nightly", "cli"],
        {"team": "data", "env": "test"},
    )
    assert js(*start, "--idempotency-key", "k-1")["id"] == tagged["id"]  # the first run again
    found = js("runs", "list", "--tag", "nightly", "--meta", "team=data", "--since", "1h")
    assert [r["id"] for r in found] == [tagged["id"]]
    assert js("runs", "list", "--meta", "team=ops") == []
    assert js("runs", "list", "--until", "2000-01-01T00:00", "--workflow-id", wf) == []
    bad = sp("runs", "list", "--since", "yesterday")
    assert (bad.code, bad.stderr.startswith("error: --since takes an ISO 8601 time")) == (2, True)

    # reruns: a new run linked both ways, with changed inputs and its own tags
    new = js("runs", "rerun", done, "--inputs", '{"in": {"name": "Eve"}}', "--tag", "again")
    assert (new["rerun_of"], new["status"], new["tags"]) == (done, "COMPLETED", ["again"])
    assert new["outputs"]["out"]["greeting"] == "Hi, Eve!"
    assert js("runs", "show", done)["reruns"] == [new["id"]]
    shown = sp("runs", "show", new["id"])
    assert f"rerun of {done}" in shown.stdout and "tags: again" in shown.stdout
    assert "type interactive" in shown.stdout
    assert sp("runs", "rerun", "Rnope").stderr == "error: no run Rnope\n"

    # schedules (created disabled: nothing fires during the test)
    every = ["--name", "hourly", "--every", "3600", "--inputs", '{"in": {"name": "S"}}']
    made = js("schedules", "create", wf, *every, "--disabled")
    assert (made["interval_seconds"], made["enabled"], made["workflow_id"]) == (3600, False, wf)
    assert [x["id"] for x in js("schedules", "list", "--workflow-id", wf)] == [made["id"]]
    assert js("schedules", "show", made["id"]) == made
    assert js("schedules", "toggle", made["id"])["enabled"] is True
    assert js("runs", "list", "--schedule", made["id"]) == []
    assert js("schedules", "delete", made["id"]) == {"id": made["id"], "deleted": True}
    gone = sp("schedules", "show", made["id"])
    assert (gone.code, gone.stderr) == (2, f"error: no schedule {made['id']}\n")
    bad = sp("schedules", "create", wf, "--name", "b", "--cron", "61 * * * *")
    assert bad.code == 2 and "cron_expression '61 * * * *' is not valid" in bad.stderr

    # webhooks: the secret is never shown
    secret = "whsec_" + base64.b64encode(b"s" * 32).decode()
    (tmp / "secret.txt").write_text(secret)
    hook = js(
        "webhooks", "create", "http://127.0.0.1:9/hook", "--secret-file", str(tmp / "secret.txt"),
        "--event", "failed", "--workflow-id", wf,
    )  # fmt: skip
    assert (hook["events"], hook["workflow_id"]) == (["FAILED"], wf)
    listed = sp("webhooks", "list", "--json")
    assert [h["id"] for h in json.loads(listed.stdout)] == [hook["id"]]
    assert secret not in listed.stdout
    assert js("webhooks", "deliveries", hook["id"]) == []
    assert js("webhooks", "delete", hook["id"]) == {"id": hook["id"], "deleted": True}

    # prune: counts first, then the CANCELED run goes (the others stay)
    assert js("runs", "prune", "--older-than", "1w", "--dry-run")["runs"] == 0
    time.sleep(1.1)
    report = js("runs", "prune", "--older-than", "1s", "--status", "canceled")
    assert (report["runs"], report["dry_run"]) == (1, False)
    assert sp("runs", "show", canceled).stderr == f"error: no run {canceled}\n"
    assert js("runs", "show", done)["id"] == done
    bad = sp("runs", "prune", "--older-than", "-1d")
    assert bad.code == 2 and bad.stderr.startswith("error: --older-than: '-1d' is not a positive")
    bad = sp("runs", "prune", "--older-than", "1d", "--status", "RUNNING")
    assert bad.stderr.startswith("error: --status: cannot prune runs with status RUNNING")


def observe(sp: Spurline, js: Callable[..., Any], tmp: Path) -> None:
    """``runs logs`` (stored, filtered, followed), ``runs watch --json`` (the event
    stream) and ``runs show`` with tracebacks and attempts, on a run tried twice."""

    def jl(*args: str) -> list[dict[str, Any]]:
        done = sp(*args, "--json")
        assert done.code == 0, (args, done.stderr)
        return [json.loads(x) for x in done.stdout.splitlines()]

    run = js("run", write(tmp / "noisy.json", noisy(tmp)), code=1)
    assert [t["attempts"] for t in run["tasks"]] == [1, 2]
    logs = jl("runs", "logs", run["id"])
    assert [(x["node_id"], x["attempt"], x["stream"], x["line"]) for x in logs] == [
        ("p", 1, "stdout", "try 1"),
        ("p", 2, "stdout", "try 2"),
    ]
    assert jl("runs", "logs", run["id"], "--node", "p", "--attempt", "2") == logs[1:]
    assert jl("runs", "logs", run["id"], "--node", "in") == []
    quiet = sp("runs", "logs", run["id"], "--node", "in")
    assert (quiet.code, quiet.stdout) == (0, "")
    assert quiet.stderr == f"run {run['id']} has no log lines of node in\n"
    # The run has ended: the stream replays its events, then ends.
    assert jl("runs", "logs", run["id"], "--follow") == logs
    events = jl("runs", "watch", run["id"])
    assert events[-1] == {
        "id": None,
        "event": "end",
        "data": {"run_id": run["id"], "status": "FAILED"},
    }
    ids = [e["id"] for e in events[:-1]]
    assert ids == sorted(set(ids)) and [x["id"] for x in logs] == [
        e["id"] for e in events if e["event"] == "log"
    ]
    tries = [e["data"] for e in events if e["event"] == "attempt" and e["data"]["node_id"] == "p"]
    assert [(a["number"], a["status"], a["error"]) for a in tries] == [
        (1, "FAILED", "ValueError: no luck 1"),
        (2, "FAILED", "ValueError: no luck 2"),
    ]
    assert [e["data"]["status"] for e in events if e["event"] == "run"][-1] == "FAILED"
    # Piped, the table is printed once, at the end, under the run's header
    watched = sp("runs", "watch", run["id"]).stdout.splitlines()
    assert watched[0].startswith(f"{run['id']}  FAILED")
    table = [x.strip() for x in watched].index("tasks")
    assert watched[table + 1].startswith("┏") and watched[-1].startswith("└")
    shown = sp("runs", "show", run["id"])
    assert shown.code == 0, shown.stderr
    assert 'raise ValueError(f"no luck {n}")' in shown.stdout  # the task's traceback
    rows = [x for x in shown.stdout.splitlines() if x.startswith("│ p ")]
    assert len(rows) == 3  # its task row, then a row per attempt
    assert re.search(r"│ p\s+│ 1\s+│ FAILED\s+│ run\s+│.*no luck 1", shown.stdout)
    assert re.search(r"│ p\s+│ 2\s+│ FAILED\s+│ node retry\s+│.*no luck 2", shown.stdout)
    missing = sp("runs", "logs", "Rnope", "--follow")
    assert (missing.code, missing.stderr) == (2, "error: no run Rnope\n")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_every_command_drives_a_remote_server(
    server: LiveServer,
    client: httpx.Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    nowhere = tmp_path / "no-local-store"
    sp = make_spurline(monkeypatch, capsys, tmp_path / "elsewhere", SPURLINE_HOME=str(nowhere))
    left = exercise(lambda *a: sp("--server", server.url, *a), tmp_path)
    # It all happened on the server's store, and nothing was written here.
    assert [v["version"] for v in client.get(f"/wf/{left['workflow']}/versions/").json()] == [2, 1]
    assert client.get(f"/run/{left['batch']}/").json()["run_type"] == "batch"
    assert not nowhere.exists()
    assert not (tmp_path / "elsewhere" / ".spurline").exists()


def test_every_command_on_the_local_store_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    sp = make_spurline(monkeypatch, capsys, tmp_path / "elsewhere", SPURLINE_HOME=str(home))
    missing = sp("runs", "list", "--json")
    assert (missing.code, missing.stdout) == (2, "")
    assert missing.stderr.startswith(f"error: no Spurline store at {home / 'spurline.db'} ")
    assert sp("db", "upgrade").code == 0
    exercise(sp, tmp_path)
    assert not (tmp_path / "elsewhere" / ".spurline").exists()


def test_an_upload_over_the_limit_names_the_file_and_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The server refuses the body as soon as it reads the headers and may drop the
    # connection while the file is still being sent, or answer 413 first: the client
    # says the same either way.
    big = tmp_path / "big.csv"
    big.write_text("name\n" + "abc\n" * 100_000)
    with LiveServer(Settings(home=tmp_path / "srv", max_body_bytes=100_000)) as srv:
        sp = make_spurline(monkeypatch, capsys, tmp_path / "elsewhere", SPURLINE_URL=srv.url)
        done = sp("datasets", "upload", str(big))
    assert (done.code, done.stdout) == (2, "")
    said = (
        "error: big.csv is 400,005 bytes, over the server's limit of 100,000 bytes for a "
        "request (SPURLINE_MAX_BODY_BYTES on the server)\n"
    )
    assert done.stderr == said
    # The local store (the app in this process) answers 413 itself.
    local = make_spurline(
        monkeypatch, capsys, tmp_path / "elsewhere",
        SPURLINE_HOME=str(tmp_path / "home"), SPURLINE_MAX_BODY_BYTES="100000",
    )  # fmt: skip
    assert local("db", "upgrade").code == 0
    done = local("datasets", "upload", str(big))
    assert (done.code, done.stderr) == (2, said)


@pytest.mark.parametrize("server", ["notaurl", "http://", "ftp://127.0.0.1:6080", "127.0.0.1:6080"])
def test_a_server_that_is_not_an_http_url_is_a_usage_error(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sp = make_spurline(monkeypatch, capsys, tmp_path, SPURLINE_URL=server)
    done = sp("runs", "list")
    assert (done.code, done.stdout) == (2, "")
    said = " ".join(done.stderr.replace("│", " ").split())
    assert f"'{server}' is not a server URL: give one like http://127.0.0.1:6080" in said
    assert not (tmp_path / ".spurline").exists()  # nothing was created locally either
