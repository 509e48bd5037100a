"""examples/penguins.json on real rows of data/penguins.csv, through the API and the CLI.

Expected outputs are computed here from the CSV row itself (unit conversion, the
species' typical mass as the mean of that species' rows, the size class), not
copied from the workflow.
"""

from __future__ import annotations

import csv
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "penguins.json"
MEASUREMENTS = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
SPECIES = ("Adelie", "Gentoo", "Chinstrap")

Row = dict[str, str]


def read_rows() -> list[Row]:
    """Every row of data/penguins.csv as the CSV's strings."""
    with (REPO / "data" / "penguins.csv").open(newline="") as f:
        return list(csv.DictReader(f))


ROWS = read_rows()


def typical_mass(species: str) -> tuple[int, int]:
    """(mean, sample standard deviation) of the species' body_mass_g, rounded to 1 g."""
    masses = [
        float(r["body_mass_g"])
        for r in ROWS
        if r["species"] == species and r["body_mass_g"] != "NA"
    ]
    return round(statistics.fmean(masses)), round(statistics.stdev(masses))


def _known(value: str) -> str | None:
    return None if value == "NA" else value


def expected(row: Row) -> dict[str, Any]:
    """The penguins example's output for a CSV row, computed independently."""
    mm = {f: None if row[f] == "NA" else float(row[f]) for f in MEASUREMENTS}
    missing = [f for f in MEASUREMENTS if mm[f] is None]

    def cm(field: str, digits: int) -> float | None:
        value = mm[field]
        return None if value is None else round(value / 10, digits)

    kg = None if mm["body_mass_g"] is None else round(mm["body_mass_g"] / 1000, 3)
    species, island, sex = _known(row["species"]), _known(row["island"]), _known(row["sex"])
    out: dict[str, Any] = {
        "species": species,
        "island": island,
        "sex": sex,
        "year": int(row["year"]),
        "bill_length_cm": cm("bill_length_mm", 2),
        "bill_depth_cm": cm("bill_depth_mm", 2),
        "flipper_length_cm": cm("flipper_length_mm", 1),
        "body_mass_kg": kg,
        "missing": missing,
    }
    if kg is None or species not in SPECIES:
        return out | {
            "route": "Unclassified",
            "size_class": None,
            "relative_mass": None,
            "typical_mass_kg": None,
            "summary": "not classified: measurements missing: " + ", ".join(missing),
        }
    mean, sd = typical_mass(species)
    grams = round(kg * 1000)
    z = (grams - mean) / sd
    size = "small" if z < -1 else "large" if z > 1 else "average"
    about = ", ".join(str(x) for x in (island, sex, int(row["year"])) if x is not None)
    article = "an" if species == "Adelie" else "a"
    summary = (
        f"{species} ({about}): {kg:g} kg, {size} for {article} {species} "
        f"(typical {mean / 1000:g} kg)"
    )
    if missing:
        summary += "; not measured: " + ", ".join(missing)
    return out | {
        "route": species,
        "size_class": size,
        "relative_mass": round(grams / mean, 3),
        "typical_mass_kg": mean / 1000,
        "summary": summary,
    }


