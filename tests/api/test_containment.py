"""User code contained (docs/security.md §5), at the HTTP level on every deployment:
each hostile PythonFuncNode fails its own task with an error naming what it broke,
while 20 unrelated runs started beside them all complete."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy.engine import make_url
from tests.conftest import LiveServer

BENIGN_RUNS = 20


def hostile_cases(server: LiveServer) -> dict[str, tuple[str, str]]:
    """``{name: (code, what the task's error must say)}``."""
    me = os.getpid()  # the server (and, for Celery, the worker host) runs in this process
    url = server.settings.resolved_database_url()
    if url.startswith("sqlite"):
        store = f"open({make_url(url).database!r}, 'rb').read(16)"
        store_error = "opening the store"
    else:
        parsed = make_url(url)
        store = (
            "import socket\n"
            f"socket.create_connection(({parsed.host!r}, {parsed.port or 5432}), timeout=5)"
        )
        store_error = "connecting to the store"
    return {
        "allocate 30 GB": (
            "b = bytearray(30 * 2**30)",
            "MemoryError: the code went over its memory limit of 512 MB "
            "(SPURLINE_PYTHON_MEMORY_MB)",
        ),
        "fork 500": (
            "import os, time\n"
            "for _ in range(500):\n"
            "    if os.fork() == 0:\n"
            "        time.sleep(30)\n"
            "        os._exit(0)",
            "process limit: the code may start at most 8 processes (SPURLINE_PYTHON_MAX_PROCESSES)",
        ),
        "print 200 MB": (
            "line = 'x' * (2 << 20)\nfor _ in range(100):\n    print(line)",
            "print limit: the code printed more than 128 MB (SPURLINE_PYTHON_MAX_PRINT_MB)",
        ),
        "kill parent": ("import os\nos.kill(os.getppid(), 9)", "signalling process"),
        "kill server": (f"import os\nos.kill({me}, 9)", f"signalling process {me} is refused"),
        "kill group": ("import os\nos.killpg(os.getpgrp(), 9)", "signalling a process group"),
        "server environ": (
            f"open('/proc/{me}/environ').read()",
            f"reading another process's /proc/{me}/environ is refused",
        ),
        "open the store": (store, store_error),
        "start a program": (
            "import subprocess\nsubprocess.run(['kill', '-9', str(__import__('os').getppid())])",
            "starting a program is refused",
        ),
        "open 1000 files": (
            "fs = [open('/dev/null') for _ in range(1000)]",
            "open files limit: the code may hold at most 64 open files "
            "(SPURLINE_PYTHON_MAX_OPEN_FILES)",
        ),
        "return 20 MB": (
            "return {'x': 'y' * (20 << 20)}",
            "output limit: the code returned 20.0 MB, more than 16 MB "
            "(SPURLINE_PYTHON_MAX_OUTPUT_MB)",
        ),
    }


def one_node(code: str) -> dict[str, Any]:
    body = code if "return" in code else code + "\nreturn {'done': True}"
    return {
        "nodes": [
            {
                "id": "in",
                "title": "In",
                "node_type": "InputNode",
                "config": {"output_schema": {"n": "int"}},
            },
            {"id": "code", "node_type": "PythonFuncNode", "config": {"code": body}},
        ],
        "links": [{"source_id": "in", "target_id": "code"}],
    }


ENVIRON = one_node(
    "import os\nraw = open('/proc/self/environ', 'rb').read().replace(b'\\0', b'')\n"
    "return {'env': dict(os.environ), 'raw': raw.decode(errors='replace')}"
)
BENIGN = one_node("return {'n': input_model.In.n * 2}")


def test_hostile_code_fails_alone(
    server: LiveServer, client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    cases = hostile_cases(server)
    hostile = {name: make_workflow(one_node(code), name) for name, (code, _) in cases.items()}
    benign = make_workflow(BENIGN, "benign")
    environ = make_workflow(ENVIRON, "environ")

    def run(wf_id: str, n: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=120) as c:
            return c.post(f"/wf/{wf_id}/run/", json={"initial_inputs": {"in": {"n": n}}})

    jobs = [(name, wf) for name, wf in hostile.items()] + [("environ", environ)]
    jobs += [(f"benign {i}", benign) for i in range(BENIGN_RUNS)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = dict(
            zip(
                [name for name, _ in jobs],
                pool.map(
                    lambda job: run(job[1], int(job[0].split()[-1]) if "benign" in job[0] else 0),
                    jobs,
                ),
                strict=True,
            )
        )
    for i in range(BENIGN_RUNS):
        r = answers[f"benign {i}"]
        assert r.status_code == 200, r.text
        assert r.json()["code"] == {"n": 2 * i}
    for name, (_, expected) in cases.items():
        r = answers[name]
        assert r.status_code == 422, (name, r.text)
        run_view = r.json()["detail"]["run"]
        task = next(t for t in run_view["tasks"] if t["node_id"] == "code")
        assert task["status"] == "FAILED", name
        assert expected in task["error"], (name, task["error"])
    env_answer = answers["environ"]
    assert env_answer.status_code == 200, env_answer.text
    seen = env_answer.json()["code"]
    assert not [k for k in seen["env"] if k.startswith("SPURLINE_")]
    text = str(seen)
    for probe in ("postgresql", "redis://", "SPURLINE_"):
        assert probe not in text, probe
    assert seen["env"].get("PATH")  # the harmless ones stay
    assert client.get("/health").json()["status"] == "ok"
