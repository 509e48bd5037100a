"""The interface a node type implements for the engine (see docs/architecture.md,
"Node types").

The engine knows node types only through :class:`Node` and a :data:`NodeTypes`
registry (``node_type`` name -> class) that the composition root hands to
:class:`~spurline.engine.executor.RunEngine` and to
:func:`~spurline.engine.definition.parse_definition`. The built-in node types live
in :mod:`spurline.nodes` (their base class, ``BaseNode``, implements this
interface); the engine imports none of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from spurline.engine.logcap import Entry, LogCapture

if TYPE_CHECKING:
    from spurline.engine.definition import LinkDef, NodeDef, WorkflowDefinition

#: One validation problem: ``{"path": (field, ...), "msg": str, "type": str, ...}``
#: (see :class:`spurline.exceptions.DefinitionError`).
Problem = dict[str, Any]


class NodeConfig(BaseModel):
    """Settings every node accepts and the engine applies (see docs/runs-api.md,
    "Retries and time limits"); unknown keys are kept for the node type.
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
        capture: where this attempt's log lines go (see :meth:`log`).
        started_at: when the node's code actually began (a node that first waits
            for a worker process sets it); None means when ``run`` was called.
        publish: stores a ``(stream, text)`` log line of this attempt at once (see
            :meth:`stream`); None where nothing is stored (engine tests).
    """

    run_id: str
    node_id: str
    initial_inputs: dict[str, Any]
    timeout_s: float | None = None
    services: dict[str, Any] = field(default_factory=dict)
    task_id: str | None = None
    capture: LogCapture | None = field(default=None, repr=False)
    started_at: datetime | None = None
    publish: Callable[[str, str], Awaitable[None]] | None = field(default=None, repr=False)

    async def stream(self, text: str, stream: str) -> None:
        """Store ``text`` now as a log line of stream ``stream``, so the task's logs
        and the run's event stream show it while the attempt still runs (unlike
        :meth:`log`, whose lines are stored when the attempt ends). Each call is one
        write: callers batch (docs/observability.md, "Streamed output"). ``text``
        may hold newlines; it is kept as one line.
        """
        if self.publish is not None and text:
            await self.publish(stream, text)

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
    """Raised by a node to pause its task with ``message`` (see docs/runs-api.md,
    "Pause, cancel, retry")."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class Node(ABC):
    """A node of a workflow version, as the engine drives it.

    Class attributes:
        node_type: the ``node_type`` string in definitions.
        inline: True when ``run`` does no I/O and finishes at once; the engine then
            records the task in one write instead of RUNNING + final.
        times_itself: True when ``run`` enforces ``config.timeout_s`` itself from the
            moment its work starts (after any queueing); the engine then adds no
            time limit of its own (docs/observability.md).

    Attributes:
        id: the node's id.
        title: the node's title (the key its output is passed under).
        config: the node's validated config (the engine reads its retry and time
            limit settings).
    """

    node_type: ClassVar[str]
    inline: ClassVar[bool] = True
    times_itself: ClassVar[bool] = False

    id: str
    title: str
    config: NodeConfig

    @classmethod
    @abstractmethod
    def build(cls, node: NodeDef) -> Node:
        """Instantiate from a validated definition node."""

    @classmethod
    @abstractmethod
    def config_problems(cls, node: NodeDef, definition: WorkflowDefinition) -> list[Problem]:
        """Every problem with ``node.config``; each ``path`` is relative to the node."""

    @classmethod
    def link_problem(cls, node: NodeDef, link: LinkDef) -> str | None:
        """A problem with an outgoing ``link`` of this node, or None."""
        return None

    @abstractmethod
    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        """Execute once with ``{predecessor_title: output}``; return a JSON-able dict.

        Raises:
            NodePaused: to pause the task for a human decision.
            NodeFailed: a failure (``retryable`` says whether retries may help).
        """

    def routes_taken(self, output: dict[str, Any]) -> set[str] | None:
        """Route names this output takes (routers); None: every outgoing link is taken."""
        return None

    def link_payload(self, output: dict[str, Any], link: LinkDef) -> Any:
        """What travels along ``link`` given this node's output (default: the output)."""
        return output

    def input_problems(self, values: Any) -> list[str]:
        """Problems with a run's initial inputs for this node; only the workflow's
        InputNode is asked (default: none)."""
        return []


#: The registry the engine is handed: ``node_type`` name -> node class.
NodeTypes = Mapping[str, type[Node]]
