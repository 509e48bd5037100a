"""The hooks through which nodes and batch parents start and await child runs
(docs/child-runs-and-batches.md).

The engine stays free of storage: the runtime puts an implementation of
:class:`ChildRuns` in ``RunEngine.services["children"]`` (nodes reach it through
``NodeContext.services``) and of :class:`BatchRunner` in ``services["batch"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from spurline.engine.states import RunStatus

if TYPE_CHECKING:
    from spurline.engine.nodetype import NodeContext
    from spurline.engine.records import RunRecord

CHILDREN = "children"
BATCH = "batch"


@dataclass(frozen=True)
class ChildResult:
    """How one child run ended.

    Attributes:
        run_id: the child run.
        seq: its index among its siblings (loop iteration, batch row).
        status: COMPLETED, FAILED or CANCELED.
        outputs: the output of the child's top-level OutputNode (when it has none:
            ``{node_id: output}`` of its completed nodes); None unless COMPLETED.
        message: the child's ``message`` (why it failed), or None.
    """

    run_id: str
    seq: int
    status: RunStatus
    outputs: dict[str, Any] | None
    message: str | None

    def failure(self) -> str:
        """One sentence for the parent task's error, naming the child run."""
        return f"child run {self.run_id} ({self.seq}) ended {self.status.value}: {self.message}"


class ChildRuns(Protocol):
    """Starts child runs of the running node's run and waits for them."""

    async def run_children(
        self,
        ctx: NodeContext,
        inputs: list[dict[str, Any]],
        *,
        workflow_id: str | None = None,
        max_concurrency: int = 1,
    ) -> list[ChildResult]:
        """Run one child per element of ``inputs`` (``seq`` = its index), at most
        ``max_concurrency`` at a time, and return their results in ``seq`` order.

        Each element is the field object given to the child's InputNode. With
        ``workflow_id`` the children run that workflow's current version; without it
        they run the body of the node ``ctx.node_id`` of the parent's version. A node
        executed again (retry, recovery) reuses the children it already started.

        Raises:
            RunCanceled: the parent run was canceled while waiting.
            NodeFailed: ``workflow_id`` names no workflow.
        """
        ...


class BatchRunner(Protocol):
    """Executes a batch parent run: dispatches one child run per dataset row."""

    async def execute_batch(self, run: RunRecord) -> RunStatus:
        """Dispatch the rows not yet finished, write the output file, end the parent."""
        ...
