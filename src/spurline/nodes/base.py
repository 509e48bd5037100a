"""The node base class: how a node type declares its config, checks it, and runs.

A node type is a subclass of :class:`BaseNode` with a ``node_type`` name and a
``config_model`` (pydantic). The engine builds one instance per node of a
workflow version and calls :meth:`BaseNode.run` with ``{predecessor_title: output}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ValidationError

from spurline.engine.nodetype import Node, NodeConfig, NodeContext, NodePaused, Problem

if TYPE_CHECKING:
    from spurline.engine.definition import NodeDef, WorkflowDefinition

__all__ = ["BaseNode", "NodeConfig", "NodeContext", "NodePaused", "Problem"]


class BaseNode(Node):
    """Base of every node type.

    Class attributes:
        node_type: the ``node_type`` string in definitions.
        config_model: pydantic model validating ``config``.
        inline: True when ``run`` does no I/O and finishes at once; the engine then
            records the task in one write instead of RUNNING + final.
    """

    node_type: ClassVar[str]
    config_model: ClassVar[type[NodeConfig]] = NodeConfig
    inline: ClassVar[bool] = True

    def __init__(self, node: NodeDef, config: NodeConfig) -> None:
        self.id = node.id
        self.title = node.title
        self.node = node
        self.config = config

    @classmethod
    def build(cls, node: NodeDef) -> BaseNode:
        """Instantiate from a validated definition node."""
        return cls(node, cls.config_model.model_validate(node.config))

    @classmethod
    def config_problems(cls, node: NodeDef, definition: WorkflowDefinition) -> list[Problem]:
        """Every problem with ``node.config``; each ``path`` is relative to the node."""
        try:
            config = cls.config_model.model_validate(node.config)
        except ValidationError as exc:
            return [
                {
                    "path": ("config", *e["loc"]),
                    "msg": f"node {node.id!r}: config.{'.'.join(map(str, e['loc']))}: {e['msg']}",
                    "type": e["type"],
                }
                for e in exc.errors()
            ]
        return [
            {"path": ("config",), "msg": f"node {node.id!r}: {msg}", "type": "config"}
            for msg in cls.check(node, config, definition)
        ]

    @classmethod
    def check(cls, node: NodeDef, config: Any, definition: WorkflowDefinition) -> list[str]:
        """Checks beyond the config model that need the whole definition."""
        return []

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        """Execute once with ``{predecessor_title: output}``; return a JSON-able dict."""
        raise NotImplementedError
