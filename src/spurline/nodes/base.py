"""The node base class: how a node type declares its config, checks it, and runs.

A node type is a subclass of :class:`BaseNode` with a ``node_type`` name and a
``config_model`` (pydantic). The engine builds one instance per node of a
workflow version and calls :meth:`BaseNode.run` with ``{predecessor_title: output}``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from spurline.engine.definition import LinkDef, NodeDef, WorkflowDefinition

Problem = dict[str, Any]

#: Config keys PySpur's UI writes into every node's config; accepted and kept for
#: every node type, whatever its config model (see docs/nodes.md).
PYSPUR_UI_KEYS: frozenset[str] = frozenset(
    {"title", "type", "output_schema", "output_json_schema", "has_fixed_output", "description"}
)


class NodeConfig(BaseModel):
    """Settings every node accepts (see docs/nodes.md).

    Unknown keys are kept (``extra="allow"``) so PySpur's UI keys survive a round
    trip; :meth:`BaseNode.config_problems` rejects keys that neither Spurline nor
    PySpur knows.
    """

    model_config = ConfigDict(extra="allow")

    max_retries: int = Field(default=0, ge=0, le=100, description="new tries after a failure")
    retry_delay_s: float = Field(default=0.0, ge=0, le=3600, description="seconds between tries")
    timeout_s: float | None = Field(
        default=None, gt=0, le=7 * 24 * 3600, description="time limit of one try, seconds"
    )


@dataclass
class NodeContext:
    """What a running node may know about its run.

    Attributes:
        run_id: the run executing the node.
        node_id: the node's id.
        initial_inputs: the run's ``{input_node_id: {field: value}}``.
        timeout_s: the time limit in seconds that applies to this execution.
        services: engine-provided hooks (child runs ...), keyed by name.
        task_id: the id of the task this execution records into.
    """

    run_id: str
    node_id: str
    initial_inputs: dict[str, Any]
    timeout_s: float | None = None
    services: dict[str, Any] = field(default_factory=dict)
    task_id: str | None = None


class NodePaused(Exception):
    """Raised by a node to pause its task with ``message`` (SPEC §5)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class BaseNode:
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
        """Every problem with ``node.config``; ``loc`` is relative to the node."""
        try:
            config = cls.config_model.model_validate(node.config)
        except ValidationError as exc:
            return [
                {
                    "loc": ["config", *e["loc"]],
                    "msg": f"node {node.id!r}: config.{'.'.join(map(str, e['loc']))}: {e['msg']}",
                    "type": e["type"],
                }
                for e in exc.errors()
            ]
        problems = cls.unknown_key_problems(node)
        return problems + [
            {"loc": ["config"], "msg": f"node {node.id!r}: {msg}", "type": "config"}
            for msg in cls.check(node, config, definition)
        ]

    @classmethod
    def known_config_keys(cls) -> set[str]:
        """Keys ``config`` may hold: the model's fields, PySpur's UI keys, ``pyspur_keys``."""
        fields = {name for name in cls.config_model.model_fields}
        aliases = {f.alias for f in cls.config_model.model_fields.values() if f.alias}
        return fields | aliases | PYSPUR_UI_KEYS | cls.pyspur_keys

    @classmethod
    def unknown_key_problems(cls, node: NodeDef) -> list[Problem]:
        """One problem per config key neither Spurline nor PySpur knows (a typo such as
        ``timeout`` for ``timeout_s``), with the nearest known key as a hint."""
        known = cls.known_config_keys()
        problems: list[Problem] = []
        for key in node.config:
            if key in known:
                continue
            near = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            problems.append(
                {
                    "loc": ["config", key],
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

    @classmethod
    def link_problem(cls, node: NodeDef, link: LinkDef) -> str | None:
        """A problem with an outgoing ``link`` of this node, or None."""
        return None

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        """Execute once with ``{predecessor_title: output}``; return a JSON-able dict."""
        raise NotImplementedError

    def routes_taken(self, output: dict[str, Any]) -> set[str] | None:
        """Route names this output takes (routers); None: every outgoing link is taken."""
        return None

    def link_payload(self, output: dict[str, Any], link: LinkDef) -> Any:
        """What travels along ``link`` given this node's output (default: the output)."""
        return output
