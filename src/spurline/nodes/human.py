"""HumanInterventionNode: a point where a person approves, overrides or declines
(docs/runs-api.md#pause-cancel-retry).

Running the node pauses its task (its inputs are recorded). The node never produces
an output itself: ``POST /wf/process_pause_action/{run_id}/`` completes the task
with the inputs (APPROVE, merged with what the person sent) or with what the person
sent (OVERRIDE), or cancels the run (DECLINE).

``block_only_dependent_nodes`` (PySpur's key, default true) decides what waits:

* true: only the nodes that depend on this one wait; other branches run to their
  end, and the run becomes PAUSED when nothing else can run.
* false: the whole run holds. Nodes already started finish, but no node of any
  branch starts until the pause is resolved; then the run becomes PAUSED.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from spurline.nodes.base import BaseNode, NodeConfig, NodeContext, NodePaused

DEFAULT_MESSAGE = "Human intervention required"


class HumanInterventionConfig(NodeConfig):
    """``message``: shown to the person and as the paused run's ``message``."""

    message: str = Field(default=DEFAULT_MESSAGE, max_length=10_000)
    block_only_dependent_nodes: bool = True


class HumanInterventionNode(BaseNode):
    """Pauses its task until a person acts on it."""

    node_type = "HumanInterventionNode"
    config_model = HumanInterventionConfig
    config: HumanInterventionConfig

    @property
    def holds_whole_run(self) -> bool:
        """True when a pause here stops every branch, not only dependants."""
        return not self.config.block_only_dependent_nodes

    async def run(self, inputs: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        """Always raises :class:`NodePaused` with the configured message."""
        raise NodePaused(self.config.message or DEFAULT_MESSAGE)
