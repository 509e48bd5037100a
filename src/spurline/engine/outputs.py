"""What a workflow outputs, read from its definition (see docs/pyspur.md)."""

from __future__ import annotations

from typing import Any


def leaf_variables(definition: dict[str, Any]) -> list[dict[str, str]]:
    """``[{node_id, variable_name, prefixed_variable}]`` for each field of each leaf node
    (a node no link leaves), in node order: the keys of ``config.output_schema``, or of
    ``config.output_map`` for an OutputNode without one."""
    sources = {link.get("source_id") for link in definition.get("links") or []}
    out: list[dict[str, str]] = []
    for node in definition.get("nodes") or []:
        nid = node.get("id")
        if not isinstance(nid, str) or nid in sources:
            continue
        config = node.get("config") or {}
        fields = config.get("output_schema") or config.get("output_map") or {}
        if not isinstance(fields, dict):
            continue
        for name in fields:
            out.append(
                {"node_id": nid, "variable_name": name, "prefixed_variable": f"{nid}-{name}"}
            )
    return out
