"""Workflow definitions and polling helpers shared by the pause, cancel, retry and
crash-recovery tests. Nodes that matter append one line per execution to a log
file, so tests count how often each node really ran.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

FINAL = ("COMPLETED", "FAILED", "CANCELED")


def node(nid: str, node_type: str, **config: Any) -> dict[str, Any]:
    """A definition node whose title is its id capitalised."""
    return {"id": nid, "title": nid.capitalize(), "node_type": node_type, "config": config}


def links(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    """Links from (source, target) pairs."""
    return [{"source_id": s, "target_id": t} for s, t in pairs]


def logging_code(log: Path, name: str, body: str = "return {'ok': True}") -> str:
    """PythonFuncNode code that appends ``name`` to ``log`` and then runs ``body``."""
    return f"with open({str(log)!r}, 'a') as f:\n    f.write({name!r} + '\\n')\n{body}"


def human(nid: str, message: str, block_only_dependent_nodes: bool = True) -> dict[str, Any]:
    """A HumanInterventionNode."""
    return node(
        nid,
        "HumanInterventionNode",
        message=message,
        block_only_dependent_nodes=block_only_dependent_nodes,
    )


def review_flow(log: Path) -> dict[str, Any]:
    """in -> review (pause) -> after (logs, returns what it saw) -> out."""
    return {
        "nodes": [
            node("in", "InputNode", output_schema={"text": "str"}),
            human("review", "Check the text"),
            node(
                "after",
                "PythonFuncNode",
                code=logging_code(log, "after", "return {'seen': input_model.Review.model_dump()}"),
            ),
            node("out", "OutputNode"),
        ],
        "links": links(("in", "review"), ("review", "after"), ("after", "out")),
    }


def lines(log: Path) -> Counter[str]:
    """How many times each name was appended to ``log``."""
    if not log.exists():
        return Counter()
    return Counter(log.read_text().split())


def wait_status(
    client: httpx.Client, run_id: str, statuses: tuple[str, ...], timeout: float = 60
) -> dict[str, Any]:
    """Poll ``GET /run/{id}/`` until its status is one of ``statuses``; return the run."""
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = client.get(f"/run/{run_id}/").json()
        if run["status"] in statuses:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run['status']} after {timeout} s")
        time.sleep(0.02)


def start(client: httpx.Client, wf: str, inputs: dict[str, Any] | None = None) -> str:
    """Start a run in the background; return its id."""
    r = client.post(f"/wf/{wf}/start_run/", json={"initial_inputs": inputs or {}})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def tasks_by_node(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A run's tasks keyed by node id."""
    return {t["node_id"]: t for t in run["tasks"]}


def sleeper_code(pid_file: Path, seconds: float = 60) -> str:
    """PythonFuncNode code that writes its process id to ``pid_file`` and sleeps."""
    return (
        f"import os, time\nwith open({str(pid_file)!r}, 'w') as f:\n    f.write(str(os.getpid()))\n"
        f"time.sleep({seconds})\nreturn {{'slept': True}}"
    )


def sleeper_flow(pid_file: Path, seconds: float = 60) -> dict[str, Any]:
    """in -> nap (sleeps in a worker process) -> out."""
    return {
        "nodes": [
            node("in", "InputNode"),
            node("nap", "PythonFuncNode", code=sleeper_code(pid_file, seconds)),
            node("out", "OutputNode"),
        ],
        "links": links(("in", "nap"), ("nap", "out")),
    }


def wait_for_pid(pid_file: Path, timeout: float = 60) -> int:
    """The process id a sleeper node wrote, once it is there."""
    deadline = time.monotonic() + timeout
    while True:
        text = pid_file.read_text() if pid_file.exists() else ""
        if text.strip():
            return int(text)
        if time.monotonic() > deadline:
            raise AssertionError(f"no pid in {pid_file} after {timeout} s")
        time.sleep(0.02)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone, or reaped while being read
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def seconds_until_dead(pid: int, timeout: float = 30) -> float:
    """Seconds until ``pid`` is gone; AssertionError when it outlives ``timeout``."""
    began = time.monotonic()
    while process_alive(pid):
        if time.monotonic() - began > timeout:
            raise AssertionError(f"process {pid} still alive after {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - began


def logger(log: Path, nid: str) -> dict[str, Any]:
    """A PythonFuncNode that appends its id to ``log`` and returns ``{'ok': True}``."""
    return node(nid, "PythonFuncNode", code=logging_code(log, nid))


def approve_and_finish(client: httpx.Client, run_id: str) -> dict[str, Any]:
    """APPROVE the run's one paused node, then wait for the run to end; returns it."""
    body = {"inputs": {}, "user_id": "ann", "action": "APPROVE"}
    r = client.post(f"/wf/process_pause_action/{run_id}/", json=body)
    assert r.status_code == 200, r.text
    return wait_status(client, run_id, (*FINAL, "PAUSED"))
