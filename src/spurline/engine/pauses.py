"""Human-in-the-loop rules (docs/runs-api.md#pause-cancel-retry): what each pause action does to the
paused node.

Pure functions over records; the store applies their results with conditional
writes so that of two racing actions exactly one takes effect.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from spurline.engine.records import TaskRecord
from spurline.engine.states import TaskStatus
from spurline.exceptions import Conflict


class PauseAction(StrEnum):
    """What a person decides about a paused node (docs/runs-api.md#pause-cancel-retry)."""

    APPROVE = "APPROVE"
    OVERRIDE = "OVERRIDE"
    DECLINE = "DECLINE"


def resolved_output(
    action: PauseAction, node_inputs: dict[str, Any] | None, given: dict[str, Any]
) -> dict[str, Any]:
    """The paused node's output once the action is taken.

    APPROVE: the node's own inputs merged with ``given`` (``given`` wins on equal keys);
    OVERRIDE: ``given`` alone. DECLINE produces no output (the run is canceled).
    """
    if action is PauseAction.APPROVE:
        return {**(node_inputs or {}), **given}
    return dict(given)


def decline_message(user_id: str, node_id: str, comments: str | None) -> str:
    """The run's ``message`` after a DECLINE: names the user (docs/runs-api.md#run,
    docs/runs-api.md#pause-cancel-retry)."""
    text = f"Declined by {user_id} at node '{node_id}'"
    return f"{text}: {comments}" if comments else text


def choose_paused_task(run_id: str, tasks: list[TaskRecord], node_id: str | None) -> TaskRecord:
    """The PAUSED task an action applies to.

    Raises:
        Conflict: ``node_id`` names a node that is not paused, or several nodes are
            paused and ``node_id`` is missing (the message names the paused nodes).
    """
    paused = [t for t in tasks if t.status is TaskStatus.PAUSED]
    names = ", ".join(f"'{t.node_id}'" for t in paused) or "none"
    if node_id is not None:
        for task in paused:
            if task.node_id == node_id:
                return task
        raise Conflict(f"Node '{node_id}' is not paused in run {run_id} (paused: {names})")
    if len(paused) == 1:
        return paused[0]
    if not paused:
        raise Conflict(f"Run {run_id} has no paused node")
    raise Conflict(f"Run {run_id} has several paused nodes ({names}); give node_id")
