"""SqlPersistence: the engine's :class:`~spurline.engine.persistence.Persistence` on SQL.

Writes go through the database's group-commit writer; reads run in a worker
thread so the event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from spurline.engine.records import (
    AttemptRecord,
    PauseRecord,
    RunRecord,
    TaskRecord,
    VersionRecord,
)
from spurline.engine.states import RunStatus, TaskStatus
from spurline.store import runs as run_queries
from spurline.store.db import Database
from spurline.store.orm import PAUSES
from spurline.store.versions import versions


class SqlPersistence:
    """Persistence on a :class:`Database` (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get_version(self, version_id: str) -> VersionRecord:
        return await asyncio.to_thread(self.db.read, lambda c: versions.get(c, version_id))

    async def create_run(self, run: RunRecord, tasks: list[TaskRecord]) -> None:
        await self.db.writer.arun(lambda c: run_queries.insert_run(c, run, tasks))

    async def load_run(self, run_id: str) -> tuple[RunRecord, list[TaskRecord]]:
        return await asyncio.to_thread(
            self.db.read, lambda c: run_queries.get_run_and_tasks(c, run_id)
        )

    async def save_tasks(
        self,
        tasks: list[TaskRecord],
        expect: frozenset[TaskStatus],
        attempts: Sequence[AttemptRecord] = (),
    ) -> int:
        return await self.db.writer.arun(
            lambda c: run_queries.save_tasks(c, tasks, expect, attempts)
        )

    async def transition_run(
        self,
        run_id: str,
        expect: frozenset[RunStatus],
        status: RunStatus,
        changes: dict[str, Any] | None = None,
    ) -> bool:
        return await self.db.writer.arun(
            lambda c: run_queries.transition_run(c, run_id, expect, status, changes)
        )

    async def run_status(self, run_id: str) -> RunStatus:
        return await asyncio.to_thread(self.db.read, lambda c: run_queries.get_status(c, run_id))

    async def pause_task(
        self, task: TaskRecord, pause: PauseRecord, expect: frozenset[TaskStatus]
    ) -> bool:
        values = {c.name: getattr(pause, c.name) for c in PAUSES.c}

        def write(conn: Any) -> bool:
            if not run_queries.save_tasks(conn, [task], expect):
                return False
            conn.execute(PAUSES.insert(), [values])
            return True

        return await self.db.writer.arun(write)
