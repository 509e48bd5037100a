"""SqlPersistence: the engine's :class:`~spurline.engine.persistence.Persistence` on SQL.

Writes go through the database's group-commit writer; reads run in a worker
thread so the event loop never waits on the database. Every call waits out a
transient store error for the database's full ``retry_s`` whatever context it runs
in, so an execution is not failed by a store that blinked
(docs/reliability.md#transient-store-errors).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from spurline.engine.records import (
    AttemptRecord,
    AttemptTally,
    LogLine,
    PauseRecord,
    RunRecord,
    TaskRecord,
    VersionRecord,
)
from spurline.engine.states import RunStatus, TaskStatus
from spurline.store import events
from spurline.store import runs as run_queries
from spurline.store.db import Database
from spurline.store.orm import PAUSES
from spurline.store.versions import versions

T = TypeVar("T")
#: Runs whose outputs SqlPersistence keeps for a waiting caller at most.
WANTED_OUTPUTS = 10_000


class Redaction(Protocol):
    """Replaces secret values in data before it is stored (docs/security.md §6)."""

    def __bool__(self) -> bool: ...

    def data(self, value: Any) -> Any: ...

    def text(self, value: str) -> str: ...


class SqlPersistence:
    """Persistence on a :class:`Database` (SQLite or PostgreSQL).

    Args:
        db: the store.
        redaction: returns the current redaction of secret values, applied to task
            inputs, outputs, errors and tracebacks, task attempts' errors, tracebacks
            and captured log lines, pause inputs and run messages as they are
            written; None stores them as they are.
    """

    def __init__(self, db: Database, redaction: Callable[[], Redaction] | None = None) -> None:
        self.db = db
        self.redaction = redaction
        # Runs whose outputs a caller awaits (a blocking run's answer): the write that
        # makes one COMPLETED also reads its outputs as stored (redacted), sparing the
        # caller a read of its own. Bounded: a caller that went away leaves its id.
        self._outputs_wanted: set[str] = set()
        self._ended_outputs: dict[str, dict[str, Any]] = {}

    def want_outputs(self, run_id: str) -> None:
        """Keep the outputs of ``run_id`` when it COMPLETED here (see :meth:`ended_outputs`)."""
        if len(self._outputs_wanted) >= WANTED_OUTPUTS:
            self._outputs_wanted.clear()
            self._ended_outputs.clear()
        self._outputs_wanted.add(run_id)

    def ended_outputs(self, run_id: str) -> dict[str, Any] | None:
        """``{node_id: outputs}`` of the COMPLETED tasks of a run made COMPLETED by this
        process after :meth:`want_outputs`, as its ending transaction stored them; None
        otherwise (read them from the store). Given once."""
        self._outputs_wanted.discard(run_id)
        return self._ended_outputs.pop(run_id, None)

    async def _read(self, fn: Callable[[Any], T]) -> T:
        return await asyncio.to_thread(self.db.read, fn, self.db.retry_s)

    async def _write(self, fn: Callable[[Any], T]) -> T:
        return await self.db.writer.arun(fn, self.db.retry_s)

    def _redacted(self, tasks: list[TaskRecord]) -> list[TaskRecord]:
        r = self.redaction() if self.redaction else None
        if not r:
            return tasks
        return [
            replace(
                t,
                inputs=r.data(t.inputs),
                outputs=r.data(t.outputs),
                error=r.text(t.error) if t.error else t.error,
                traceback=r.text(t.traceback) if t.traceback else t.traceback,
            )
            for t in tasks
        ]

    def _redacted_attempts(self, attempts: Sequence[AttemptRecord]) -> Sequence[AttemptRecord]:
        # Captured output and tracebacks carry whatever the node printed or raised,
        # secrets included: they are masked here, the one place attempts are written.
        r = self.redaction() if self.redaction and attempts else None
        if not r:
            return attempts
        return [
            replace(
                a,
                error=r.text(a.error) if a.error else a.error,
                traceback=r.text(a.traceback) if a.traceback else a.traceback,
                logs=[replace(line, line=r.text(line.line)) for line in a.logs],
            )
            for a in attempts
        ]

    async def get_version(self, version_id: str) -> VersionRecord:
        return await self._read(lambda c: versions.get(c, version_id))

    async def create_run(self, run: RunRecord, tasks: list[TaskRecord]) -> None:
        await self._write(lambda c: run_queries.insert_run(c, run, tasks))

    async def load_run(self, run_id: str) -> tuple[RunRecord, list[TaskRecord]]:
        return await self._read(lambda c: run_queries.get_run_and_tasks(c, run_id))

    async def save_tasks(
        self,
        tasks: list[TaskRecord],
        expect: frozenset[TaskStatus],
        attempts: Sequence[AttemptRecord] = (),
    ) -> int:
        return await self._write(
            lambda c: run_queries.save_tasks(
                c, self._redacted(tasks), expect, self._redacted_attempts(attempts)
            )
        )

    async def append_logs(
        self, run_id: str, task_id: str, node_id: str, attempt: int, lines: list[LogLine]
    ) -> None:
        r = self.redaction() if self.redaction and lines else None
        if r:
            lines = [replace(ln, line=r.text(ln.line)) for ln in lines]
        await self._write(lambda c: events.emit_logs(c, run_id, task_id, node_id, attempt, lines))

    async def transition_run(
        self,
        run_id: str,
        expect: frozenset[RunStatus],
        status: RunStatus,
        changes: dict[str, Any] | None = None,
    ) -> bool:
        return await self._write(lambda c: self._transition(c, run_id, expect, status, changes))

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
        def write(conn: Any) -> bool | None:
            saved = run_queries.save_tasks(
                conn, self._redacted(tasks), expect, self._redacted_attempts(attempts)
            )
            if saved != len(tasks):
                return None
            ended = self._transition(conn, run_id, run_expect, status, changes)
            if ended and status is RunStatus.COMPLETED and run_id in self._outputs_wanted:
                self._ended_outputs[run_id] = run_queries.completed_outputs(conn, run_id)
            return ended

        return await self._write(write)

    def _transition(
        self,
        conn: Any,
        run_id: str,
        expect: frozenset[RunStatus],
        status: RunStatus,
        changes: dict[str, Any] | None,
    ) -> bool:
        r = self.redaction() if self.redaction else None
        if r and changes and changes.get("message"):
            changes = {**changes, "message": r.text(changes["message"])}
        return run_queries.transition_run(conn, run_id, expect, status, changes)

    async def attempt_tallies(self, task_ids: list[str]) -> dict[str, AttemptTally]:
        return await asyncio.to_thread(self.db.read, lambda c: events.attempt_tallies(c, task_ids))

    async def run_status(self, run_id: str) -> RunStatus:
        return await self._read(lambda c: run_queries.get_status(c, run_id))

    async def pause_task(
        self, task: TaskRecord, pause: PauseRecord, expect: frozenset[TaskStatus]
    ) -> bool:
        values = {c.name: getattr(pause, c.name) for c in PAUSES.c}

        def write(conn: Any) -> bool:
            r = self.redaction() if self.redaction else None
            if r:
                values["input_data"] = r.data(values["input_data"])
            if not run_queries.save_tasks(conn, self._redacted([task]), expect):
                return False
            conn.execute(PAUSES.insert(), [values])
            return True

        return await self._write(write)
