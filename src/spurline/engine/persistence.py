"""The storage interface the engine runs against, and an in-memory implementation.

``spurline.store.SqlPersistence`` implements the same protocol on SQLite and
PostgreSQL; the engine tests run against both. Every state change goes through a
conditional write (``expect``): it applies only while the record is still in one of
the expected states, and returns whether it did (docs/runs-api.md#statuses).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from spurline.engine.records import (
    AttemptRecord,
    AttemptTally,
    LogLine,
    PauseRecord,
    RunRecord,
    TaskRecord,
    VersionRecord,
    tally_attempts,
)
from spurline.engine.states import RunStatus, TaskStatus
from spurline.exceptions import NotFound


class Persistence(Protocol):
    """What the engine needs from a store. All methods are coroutines."""

    async def get_version(self, version_id: str) -> VersionRecord:
        """The version; NotFound when absent."""
        ...

    async def create_run(self, run: RunRecord, tasks: list[TaskRecord]) -> None:
        """Insert a run and its tasks atomically."""
        ...

    async def load_run(self, run_id: str) -> tuple[RunRecord, list[TaskRecord]]:
        """The run and its tasks in position order; NotFound when absent."""
        ...

    async def save_tasks(
        self,
        tasks: list[TaskRecord],
        expect: frozenset[TaskStatus],
        attempts: Sequence[AttemptRecord] = (),
    ) -> int:
        """Write each task's mutable fields where its stored status is in ``expect``,
        and store ``attempts`` (finished tries, with their log lines) in any case.

        Returns the number of tasks written.
        """
        ...

    async def transition_run(
        self,
        run_id: str,
        expect: frozenset[RunStatus],
        status: RunStatus,
        changes: dict[str, Any] | None = None,
    ) -> bool:
        """Set ``status`` (and ``changes``) if the stored status is in ``expect``."""
        ...

    async def save_tasks_and_end_run(
        self,
        tasks: list[TaskRecord],
        expect: frozenset[TaskStatus],
        attempts: Sequence[AttemptRecord],
        run_id: str,
        run_expect: frozenset[RunStatus],
        status: RunStatus,
        changes: dict[str, Any] | None = None,
    ) -> bool | None:
        """:meth:`save_tasks`, then, if every task was written, :meth:`transition_run`,
        both or neither in one transaction where the store has them (the last write of
        a run). Returns None when a task was not written (then the run is left as it
        is), else whether the transition applied.
        """
        ...

    async def attempt_tallies(self, task_ids: list[str]) -> dict[str, AttemptTally]:
        """For each task in ``task_ids`` with stored attempts, what they say about the
        try in flight (:func:`~spurline.engine.records.tally_attempts`); read when a run
        resumes with tasks left RUNNING (docs/reliability.md#poison-runs).
        """
        ...

    async def run_status(self, run_id: str) -> RunStatus:
        """The stored status of a run; NotFound when absent."""
        ...

    async def append_logs(
        self, run_id: str, task_id: str, node_id: str, attempt: int, lines: list[LogLine]
    ) -> None:
        """Store ``lines`` of a RUNNING attempt at once (streamed output, which must
        be seen before the attempt ends: docs/observability.md, "Streamed output")."""
        ...

    async def pause_task(
        self, task: TaskRecord, pause: PauseRecord, expect: frozenset[TaskStatus]
    ) -> bool:
        """Write the PAUSED ``task`` and insert its ``pause`` record, both or neither.

        Applies only while the stored task status is in ``expect``; returns whether it did.
        """
        ...


class MemoryPersistence:
    """:class:`Persistence` kept in dicts, for engine tests and embedding."""

    def __init__(self) -> None:
        self.versions: dict[str, VersionRecord] = {}
        self.runs: dict[str, RunRecord] = {}
        self.tasks: dict[str, list[TaskRecord]] = {}
        self.pauses: list[PauseRecord] = []
        self.attempts: list[AttemptRecord] = []
        #: lines stored while their attempt ran: (task_id, attempt, line)
        self.live_logs: list[tuple[str, int, LogLine]] = []

    def add_version(self, version: VersionRecord) -> None:
        """Store a version (the in-memory stand-in for workflow CRUD)."""
        self.versions[version.id] = version

    async def get_version(self, version_id: str) -> VersionRecord:
        try:
            return self.versions[version_id]
        except KeyError:
            raise NotFound("Workflow version", version_id) from None

    async def create_run(self, run: RunRecord, tasks: list[TaskRecord]) -> None:
        self.runs[run.id] = copy.deepcopy(run)
        self.tasks[run.id] = copy.deepcopy(tasks)

    async def load_run(self, run_id: str) -> tuple[RunRecord, list[TaskRecord]]:
        if run_id not in self.runs:
            raise NotFound("Run", run_id)
        return copy.deepcopy(self.runs[run_id]), copy.deepcopy(self.tasks[run_id])

    async def save_tasks(
        self,
        tasks: list[TaskRecord],
        expect: frozenset[TaskStatus],
        attempts: Sequence[AttemptRecord] = (),
    ) -> int:
        self.attempts.extend(copy.deepcopy(list(attempts)))
        written = 0
        for task in tasks:
            stored = self.tasks.get(task.run_id, [])
            for i, old in enumerate(stored):
                if old.id == task.id and old.status in expect:
                    stored[i] = copy.deepcopy(task)
                    written += 1
        return written

    async def append_logs(
        self, run_id: str, task_id: str, node_id: str, attempt: int, lines: list[LogLine]
    ) -> None:
        self.live_logs.extend((task_id, attempt, copy.deepcopy(ln)) for ln in lines)

    async def transition_run(
        self,
        run_id: str,
        expect: frozenset[RunStatus],
        status: RunStatus,
        changes: dict[str, Any] | None = None,
    ) -> bool:
        run = self.runs.get(run_id)
        if run is None or run.status not in expect:
            return False
        run.status = status
        for key, value in (changes or {}).items():
            setattr(run, key, value)
        return True

    async def save_tasks_and_end_run(
        self,
        tasks: list[TaskRecord],
        expect: frozenset[TaskStatus],
        attempts: Sequence[AttemptRecord],
        run_id: str,
        run_expect: frozenset[RunStatus],
        status: RunStatus,
        changes: dict[str, Any] | None = None,
    ) -> bool | None:
        if await self.save_tasks(tasks, expect, attempts) != len(tasks):
            return None
        return await self.transition_run(run_id, run_expect, status, changes)

    async def attempt_tallies(self, task_ids: list[str]) -> dict[str, AttemptTally]:
        by_task: dict[str, list[tuple[int, str | None]]] = {}
        for a in self.attempts:
            if a.task_id in task_ids:
                by_task.setdefault(a.task_id, []).append((a.number, a.error))
        return {tid: tally_attempts(rows) for tid, rows in by_task.items()}

    async def run_status(self, run_id: str) -> RunStatus:
        if run_id not in self.runs:
            raise NotFound("Run", run_id)
        return self.runs[run_id].status

    async def pause_task(
        self, task: TaskRecord, pause: PauseRecord, expect: frozenset[TaskStatus]
    ) -> bool:
        if not await self.save_tasks([task], expect):
            return False
        self.pauses.append(copy.deepcopy(pause))
        return True

    def cancel(self, run_id: str, at: datetime) -> bool:
        """Cancel a run and its unfinished tasks (what the API's cancel does in SQL)."""
        run = self.runs[run_id]
        if run.status not in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED):
            return False
        run.status, run.end_time = RunStatus.CANCELED, at
        _cancel_unfinished(self.tasks[run_id], at)
        return True


def _cancel_unfinished(tasks: Iterable[TaskRecord], at: datetime) -> None:
    for t in tasks:
        if t.status in (TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.PAUSED):
            t.status, t.end_time = TaskStatus.CANCELED, at
