"""The node base class: how a node type declares its config, checks it, and runs.

A node type is a subclass of :class:`BaseNode` with a ``node_type`` name and a
``config_model`` (pydantic). The engine builds one instance per node of a
workflow version and calls :meth:`BaseNode.run` with ``{predecessor_title: output}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from spurline.engine.logcap import Entry, LogCapture

if TYPE_CHECKING:
    from spurline.engine.definition import LinkDef, NodeDef, WorkflowDefinition

Problem = dict[str, Any]


class NodeConfig(BaseModel):
    """Settings every node accepts (SPEC §3); unknown keys are kept."""

    model_config = ConfigDict(extra="allow")

    max_retries: int = Field(default=0, ge=0, le=100)
    retry_delay_s: float = Field(default=0.0, ge=0, le=3600)
    timeout_s: float | None = Field(default=None, gt=0, le=7 * 24 * 3600)


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
        capture: where this attempt's log lines go (see :meth:`log`).
        started_at: when the node's code actually began (a node that first waits
            for a worker process sets it); None means when ``run`` was called.
    """

    run_id: str
    node_id: str
    initial_inputs: dict[str, Any]
    timeout_s: float | None = None
    services: dict[str, Any] = field(default_factory=dict)
    task_id: str | None = None
    capture: LogCapture | None = field(default=None, repr=False)
    started_at: datetime | None = None

    def log(self, message: str, level: str = "INFO") -> None:
        """Add a line (or several, split at newlines) to this attempt's log, as a
        node's own ``print`` would; ``level`` is a logging level name
        (docs/observability.md).
        """
        if self.capture is not None:
            for line in str(message).split("\n"):
                self.capture.add("log", level.upper(), line)

    def add_lines(self, lines: list[Entry], started: float | None = None) -> None:
        """Take lines captured elsewhere (a worker process) and when the code started."""
        if self.capture is not None:
            for at, stream, level, line in lines:
                self.capture.add(stream, level, line, at)
        if started is not None:
            self.started_at = datetime.fromtimestamp(started, UTC)


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
        times_itself: True when ``run`` enforces ``config.timeout_s`` itself from the
            moment its work starts (after any queueing); the engine then adds no
            time limit of its own.
    """

    node_type: ClassVar[str]
    config_model: ClassVar[type[NodeConfig]] = NodeConfig
    inline: ClassVar[bool] = True
    times_itself: ClassVar[bool] = False

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
        return [
            {"loc": ["config"], "msg": f"node {node.id!r}: {msg}", "type": "config"}
            for msg in cls.check(node, config, definition)
        ]

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
