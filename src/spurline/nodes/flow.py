"""CoalesceNode and MergeNode: joining branches (docs/runs-api.md#workflow-definitions)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from spurline.nodes.base import BaseNode, NodeConfig, NodeContext


class CoalesceConfig(NodeConfig):
    """``preferences``: predecessor titles, most preferred first."""

    preferences: list[str] = Field(default_factory=list)


class CoalesceNode(BaseNode):
    """Outputs the first non-null input, in ``preferences`` order, then link order."""

    node_type = "CoalesceNode"
    config_model = CoalesceConfig
    config: CoalesceConfig

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        order = [*self.config.preferences, *(t for t in inputs if t not in self.config.preferences)]
        for title in order:
            value = inputs.get(title)
            if value is not None:
                return value if isinstance(value, dict) else {"value": value}
        return {}


class MergeNode(BaseNode):
    """Outputs every delivered input as one object ``{title: output}``."""

    node_type = "MergeNode"

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        return dict(inputs)
