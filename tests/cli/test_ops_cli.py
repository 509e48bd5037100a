"""``spurline runs rerun`` and ``spurline schedules …`` (docs/operations.md)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli
from tests.ops._ops import ECHO

from spurline.cli._workflows import upsert_workflow
from spurline.settings import Settings
from spurline.store.db import Database


def test_rerun_with_changed_inputs(cli: Cli, tmp_path: Path) -> None:
    wf = tmp_path / "echo.json"
    wf.write_text(json.dumps({"name": "echo", "definition": ECHO}))
    first = cli("run", str(wf), "-i", "text=hi", "--json")
    assert first.returncode == 0, first.stderr
    run = json.loads(first.stdout)

    rerun = cli("runs", "rerun", run["id"], "--inputs", '{"in": {"text": "yo"}}', "--json")
    assert rerun.returncode == 0, rerun.stderr
    new = json.loads(rerun.stdout)
    assert (new["rerun_of"], new["outputs"]["in"]) == (run["id"], {"text": "yo"})
    assert f"(rerun of {run['id']}) COMPLETED" in rerun.stderr


def test_schedules_commands(cli: Cli, tmp_path: Path) -> None:
    db = Database(Settings(home=tmp_path).resolved_database_url())
    db.upgrade()
    wf = upsert_workflow(db, "echo", None, ECHO)
    db.close()
    made = cli(
        "schedules", "create", wf, "--name", "morning", "--cron", "0 7 * * *",
        "--tz", "Europe/Paris", "--inputs", '{"in": {"text": "bonjour"}}', "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    s = json.loads(made.stdout)
    assert (s["timezone"], s["enabled"], s["initial_inputs"]) == (
        "Europe/Paris",
        True,
        {"in": {"text": "bonjour"}},
    )
    table = cli("schedules", "list")
    assert "morning" in table.stdout and "0 7 * * * (Europe/Paris)" in table.stdout
    assert wf in table.stdout
    # in 80 columns the id stays whole and the name and schedule stay readable
    cli.env["COLUMNS"] = "80"
    narrow = cli("schedules", "list").stdout
    cli.env["COLUMNS"] = "200"
    assert max(len(line) for line in narrow.splitlines()) <= 80
    assert s["id"] in narrow and "morning" in narrow and "0 7 * * *" in narrow
    assert wf not in narrow  # left to `schedules show`
    off = json.loads(cli("schedules", "toggle", s["id"], "--json").stdout)
    assert (off["enabled"], off["next_run_at"]) == (False, None)
    assert cli("schedules", "delete", s["id"]).returncode == 0
    gone = cli("schedules", "show", s["id"])
    assert (gone.returncode, gone.stderr.strip()) == (2, f"error: no schedule {s['id']}")

    bad = cli("schedules", "create", wf, "--name", "b", "--cron", "61 * * * *", "--tz", "Mars/B")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "cron_expression '61 * * * *' is not valid" in bad.stderr
    assert "timezone 'Mars/B' is not a known IANA time zone" in bad.stderr


def test_datasets_list_keeps_one_line_per_dataset_in_80_columns(cli: Cli) -> None:
    from tests.conftest import REPO

    csv = str(REPO / "data" / "penguins.csv")
    assert cli("init").returncode == 0
    made = cli("datasets", "upload", csv, "--json")
    assert made.returncode == 0, made.stderr
    ds = json.loads(made.stdout)
    cli.env["COLUMNS"] = "80"
    narrow = cli("datasets", "list").stdout.splitlines()
    [row] = [line for line in narrow if ds["id"] in line]
    assert row.split("│")[2:5] == [" penguins ", " 344  ", " 8       "]
    cli.env["COLUMNS"] = "200"
    wide = cli("datasets", "list").stdout
    assert "species, island, bill_length_mm" in wide
