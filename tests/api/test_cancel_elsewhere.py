"""Cancel a run that executes in another process on the same store: that process
notices within ``control_poll_s`` and interrupts the node (issue 3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tests.conftest import LiveServer
from tests.flows import seconds_until_dead, sleeper_flow, wait_for_pid


def _store_env(server: LiveServer) -> dict[str, str]:
    env = {**os.environ, "SPURLINE_HOME": str(server.settings.home)}
    if server.settings.database_url:
        env["SPURLINE_DATABASE_URL"] = server.settings.database_url
    return env


def test_cancel_reaches_a_cli_run_in_another_process(
    client: httpx.Client, server: LiveServer, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    wf_file = tmp_path / "napper.json"
    wf_file.write_text(json.dumps(sleeper_flow(pid_file)))
    cli = Path(sys.executable).with_name("spurline")
    proc = subprocess.Popen(
        [str(cli), "run", str(wf_file)],
        env=_store_env(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        worker = wait_for_pid(pid_file)
        [run] = client.get("/run/", params={"status": "RUNNING"}).json()
        began = time.monotonic()
        r = client.post(f"/wf/cancel_workflow/{run['id']}/")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "CANCELED"
        gone = seconds_until_dead(worker)
        _, stderr = proc.communicate(timeout=30)
        exited = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"worker gone {gone:.3f} s after the cancel; CLI process exited after {exited:.3f} s")
    assert proc.returncode == 1
    assert f"run {run['id']} CANCELED: Canceled by request" in stderr
    assert "Traceback" not in stderr, stderr
    final = client.get(f"/run/{run['id']}/").json()
    assert final["status"] == "CANCELED"
    assert [t["status"] for t in final["tasks"]] == ["COMPLETED", "CANCELED", "CANCELED"]
