"""Lean reads for the web UI: one page of run summaries with counts per status, and a
dataset's first rows (see docs/ui.md).

A run summary has no tasks, inputs or definition: the runs page of a store of
100,000 runs reads one page of run rows, one count per status and one aggregate
of the page's tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from spurline.engine.states import RunStatus
from spurline.store import time_counts
from spurline.store.orm import RUNS, TASKS, WORKFLOWS
from spurline.store.runs import RunFilter


@dataclass(frozen=True)
class SummaryFilter:
    """Filters of the runs page.

    Attributes:
        statuses: Only runs in one of these statuses (empty: every status).
        workflow_id: Only runs of this workflow.
        run_type: Only runs of this type (``interactive``, ``batch``, ...).
        parent_only: Only runs without a parent run.
        started_after: Only runs that started at or after this time.
        started_before: Only runs that started before this time.
        until: Paging snapshot: only runs that started at or before this time, so a
            page stays the same while newer runs are added.
        found_by: The filters the runs page shares with ``GET /run/`` (start_date /
            end_date, tags, metadata pairs, schedule; docs/operations.md#finding-runs).
    """

    statuses: Sequence[RunStatus] = ()
    workflow_id: str | None = None
    run_type: str | None = None
    parent_only: bool = True
    started_after: datetime | None = None
    started_before: datetime | None = None
    until: datetime | None = None
    found_by: RunFilter = field(default_factory=RunFilter)

    def clauses(self, with_status: bool = True) -> list[ColumnElement[bool]]:
        """SQL conditions; ``with_status=False`` leaves out the status filter (counts)."""
        c = RUNS.c
        out: list[ColumnElement[bool]] = []
        if with_status and self.statuses:
            out.append(c.status.in_([s.value for s in self.statuses]))
        if self.workflow_id:
            out.append(c.workflow_id == self.workflow_id)
        if self.run_type:
            out.append(c.run_type == self.run_type)
        if self.parent_only:
            out.append(c.parent_run_id.is_(None))
        if self.started_after is not None:
            out.append(c.start_time >= self.started_after)
        if self.started_before is not None:
            out.append(c.start_time < self.started_before)
        if self.until is not None:
            out.append(c.start_time <= self.until)
        out.extend(self.found_by.clauses())
        return out

    def by_start_time(self) -> RunFilter | None:
        """The same runs as one :class:`RunFilter` of a start-time range (inclusive),
        workflow, run type and level, statuses left out; None when a tag, metadata,
        schedule or parent filter is set (those count run by run)."""
        found = self.found_by
        if found.tags or found.metadata or found.schedule_id or found.parent_run_id:
            return None
        if found.statuses or found.workflow_id or found.run_type or found.parent_only:
            return None
        before = self.started_before and self.started_before - timedelta(microseconds=1)
        lows = [t for t in (self.started_after, found.start_date) if t is not None]
        highs = [t for t in (before, self.until, found.end_date) if t is not None]
        return RunFilter(
            workflow_id=self.workflow_id,
            run_type=self.run_type,
            parent_only=self.parent_only,
            start_date=max(lows, default=None),
            end_date=min(highs, default=None),
        )


_SUMMARY_COLS = (
    RUNS.c.id,
    RUNS.c.workflow_id,
    RUNS.c.status,
    RUNS.c.start_time,
    RUNS.c.end_time,
    RUNS.c.run_type,
    RUNS.c.parent_run_id,
    RUNS.c.rows_total,
    RUNS.c.rows_done,
    RUNS.c.message,
    RUNS.c.tags,
    RUNS.c.run_metadata,
    RUNS.c.schedule_id,
    RUNS.c.rerun_of,
)


def run_summaries(
    conn: Connection, page: int, page_size: int, flt: SummaryFilter
) -> tuple[list[dict[str, Any]], bool]:
    """One page of run summaries, newest first (start_time desc, id desc), and whether
    an older page exists. No count: a page costs the same with 100 or 100,000 runs.

    Each item: ``{id, workflow_id, workflow_name, status, start_time, end_time,
    run_type, parent_run_id, rows_total, rows_done, message, tasks_total,
    tasks_completed, tags, metadata, schedule_id, rerun_of}``; percentages and
    durations are derived by the caller.
    """
    newest_first = (RUNS.c.start_time.desc(), RUNS.c.id.desc())
    ids = select(RUNS.c.id)
    clauses = flt.clauses()
    if clauses:
        ids = ids.where(*clauses)
    # One row more than the page tells whether there is a next page.
    page_ids = ids.order_by(*newest_first).limit(page_size + 1).offset((page - 1) * page_size)
    rows = conn.execute(
        select(*_SUMMARY_COLS, WORKFLOWS.c.name)
        .join(WORKFLOWS, WORKFLOWS.c.id == RUNS.c.workflow_id)
        .where(RUNS.c.id.in_(page_ids.scalar_subquery()))
        .order_by(*newest_first)
    ).all()
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    run_ids = [r.id for r in rows]
    progress: dict[str, tuple[int, int]] = {}
    if run_ids:
        done = func.sum(case((TASKS.c.status == "COMPLETED", 1), else_=0))
        for run_id, n, n_done in conn.execute(
            select(TASKS.c.run_id, func.count(), done)
            .where(TASKS.c.run_id.in_(run_ids))
            .group_by(TASKS.c.run_id)
        ).all():
            progress[run_id] = (int(n), int(n_done or 0))
    items = [
        {
            "id": r.id,
            "workflow_id": r.workflow_id,
            "workflow_name": r.name,
            "status": r.status,
            "start_time": r.start_time,
            "end_time": r.end_time,
            "run_type": r.run_type,
            "parent_run_id": r.parent_run_id,
            "rows_total": r.rows_total,
            "rows_done": r.rows_done,
            "message": r.message,
            "tasks_total": progress.get(r.id, (0, 0))[0],
            "tasks_completed": progress.get(r.id, (0, 0))[1],
            "tags": r.tags or [],
            "metadata": r.run_metadata or {},
            "schedule_id": r.schedule_id,
            "rerun_of": r.rerun_of,
        }
        for r in rows
    ]
    return items, has_more


def run_counts(conn: Connection, flt: SummaryFilter) -> dict[str, int]:
    """Runs per status under every filter of ``flt`` but the status filter.

    On SQLite, without a tag, metadata or schedule filter, the counts are summed
    from ``run_time_counts`` and the runs of the range's two partial minutes
    (docs/runs-api.md#endpoints-and-paging); otherwise, and on PostgreSQL, this reads
    one index entry per matching run (about 10 ms per 100,000 on an idle machine),
    so the runs page asks for it apart from its rows and less often.
    """
    ranged = flt.by_start_time() if conn.dialect.name == "sqlite" else None
    if ranged is not None:
        statement = time_counts.count_statement(ranged, by_status=True)
        rows = conn.execute(statement, ranged.params() | time_counts.params(ranged))
        return {str(s): int(n) for s, n in rows if n}
    counts_q = select(RUNS.c.status, func.count()).group_by(RUNS.c.status)
    clauses = flt.clauses(with_status=False)
    if clauses:
        counts_q = counts_q.where(*clauses)
    return {str(s): int(n) for s, n in conn.execute(counts_q).all()}


def children_by_task(conn: Connection, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """The child runs of a run grouped by the task that started them (sub-workflow,
    loop iteration), each ``{id, status, seq}`` in start order; batch rows, which have
    no parent task, are left out. Empty for an unknown run."""
    rows = conn.execute(
        select(RUNS.c.id, RUNS.c.status, RUNS.c.seq, RUNS.c.parent_task_id)
        .where(RUNS.c.parent_run_id == run_id, RUNS.c.parent_task_id.is_not(None))
        .order_by(RUNS.c.seq, RUNS.c.start_time, RUNS.c.id)
        .limit(1000)
    ).all()
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(str(r.parent_task_id), []).append(
            {"id": r.id, "status": r.status, "seq": r.seq}
        )
    return out


def failed_children_first(
    conn: Connection, run_id: str, page: int, page_size: int
) -> tuple[list[dict[str, Any]], int, int]:
    """Child runs of a batch parent, FAILED first, then row order; each ``{id, seq,
    status, message, start_time, end_time}``; the number of children and of FAILED
    ones."""
    where = RUNS.c.parent_run_id == run_id
    failed_n = func.sum(case((RUNS.c.status == "FAILED", 1), else_=0))
    total, failed = conn.execute(select(func.count(), failed_n).where(where)).one()
    failed_first = case((RUNS.c.status == "FAILED", 0), else_=1)
    rows = conn.execute(
        select(
            RUNS.c.id,
            RUNS.c.seq,
            RUNS.c.status,
            RUNS.c.message,
            RUNS.c.start_time,
            RUNS.c.end_time,
        )
        .where(where)
        .order_by(failed_first, RUNS.c.seq, RUNS.c.id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    return [dict(r._mapping) for r in rows], int(total), int(failed or 0)
