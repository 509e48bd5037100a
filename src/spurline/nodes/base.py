"""The node base class: how a node type declares its config, checks it, and runs.

A node type is a subclass of :class:`BaseNode` with a ``node_type`` name and a
``config_model`` (pydantic). The engine builds one instance per node of a
workflow version and calls :meth:`BaseNode.run` with ``{predecessor_title: output}``.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ValidationError

from spurline.engine.nodetype import Node, NodeConfig, NodeContext, NodePaused, Problem

if TYPE_CHECKING:
    from spurline.engine.definition import NodeDef, WorkflowDefinition

__all__ = ["BaseNode", "NodeConfig", "NodeContext", "NodePaused", "Problem"]

#: Config keys PySpur's UI writes into every node's config; accepted and kept for
#: every node type, whatever its config model (see docs/nodes.md).
PYSPUR_UI_KEYS: frozenset[str] = frozenset(
    {"title", "type", "output_schema", "output_json_schema", "has_fixed_output", "description"}
)


class BaseNode(Node):
    """Base of every node type.

    Class attributes:
        node_type: the ``node_type`` string in definitions.
        config_model: pydantic model validating ``config``.
        inline: True when ``run`` does no I/O and finishes at once; the engine then
            records the task in one write instead of RUNNING + final.
        category: the node catalogue group (``GET /node/supported_types/``).
        display_name: the name the catalogue shows; empty: ``node_type``.
        pyspur_keys: further config keys PySpur writes for this type that Spurline
            accepts and ignores (beyond :data:`PYSPUR_UI_KEYS`).
    """

    node_type: ClassVar[str]
    config_model: ClassVar[type[NodeConfig]] = NodeConfig
    _known_keys_cache: ClassVar[frozenset[str] | None] = None
    inline: ClassVar[bool] = True
    category: ClassVar[str] = "Other"
    display_name: ClassVar[str] = ""
    pyspur_keys: ClassVar[frozenset[str]] = frozenset()

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
        problems = cls.unknown_key_problems(node)
        return problems + [
            {"path": ("config",), "msg": f"node {node.id!r}: {msg}", "type": "config"}
            for msg in cls.check(node, config, definition)
        ]

    @classmethod
    def known_config_keys(cls) -> set[str]:
        """Keys ``config`` may hold: the model's fields, PySpur's UI keys, ``pyspur_keys``."""
        fields = {name for name in cls.config_model.model_fields}
        aliases = {f.alias for f in cls.config_model.model_fields.values() if f.alias}
        return fields | aliases | PYSPUR_UI_KEYS | cls.pyspur_keys

    @classmethod
    def _known_keys(cls) -> frozenset[str]:
        # computed once per class: a definition checks it for every node
        # (docs/reliability.md#validation-and-bad-input)
        cached: frozenset[str] | None = cls.__dict__.get("_known_keys_cache")
        if cached is None:
            cached = frozenset(cls.known_config_keys())
            cls._known_keys_cache = cached
        return cached

    @classmethod
    def unknown_key_problems(cls, node: NodeDef) -> list[Problem]:
        """One problem per config key neither Spurline nor PySpur knows (a typo such as
        ``timeout`` for ``timeout_s``), with the nearest known key as a hint."""
        problems: list[Problem] = []
        unknown = [key for key in node.config if key not in cls._known_keys()]
        if not unknown:
            return problems
        known = cls.known_config_keys()
        for key in unknown:
            near = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            problems.append(
                {
                    "path": ("config", key),
                    "msg": f"node {node.id!r}: unknown config key {key!r} for "
                    f"{cls.node_type}{hint}",
                    "type": "unknown_config_key",
                }
            )
        return problems

    @classmethod
    def check(cls, node: NodeDef, config: Any, definition: WorkflowDefinition) -> list[str]:
        """Checks beyond the config model that need the whole definition."""
        return []

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        """Execute once with ``{predecessor_title: output}``; return a JSON-able dict."""
        raise NotImplementedError