def typed(row: Row) -> dict[str, Any]:
    """A CSV row as JSON values, as a batch run will send it: NA -> null, numbers typed."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value == "NA":
            out[key] = None
        elif key in (*MEASUREMENTS, "year"):
            out[key] = int(value) if value.isdigit() else float(value)
        else:
            out[key] = value
    return out


def _mass(row: Row) -> float:
    return float(row["body_mass_g"])


def sample_rows() -> list[Row]:
    """First, lightest and heaviest bird of each species, and every row with an NA."""
    picked: list[Row] = []
    for sp in SPECIES:
        rows = [r for r in ROWS if r["species"] == sp]
        weighed = [r for r in rows if r["body_mass_g"] != "NA"]
        picked += [rows[0], min(weighed, key=_mass), max(weighed, key=_mass)]
    picked += [r for r in ROWS if "NA" in r.values()]
    unique: list[Row] = []
    for r in picked:
        if r not in unique:
            unique.append(r)
    return unique


def test_the_sample_covers_every_route_and_size_class() -> None:
    results = [expected(r) for r in sample_rows()]
    assert {r["route"] for r in results} == {*SPECIES, "Unclassified"}
    assert {r["size_class"] for r in results} == {"small", "average", "large", None}
    assert sum("NA" in r.values() for r in sample_rows()) == 11


@pytest.fixture
def penguins_wf(make_workflow: Callable[..., str]) -> str:
    return make_workflow(orjson.loads(EXAMPLE.read_bytes())["definition"], name="penguins")


def test_real_records_through_the_blocking_api(client: httpx.Client, penguins_wf: str) -> None:
    for row in sample_rows():
        r = client.post(f"/wf/{penguins_wf}/run/", json={"initial_inputs": {"penguin": typed(row)}})
        assert r.status_code == 200, (row, r.text)
        assert r.json()["summary"] == expected(row), row


def test_csv_strings_with_na_through_the_api(client: httpx.Client, penguins_wf: str) -> None:
    # The CSV's own text, "NA" included, as a client that does not type values sends it.
    for row in (ROWS[0], ROWS[3], ROWS[8]):
        r = client.post(f"/wf/{penguins_wf}/run/", json={"initial_inputs": {"penguin": row}})
        assert r.status_code == 200, r.text
        assert r.json()["summary"] == expected(row)


def _wait(client: httpx.Client, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        run: dict[str, Any] = client.get(f"/run/{run_id}/").json()
        if run["status"] not in ("PENDING", "RUNNING") or time.monotonic() > deadline:
            return run
        time.sleep(0.02)


def test_a_record_with_na_takes_the_unclassified_path(
    client: httpx.Client, penguins_wf: str
) -> None:
    row = ROWS[3]  # Adelie,Torgersen,NA,NA,NA,NA,NA,2007
    assert row["body_mass_g"] == "NA"
    r = client.post(
        f"/wf/{penguins_wf}/start_run/", json={"initial_inputs": {"penguin": typed(row)}}
    )
    assert r.status_code == 200
    run = _wait(client, r.json()["id"])
    assert run["status"] == "COMPLETED"
    assert run["percentage_complete"] == 100
    tasks = {t["node_id"]: t for t in run["tasks"]}
    assert [t["node_id"] for t in run["tasks"]][:3] == ["penguin", "metric", "by_species"]
    for skipped in ("adelie", "gentoo", "chinstrap"):
        assert tasks[skipped]["status"] == "CANCELED"
        assert tasks[skipped]["error"] is None and tasks[skipped]["outputs"] is None
    assert tasks["unclassified"]["status"] == "COMPLETED"
    assert tasks["by_species"]["outputs"] == {"Unclassified": tasks["metric"]["outputs"]}
    assert run["outputs"]["summary"] == expected(row)
    assert expected(row)["summary"] == (
        "not classified: measurements missing: "
        "bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g"
    )


def test_an_unknown_species_is_unclassified_and_garbage_fails(
    client: httpx.Client, penguins_wf: str
) -> None:
    bird = typed(ROWS[0]) | {"species": "Emperor"}
    r = client.post(f"/wf/{penguins_wf}/run/", json={"initial_inputs": {"penguin": bird}})
    assert r.status_code == 200
    assert r.json()["summary"]["route"] == "Unclassified"
    assert r.json()["summary"]["summary"] == "not classified: unknown species 'Emperor'"

    bird = typed(ROWS[0]) | {"body_mass_g": "heavy"}
    r = client.post(f"/wf/{penguins_wf}/run/", json={"initial_inputs": {"penguin": bird}})
    assert r.status_code == 422
    assert r.json()["detail"]["message"] == (
        "Node 'metric' failed: ValueError: body_mass_g must be a number or NA, got 'heavy'"
    )


def _cli_args(row: Row) -> list[str]:
    return [
        "run",
        "examples/penguins.json",
        *(a for k, v in row.items() for a in ("-i", f"{k}={v}")),
    ]


def test_real_records_through_the_cli_are_visible_to_the_server(
    server_cli: Any, client: httpx.Client
) -> None:
    rows = [ROWS[0], ROWS[3], ROWS[178], next(r for r in ROWS if r["species"] == "Chinstrap")]
    assert ROWS[178]["species"] == "Gentoo" and ROWS[178]["sex"] == "NA"
    run_ids = []
    for row in rows:
        done = server_cli(*_cli_args(row))
        assert done.returncode == 0, done.stderr
        assert orjson.loads(done.stdout) == expected(row)
        found = re.search(r"run (R\w+) COMPLETED in [0-9.]+ s", done.stderr)
        assert found, done.stderr
        run_ids.append(found.group(1))

    listed = server_cli("runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [v["id"] for v in orjson.loads(listed.stdout)] == run_ids[::-1]  # newest first

    page = client.get("/run/", params={"page": 1, "page_size": 10})
    assert [v["id"] for v in page.json()] == run_ids[::-1]
    assert page.headers["X-Total-Count"] == "4"
    for run_id, row in zip(run_ids, rows, strict=True):
        run = client.get(f"/run/{run_id}/").json()
        assert run["status"] == "COMPLETED"
        assert run["workflow_version"]["name"] == "penguins"
        assert run["outputs"]["summary"] == expected(row)
    workflows = client.get("/wf/").json()
    assert [w["name"] for w in workflows] == ["penguins"]  # one workflow, reused by every run
