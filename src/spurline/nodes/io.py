"""InputNode, OutputNode and StaticValueNode (docs/runs-api.md#workflow-definitions)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from spurline.engine.jsonvalue import resolve_path
from spurline.nodes.base import BaseNode, NodeConfig, NodeContext

#: output_schema type names (PySpur writes both spellings) -> accepted Python types.
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "string": (str,),
    "int": (int,),
    "integer": (int,),
    "float": (int, float),
    "number": (int, float),
    "bool": (bool,),
    "boolean": (bool,),
    "list": (list,),
    "array": (list,),
    "dict": (dict,),
    "object": (dict,),
    "any": (object,),
}


def type_matches(value: Any, type_name: str) -> bool:
    """Whether ``value`` fits ``type_name`` (bools are not numbers; null fits nothing)."""
    if value is None:
        return False
    accepted = FIELD_TYPES.get(type_name, (object,))
    if isinstance(value, bool) and bool not in accepted and object not in accepted:
        return False
    return isinstance(value, accepted)


class InputConfig(NodeConfig):
    """``output_schema``: field -> type name; ``enforce_schema``: check at run start."""

    output_schema: dict[str, str] = Field(default_factory=dict)
    enforce_schema: bool = False


class InputNode(BaseNode):
    """Outputs the run's ``initial_inputs[its id]``."""

    node_type = "InputNode"
    category = "Input/Output"
    config_model = InputConfig
    config: InputConfig
    # PySpur 0.1.18's start_batch_run matches dataset columns against input_schema, so
    # PySpur clients (the shared runs benchmark among them) write it beside output_schema.
    pyspur_keys: ClassVar[frozenset[str]] = frozenset({"input_schema"})

    @classmethod
    def check(cls, node: Any, config: Any, definition: Any) -> list[str]:
        return [
            f"output_schema field {name!r} has unknown type {t!r} "
            f"(known: {', '.join(sorted(FIELD_TYPES))})"
            for name, t in config.output_schema.items()
            if t not in FIELD_TYPES
        ]

    def input_problems(self, values: Any) -> list[str]:
        """Problems with this node's initial inputs when ``enforce_schema`` is on."""
        if not isinstance(values, dict):
            return [f"initial_inputs[{self.id!r}] must be an object"]
        if not self.config.enforce_schema:
            return []
        problems = []
        for name, t in self.config.output_schema.items():
            if name not in values:
                problems.append(f"initial_inputs[{self.id!r}] is missing field {name!r} ({t})")
            elif not type_matches(values[name], t):
                got = type(values[name]).__name__
                problems.append(f"initial_inputs[{self.id!r}].{name} must be {t}, got {got}")
        return problems

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        return dict(ctx.initial_inputs.get(self.id) or {})


class OutputConfig(NodeConfig):
    """``output_map``: out_field -> ``"Title.field.path"``; empty passes everything."""

    output_map: dict[str, str] = Field(default_factory=dict)


class OutputNode(BaseNode):
    """Shapes the workflow's result from its predecessors' outputs."""

    node_type = "OutputNode"
    category = "Input/Output"
    config_model = OutputConfig
    config: OutputConfig

    @classmethod
    def check(cls, node: Any, config: Any, definition: Any) -> list[str]:
        titles = {n.title for n in definition.members(node.parent_id)}
        problems = []
        for out_field, path in config.output_map.items():
            head = path.split(".", 1)[0]
            if head not in titles:
                problems.append(
                    f"output_map[{out_field!r}] = {path!r} names no node title {head!r}"
                )
        return problems

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        if not self.config.output_map:
            merged: dict[str, Any] = {}
            for value in inputs.values():
                if isinstance(value, dict):
                    merged.update(value)
            return merged
        return {k: resolve_path(inputs, path) for k, path in self.config.output_map.items()}


class StaticValueConfig(NodeConfig):
    """``values``: the object the node outputs."""

    values: dict[str, Any] = Field(default_factory=dict)


class StaticValueNode(BaseNode):
    """Outputs its configured ``values``."""

    node_type = "StaticValueNode"
    category = "Logic"
    config_model = StaticValueConfig
    config: StaticValueConfig

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        return dict(self.config.values)
