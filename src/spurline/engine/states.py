"""Run and task states, and the named rules for moving between them (docs/runs-api.md#statuses).

Stores apply a transition with a conditional update (``WHERE status IN expected``),
so a duplicate message or a racing request cannot apply it twice.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Status of a run."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    PAUSED = "PAUSED"
    CANCELED = "CANCELED"


class TaskStatus(StrEnum):
    """Status of one node's execution inside a run."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    PAUSED = "PAUSED"
    CANCELED = "CANCELED"


RUN_FINISHED = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED})
RUN_ACTIVE = frozenset({RunStatus.PENDING, RunStatus.RUNNING})
RUN_CANCELABLE = frozenset({RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED})
TASK_FINISHED = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELED})
TASK_UNFINISHED = frozenset({TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.PAUSED})

#: Named rules: transition name -> (statuses it may start from, status it ends in).
RUN_TRANSITIONS: dict[str, tuple[frozenset[RunStatus], RunStatus]] = {
    "start": (frozenset({RunStatus.PENDING, RunStatus.RUNNING}), RunStatus.RUNNING),
    "complete": (frozenset({RunStatus.RUNNING}), RunStatus.COMPLETED),
    "fail": (frozenset({RunStatus.RUNNING}), RunStatus.FAILED),
    "pause": (frozenset({RunStatus.RUNNING}), RunStatus.PAUSED),
    "resume": (frozenset({RunStatus.PAUSED}), RunStatus.RUNNING),
    "cancel": (RUN_CANCELABLE, RunStatus.CANCELED),
    "retry": (frozenset({RunStatus.FAILED}), RunStatus.RUNNING),
}
