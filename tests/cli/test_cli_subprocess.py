"""The real ``spurline`` script in a subprocess: Ctrl-C cancels a run, the client path
imports nothing of the server, the store is found (or missed) the same way from any
folder, a missing extra is named, ``--version`` and shell completion."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.conftest import REPO, LiveServer
from tests.flows import seconds_until_dead, sleeper_flow, wait_for_pid

from spurline import __version__

SPURLINE = str(Path(sys.executable).with_name("spurline"))


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any SPURLINE_ variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPURLINE_")}
    return {**env, "COLUMNS": "200", **extra}


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spurline(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SPURLINE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("where", ["local store", "server"])
def test_ctrl_c_cancels_the_run_and_says_so(
    server: LiveServer, client: httpx.Client, tmp_path: Path, where: str
) -> None:
    pid_file = tmp_path / "pid"
    flow = tmp_path / "napper.json"
    flow.write_text(json.dumps({"name": "napper", "definition": sleeper_flow(pid_file)}))
    # The local store is the server's, so the test watches the run the CLI executes.
    env = clean_env(SPURLINE_HOME=str(server.settings.home))
    target = ["--server", server.url] if where == "server" else []
    proc = subprocess.Popen(
        [SPURLINE, *target, "run", str(flow)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a suite started in the background by a non-interactive
        # shell inherits SIGINT ignored, and so would the command
        preexec_fn=_sigint_default,
    )
    try:
        worker = wait_for_pid(pid_file)
        [run] = client.get("/run/", params={"status": "RUNNING"}).json()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert stdout == ""
    assert stderr.startswith(f"interrupted: run {run['id']} CANCELED (Canceled by "), stderr
    assert "Traceback" not in stderr
    final = client.get(f"/run/{run['id']}/").json()
    assert final["status"] == "CANCELED"
    assert [t["status"] for t in final["tasks"]] == ["COMPLETED", "CANCELED", "CANCELED"]
    seconds_until_dead(worker)  # the node's process was stopped too


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_client_path_imports_nothing_of_the_server(server: LiveServer, tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from spurline.cli.main import main\n"
        f"sys.argv = ['spurline', '--server', {server.url!r}, 'runs', 'list', '--json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = {'fastapi', 'starlette', 'sqlalchemy', 'alembic', 'celery', 'uvicorn', "
        "'pydantic', 'pydantic_settings'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(done.stdout) == []
    assert done.stderr.strip() == "[]"


def test_the_store_is_found_from_subfolders_and_never_made_by_a_read(tmp_path: Path) -> None:
    project = tmp_path / "project"
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    missing = spurline("runs", "list", cwd=deep, env=clean_env())
    assert missing.returncode == 2
    assert missing.stderr == (
        f"error: no Spurline store at {deep / '.spurline' / 'spurline.db'} (looked for "
        f".spurline/ in {deep} and its parents); create one here with 'spurline init', set "
        "SPURLINE_HOME or SPURLINE_DATABASE_URL, or pass --server URL\n"
    )
    assert not (deep / ".spurline").exists()
    # nor by a run: the store of whatever folder it runs in is not one it may create
    hello = str(REPO / "examples" / "hello.json")
    ran = spurline("run", hello, "-i", "name=Ada", cwd=deep, env=clean_env())
    assert (ran.returncode, ran.stdout) == (2, "")
    assert ran.stderr == missing.stderr
    assert not (deep / ".spurline").exists()
    assert spurline("db", "upgrade", cwd=project, env=clean_env()).returncode == 0
    found = spurline("workflows", "list", "--json", cwd=deep, env=clean_env())
    assert (found.returncode, json.loads(found.stdout)) == (0, [])
    assert not (deep / ".spurline").exists()


@pytest.mark.parametrize(
    ("blocked", "args", "env", "extra"),
    [
        (
            "psycopg",
            ["runs", "list"],
            {"SPURLINE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none"},
            "postgres",
        ),
        ("celery", ["worker"], {"SPURLINE_EXECUTOR": "celery"}, "celery"),
    ],
)
def test_a_missing_extra_is_named_in_one_line(
    tmp_path: Path, blocked: str, args: list[str], env: dict[str, str], extra: str
) -> None:
    # As if the extra were not installed: importing the module fails as it would then.
    (tmp_path / "sitecustomize.py").write_text(f"import sys\nsys.modules[{blocked!r}] = None\n")
    environment = clean_env(PYTHONPATH=str(tmp_path), SPURLINE_HOME=str(tmp_path), **env)
    done = spurline(*args, cwd=tmp_path, env=environment)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"error: {blocked} is not installed, and these settings need it: "
        f"pip install 'spurline[{extra}]'"
    )
    assert "Traceback" not in done.stderr


def test_version_and_shell_completion(tmp_path: Path) -> None:
    done = spurline("--version", cwd=tmp_path, env=clean_env())
    assert (done.returncode, done.stdout) == (0, f"spurline {__version__}\n")
    script = spurline("--show-completion", "bash", cwd=tmp_path, env=clean_env())
    assert script.returncode == 0, script.stderr
    assert "_SPURLINE_COMPLETE=complete_bash" in script.stdout


@pytest.mark.parametrize(
    ("env", "said"),
    [
        (
            {"SPURLINE_LEASE_S": "abc"},
            "error: a setting is not valid: SPURLINE_LEASE_S: Input should be a valid number, "
            "unable to parse string as a number",
        ),
        (
            {"SPURLINE_DATABASE_URL": "notaurl"},
            "error: SPURLINE_DATABASE_URL is not a database URL (e.g. "
            "postgresql+psycopg://user:password@host:5432/db, or sqlite:///path/spurline.db)",
        ),
    ],
)
def test_a_setting_that_does_not_parse_is_named(
    tmp_path: Path, env: dict[str, str], said: str
) -> None:
    done = spurline("runs", "list", cwd=tmp_path, env=clean_env(**env))
    assert (done.returncode, done.stderr.strip()) == (2, said)


def test_db_check_without_a_store_says_there_is_none(tmp_path: Path) -> None:
    done = spurline("db", "check", cwd=tmp_path, env=clean_env())
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: no Spurline store at {tmp_path.resolve()}/.spurline/spurline.db (looked for "
        f".spurline/ in {tmp_path.resolve()} and its parents); create one here with "
        "'spurline init', set SPURLINE_HOME or SPURLINE_DATABASE_URL"
    )
    assert not (tmp_path / ".spurline").exists()
