"""What PySpur's frontend does with the node catalogue and the workflows it saves,
rewritten in Python so the contract tests send the same bodies the UI sends."""

from __future__ import annotations

import re
from typing import Any

#: A datetime as PySpur writes it: naive UTC, no offset (the UI appends "Z").
NAIVE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?$")

#: JSON Schema keywords the UI strips from a config built from the catalogue.
_KEYWORDS = {
    "$defs",
    "properties",
    "anyOf",
    "oneOf",
    "allOf",
    "items",
    "additionalProperties",
    "$ref",
    "required",
    "description",
}


def dropped_config(entry: dict[str, Any], title: str) -> dict[str, Any]:
    """The config of a node freshly dropped on the canvas: the schema's top-level keys
    that are no JSON Schema keyword (``title``, ``type``), every property's default
    (null without one), and the node's title."""
    schema = entry["config"]
    config = {k: v for k, v in schema.items() if k not in _KEYWORDS}
    for name, prop in schema.get("properties", {}).items():
        config[name] = prop.get("default")
    config["title"] = title
    return config


def saved_node(
    entry: dict[str, Any], node_id: str, x: float, y: float, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A node as the editor's autosave sends it (``dimensions`` left out)."""
    return {
        "id": node_id,
        "title": node_id,
        "node_type": entry["name"],
        "config": config if config is not None else dropped_config(entry, node_id),
        "coordinates": {"x": x, "y": y},
        "parent_id": None,
    }


def find_entry(catalogue: dict[str, list[dict[str, Any]]], name: str) -> dict[str, Any]:
    """The catalogue entry of node type ``name``."""
    return next(e for group in catalogue.values() for e in group if e["name"] == name)


def naive_datetimes(value: Any, path: str = "") -> list[str]:
    """Paths of every datetime-looking string in ``value`` that is not naive UTC."""
    bad: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            bad += naive_datetimes(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            bad += naive_datetimes(v, f"{path}[{i}]")
    elif (
        isinstance(value, str) and re.match(r"^\d{4}-\d\d-\d\dT", value) and not NAIVE.match(value)
    ):
        bad.append(f"{path}={value}")
    return bad


def assert_pyspur_definition(definition: dict[str, Any]) -> None:
    """The keys the editor reads from a definition are all there."""
    assert isinstance(definition["test_inputs"], list)
    assert definition["spur_type"] in ("workflow", "chatbot", "agent")
    for node in definition["nodes"]:
        assert set(node) >= {
            "id",
            "title",
            "node_type",
            "config",
            "coordinates",
            "parent_id",
            "dimensions",
            "subworkflow",
        }
        assert set(node["coordinates"]) >= {"x", "y"}
    for link in definition["links"]:
        assert set(link) >= {"source_id", "target_id", "source_handle", "target_handle"}
