"""``spurline webhooks``: create (secret from a file or the environment, never
printed), list, deliveries, delete; invalid webhooks are one error listing every
problem, exit status 2."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from tests.conftest import Cli


def test_webhooks_from_the_command_line(cli: Cli, tmp_path: Path) -> None:
    assert cli("db", "upgrade").returncode == 0  # the commands never create a store
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    (tmp_path / "secret.txt").write_text(secret + "\n")
    made = cli(
        "webhooks",
        "create",
        "https://hooks.example.com/x",
        "--secret-file",
        str(tmp_path / "secret.txt"),
        "--event",
        "failed",
        "--event",
        "PAUSED",
        "--json",
    )
    assert made.returncode == 0, made.stderr
    hook = json.loads(made.stdout)
    assert hook["events"] == ["FAILED", "PAUSED"]
    assert secret not in made.stdout + made.stderr
    listed = cli("webhooks", "list", "--json")
    assert [h["id"] for h in json.loads(listed.stdout)] == [hook["id"]]
    assert secret not in listed.stdout
    log = cli("webhooks", "deliveries", hook["id"], "--json")
    assert log.returncode == 0 and json.loads(log.stdout) == []

    bad = cli(
        "webhooks", "create", "ftp://x", "--event", "RUNNING", stdin="whsec_short", timeout=60
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: give the signing secret")
    cli.env["SPURLINE_WEBHOOK_SECRET"] = "whsec_short"
    bad = cli("webhooks", "create", "ftp://x", "--event", "RUNNING")
    assert bad.returncode == 2
    lines = bad.stderr.splitlines()
    assert lines[0] == "error: the webhook is not valid"
    # The API's 422, field by field: the request model's checks come first ...
    assert [line.rsplit("(at ", 1)[1] for line in lines[1:]] == ["url)", "events.0)"]
    # ... the secret's format is the service's
    bad = cli("webhooks", "create", "https://hooks.example.com/y")
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[1].endswith("(at secret)")
    assert "whsec_short" not in bad.stderr

    gone = cli("webhooks", "delete", hook["id"])
    assert gone.returncode == 0
    assert cli("webhooks", "delete", hook["id"]).returncode == 2
