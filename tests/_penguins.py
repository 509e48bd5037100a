"""The penguins batch scenario shared by the API and CLI tests (SPEC §6, issue 4):
``examples/penguins.json`` over every row of ``data/penguins.csv``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "penguins.json"
CSV = REPO / "data" / "penguins.csv"
PENGUINS: dict[str, Any] = json.loads(EXAMPLE.read_text())["definition"]


def penguins_csv() -> Path:
    """The dataset: 344 rows, some with "NA" cells."""
    return CSV


def csv_rows() -> list[dict[str, str]]:
    """Every row of the dataset as the CSV's strings."""
    with CSV.open(newline="") as f:
        return list(csv.DictReader(f))


def check_row(row: dict[str, str], inputs: dict[str, Any], out: dict[str, Any]) -> None:
    """Assert what the example makes of one row: NA cells arrive as null, a bird with no
    body mass is "Unclassified", the others are routed by species with mass in kg."""
    assert inputs["species"] == row["species"]
    assert inputs["year"] == int(row["year"])
    assert out["species"] == row["species"]
    assert out["sex"] == (None if row["sex"] == "NA" else row["sex"])
    assert (inputs["sex"] is None) == (row["sex"] == "NA")
    if row["body_mass_g"] == "NA":
        assert inputs["body_mass_g"] is None
        assert (out["body_mass_kg"], out["route"]) == (None, "Unclassified")
        assert "body_mass_g" in out["missing"]
    else:
        assert out["body_mass_kg"] == round(float(row["body_mass_g"]) / 1000, 3)
        assert out["route"] == row["species"]
