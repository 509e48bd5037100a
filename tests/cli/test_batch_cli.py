"""``spurline run WORKFLOW --dataset FILE`` and ``spurline runs children``, as subprocesses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests._penguins import EXAMPLE, PENGUINS, check_row, csv_rows, penguins_csv

SPURLINE = str(Path(sys.executable).with_name("spurline"))


def spurline(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SPURLINE_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [SPURLINE, *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_penguins_batch_from_the_cli(tmp_path: Path) -> None:
    results = tmp_path / "out.jsonl"
    done = spurline(
        tmp_path / "home",
        "run",
        str(EXAMPLE),
        "--dataset",
        str(penguins_csv()),
        "--concurrency",
        "6",
        "--output",
        str(results),
    )
    assert done.returncode == 0, done.stderr
    summary = re.search(r"batch (R\w+) COMPLETED: 344 rows, 344 completed, 0 failed", done.stdout)
    assert summary, done.stdout
    assert f"results: {results}" in done.stdout
    assert "344/344" in done.stderr  # the progress bar reached the end

    lines = [json.loads(x) for x in results.read_text().splitlines()]
    assert [x["row"] for x in lines] == list(range(344))
    assert {x["status"] for x in lines} == {"COMPLETED"}
    for row, line in zip(csv_rows(), lines, strict=True):
        inputs = {k: None if v == "NA" else v for k, v in row.items()}
        inputs["year"] = int(row["year"])
        check_row(row, inputs, line["outputs"])

    listed = spurline(tmp_path / "home", "runs", "children", summary.group(1))
    assert listed.returncode == 0, listed.stderr
    assert f"children of {summary.group(1)} (344)" in listed.stdout
    assert listed.stdout.count("COMPLETED") == 344
    assert lines[343]["run_id"] in listed.stdout
    as_json = spurline(tmp_path / "home", "runs", "children", summary.group(1), "--json")
    assert [c["id"] for c in json.loads(as_json.stdout)] == [x["run_id"] for x in lines]


def test_bad_dataset_and_missing_column_exit_2(tmp_path: Path) -> None:
    workflow = tmp_path / "penguins.json"
    workflow.write_text(json.dumps(PENGUINS))
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("species,island\nAdelie\n")
    done = spurline(tmp_path / "home", "run", str(workflow), "--dataset", str(ragged))
    assert done.returncode == 2
    assert "row 1 (line 2) has 1 fields, the header has 2" in done.stderr
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("species\nAdelie\n")
    done = spurline(tmp_path / "home", "run", str(workflow), "--dataset", str(narrow))
    assert done.returncode == 2
    assert (
        "no column for the InputNode field(s) 'bill_depth_mm', 'bill_length_mm', "
        "'body_mass_g', 'flipper_length_mm', 'island', 'sex', 'year'"
    ) in done.stderr
    assert spurline(tmp_path / "home", "runs", "children", "Rnope").returncode == 2
