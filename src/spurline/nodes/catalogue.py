"""The node catalogue: every node type (plugins included) described from its own
config model, in PySpur's ``GET /node/supported_types/`` shape, and the node-type
reference docs/nodes.md rendered from the same data (see docs/nodes.md).

Regenerate the reference with ``python -m spurline.nodes.catalogue > docs/nodes.md``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from spurline.nodes.base import BaseNode
from spurline.nodes.registry import node_types

#: Pastel colours for visual tags; a node type always gets the same one.
_COLOURS = (
    "#FFB3BA", "#FFDFBA", "#FFFFBA", "#BAFFC9", "#BAE1FF", "#E0BBE4", "#FFDAC1",
    "#B5EAD7", "#C7CEEA", "#F3B0C3", "#C6DBDA", "#FEE1E8", "#FED7C3", "#F6EAC2",
)  # fmt: skip

#: Categories in the order PySpur's node panel shows them; others follow by name.
_ORDER = ("Input/Output", "AI", "Code Execution", "Logic", "Loops", "Workflow")


def config_schema(cls: type[BaseNode]) -> dict[str, Any]:
    """The JSON Schema of ``cls.config_model``, titled with the display name.

    Fields built by a factory get their default written out, because PySpur's UI
    fills a newly dropped node's config from the schema's defaults.
    """
    model = cls.config_model
    schema = model.model_json_schema()
    schema["title"] = display_name(cls)
    props = schema.get("properties", {})
    for name, info in model.model_fields.items():
        if info.default is PydanticUndefined and info.default_factory is not None:
            default = info.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                default = default.model_dump(mode="json")
            props.setdefault(name, {})["default"] = default
    return schema


def display_name(cls: type[BaseNode]) -> str:
    """The catalogue name: ``cls.display_name`` or the node type without ``Node``."""
    if cls.display_name:
        return cls.display_name
    name = cls.node_type.removesuffix("Node")
    return "".join(f" {c}" if c.isupper() and i else c for i, c in enumerate(name)).strip()


def visual_tag(cls: type[BaseNode]) -> dict[str, str]:
    """``{acronym, color}``: capitals of the type name, a colour fixed by its hash."""
    acronym = "".join(c for c in cls.node_type.removesuffix("Node") if c.isupper()) or "N"
    digest = hashlib.sha256(cls.node_type.encode()).digest()
    return {"acronym": acronym, "color": _COLOURS[digest[0] % len(_COLOURS)]}


def _io_schema(cls: type[BaseNode], kind: str) -> dict[str, Any]:
    return {"title": f"{cls.node_type}{kind}", "type": "object", "properties": {}}


def describe(cls: type[BaseNode]) -> dict[str, Any]:
    """One catalogue entry: ``{name, input, output, config, visual_tag, has_fixed_output,
    category}`` (+ ``model_constraints`` for LLM nodes)."""
    entry: dict[str, Any] = {
        "name": cls.node_type,
        "input": _io_schema(cls, "Input"),
        "output": _io_schema(cls, "Output"),
        "config": config_schema(cls),
        "visual_tag": visual_tag(cls),
        "has_fixed_output": False,
        "category": cls.category,
    }
    if "llm_info" in cls.config_model.model_fields:
        from spurline.nodes.llm._models import model_constraints

        entry["model_constraints"] = model_constraints()
    return entry


def catalogue() -> dict[str, list[dict[str, Any]]]:
    """Every known node type grouped by category (PySpur's ``supported_types`` shape)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for cls in node_types().values():
        groups.setdefault(cls.category, []).append(describe(cls))
    rank = {c: i for i, c in enumerate(_ORDER)}
    return dict(sorted(groups.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def render_markdown() -> str:
    """docs/nodes.md: one section per built-in node type with its config fields."""
    from spurline.nodes.registry import builtin_node_types

    lines = [
        "# Node types",
        "",
        "Generated from each node type's config model by",
        "`python -m spurline.nodes.catalogue > docs/nodes.md`; a test fails when it is",
        "out of date. `GET /node/supported_types/` serves the same data (plugins included).",
        "",
        "Every config also accepts the keys PySpur's UI writes (`title`, `type`,",
        "`output_schema`, `output_json_schema`, `has_fixed_output`, `description`);",
        "any other unknown key is a 422 naming it.",
        "",
    ]
    for cls in sorted(builtin_node_types().values(), key=lambda c: (c.category, c.node_type)):
        lines += _markdown_section(cls)
    return "\n".join(lines).rstrip() + "\n"


def _markdown_section(cls: type[BaseNode]) -> list[str]:
    doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
    lines = [f"## {cls.node_type}", "", f"{doc} Category: {cls.category}.", ""]
    lines += ["| config key | type | default | meaning |", "|---|---|---|---|"]
    schema = config_schema(cls)
    for name, prop in schema.get("properties", {}).items():
        default = json.dumps(prop["default"]) if "default" in prop else "required"
        meaning = prop.get("description", "").replace("|", "\\|")
        lines.append(f"| `{name}` | {_type_name(prop)} | `{default}` | {meaning} |")
    if cls.pyspur_keys:
        accepted = ", ".join(f"`{k}`" for k in sorted(cls.pyspur_keys))
        lines += ["", f"Also accepted (PySpur keys Spurline ignores): {accepted}."]
    return [*lines, ""]


def _type_name(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return "object (" + str(prop["$ref"]).rsplit("/", 1)[-1] + ")"
    if "anyOf" in prop:
        return " or ".join(_type_name(p) for p in prop["anyOf"])
    kind = str(prop.get("type", "any"))
    if kind == "array" and "items" in prop:
        return f"list of {_type_name(prop['items'])}"
    return kind


if __name__ == "__main__":
    print(render_markdown(), end="")
