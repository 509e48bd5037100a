"""The penguins batch scenario shared by the API and CLI tests (SPEC §6, issue 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PENGUINS_CSV = Path("/work/shared/datasets/penguins.csv")
REPO = Path(__file__).resolve().parents[1]


def penguins_csv() -> Path:
    """The repository's copy of the dataset when present, else the shared one."""
    local = REPO / "data" / "penguins.csv"
    return local if local.is_file() else PENGUINS_CSV


# A penguins workflow of this test's own: kg from g, "Unclassified" when a mass is missing.
PENGUINS: dict[str, Any] = {
    "nodes": [
        {
            "id": "penguin",
            "title": "Penguin",
            "node_type": "InputNode",
            "config": {
                "output_schema": {
                    "species": "str",
                    "island": "str",
                    "body_mass_g": "float",
                    "year": "int",
                }
            },
        },
        {
            "id": "metric",
            "title": "Metric",
            "node_type": "PythonFuncNode",
            "config": {
                "code": (
                    "p = input_model.Penguin\n"
                    "kg = None if p.body_mass_g is None else round(p.body_mass_g / 1000, 3)\n"
                    "return {'species': p.species, 'body_mass_kg': kg, 'year': p.year,\n"
                    "        'route': 'Unclassified' if kg is None else p.species}"
                )
            },
        },
        {"id": "summary", "title": "Summary", "node_type": "OutputNode", "config": {}},
    ],
    "links": [
        {"source_id": "penguin", "target_id": "metric"},
        {"source_id": "metric", "target_id": "summary"},
    ],
}
