"""Runs and tasks: queries for the Runs API and write operations (docs/runs-api.md#run).

List queries load one page of runs, then every task of that page in one query,
then the versions not yet cached: three queries a page whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Integer,
    Select,
    Table,
    Update,
    bindparam,
    case,
    delete,
    func,
    select,
    union_all,
    update,
)

from spurline.engine.clock import now
from spurline.engine.records import AttemptRecord, RunRecord, RunSnapshot, TaskRecord
from spurline.engine.states import RUN_CANCELABLE, RunStatus, TaskStatus
from spurline.exceptions import Conflict, NotFound
from spurline.store import _run_sql, events, time_counts
from spurline.store._raw import (
    db_json,
    db_time,
    db_time_out,
    executemany,
    fetchall,
)
from spurline.store._rows import (
    RUN_COLS,
    TASK_COLS,
    TASK_COLUMNS,
    run_record,
    run_values,
    sqlite_task_record,
    task_record,
    task_values,
)
from spurline.store.orm import RUN_COUNTS, RUN_METADATA, RUN_TAGS, RUNS, TASKS
from spurline.store.run_events import RunRow, after_transition, tasks_saved
from spurline.store.versions import versions


@dataclass(frozen=True)
class RunFilter:
    """Filters of ``GET /run/`` beyond the seed (docs/runs-api.md#endpoints-and-paging)."""

    statuses: Sequence[RunStatus] = ()
    workflow_id: str | None = None
    run_type: str | None = None
    parent_only: bool = False
    parent_run_id: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    tags: Sequence[str] = ()
    metadata: Sequence[tuple[str, str]] = ()
    schedule_id: str | None = None

    def counted(self) -> bool:
        """True when ``run_counts`` answers the count: only workflow, statuses, run
        type and parent_only are set."""
        return not (
            self.parent_run_id
            or self.start_date
            or self.end_date
            or self.tags
            or self.metadata
            or self.schedule_id
        )

    def time_counted(self) -> bool:
        """True when ``run_time_counts`` answers the count: a start or end date, and
        otherwise only what :meth:`counted` allows."""
        return bool(self.start_date or self.end_date) and not (
            self.parent_run_id or self.tags or self.metadata or self.schedule_id
        )

    def status_values(self) -> list[str]:
        """The statuses asked for, each once, in a fixed order."""
        return sorted({s.value for s in self.statuses})

    def params(self) -> dict[str, Any]:
        """The values of the bound parameters of :meth:`clauses`, by name."""
        out: dict[str, Any] = {
            "f_start": self.start_date,
            "f_end": self.end_date,
            "f_schedule": self.schedule_id,
            "f_workflow": self.workflow_id,
            "f_run_type": self.run_type,
            "f_parent": self.parent_run_id,
        }
        out.update((f"f_status{i}", v) for i, v in enumerate(self.status_values()))
        out.update((f"f_tag{i}", tag) for i, tag in enumerate(self.tags))
        for i, (key, value) in enumerate(self.metadata):
            out[f"f_key{i}"], out[f"f_value{i}"] = key, value
        return out

    def shape(self) -> tuple[Any, ...]:
        """What the SQL of this filter depends on (its values are bound parameters)."""
        return (
            len(self.status_values()),
            self.start_date is not None,
            self.end_date is not None,
            len(self.tags),
            len(self.metadata),
            bool(self.schedule_id),
            bool(self.workflow_id),
            bool(self.run_type),
            self.parent_only,
            bool(self.parent_run_id),
        )

    def kind_clauses(self, table: Table) -> list[ColumnElement[bool]]:
        """The statuses, workflow and run type conditions on ``table`` (``runs`` or
        ``run_counts``, which both have those columns)."""
        out: list[ColumnElement[bool]] = []
        statuses = self.status_values()
        if statuses:
            out.append(
                table.c.status.in_([bindparam(f"f_status{i}", v) for i, v in enumerate(statuses)])
            )
        if self.workflow_id:
            out.append(table.c.workflow_id == bindparam("f_workflow", self.workflow_id))
        if self.run_type:
            out.append(table.c.run_type == bindparam("f_run_type", self.run_type))
        return out

    def clauses(self, kinds: bool = True) -> list[ColumnElement[bool]]:
        """SQL conditions for this filter (time range, tags, metadata and schedule:
        docs/operations.md), values bound by the names of :meth:`params`;
        ``kinds=False`` leaves out the statuses, workflow and run type."""
        out: list[ColumnElement[bool]] = []
        when = RUNS.c.start_time.type
        if self.start_date is not None:
            out.append(RUNS.c.start_time >= bindparam("f_start", self.start_date, when))
        if self.end_date is not None:
            out.append(RUNS.c.start_time <= bindparam("f_end", self.end_date, when))
        for i, tag in enumerate(self.tags):
            tagged = select(RUN_TAGS.c.run_id).where(RUN_TAGS.c.tag == bindparam(f"f_tag{i}", tag))
            out.append(RUNS.c.id.in_(tagged))
        for i, (key, value) in enumerate(self.metadata):
            matching = select(RUN_METADATA.c.run_id).where(
                RUN_METADATA.c.key == bindparam(f"f_key{i}", key),
                RUN_METADATA.c.value == bindparam(f"f_value{i}", value),
            )
            out.append(RUNS.c.id.in_(matching))
        if self.schedule_id:
            out.append(RUNS.c.schedule_id == bindparam("f_schedule", self.schedule_id))
        if kinds:
            out.extend(self.kind_clauses(RUNS))
        if self.parent_only:
            out.append(RUNS.c.parent_run_id.is_(None))
        if self.parent_run_id:
            out.append(RUNS.c.parent_run_id == bindparam("f_parent", self.parent_run_id))
        return out


# The hot reads and writes (every run start, node step, poll and run page) use
# statements built once with bound parameters: building a select() per call and
# generating its cache key cost ~80 us of the ~100 us a one-row read took.
_RUN_BY_ID = select(*RUN_COLS).where(RUNS.c.id == bindparam("b_run_id"))
_STATUS_BY_ID = select(RUNS.c.status).where(RUNS.c.id == bindparam("b_run_id"))
_TASKS_OF_RUN = (
    select(*TASK_COLS).where(TASKS.c.run_id == bindparam("b_run_id")).order_by(TASKS.c.position)
)
_TASKS_OF_RUNS = (
    select(*TASK_COLS)
    .where(TASKS.c.run_id.in_(bindparam("b_run_ids", expanding=True)))
    .order_by(TASKS.c.run_id, TASKS.c.position)
)


def _snapshots(
    conn: Connection, runs: list[RunRecord], task_runs: Select[Any] | None = None
) -> list[RunSnapshot]:
    """Attach tasks (one query) and versions (at most one more) to ``runs``.

    ``task_runs`` is a query of the same runs' ids to use instead of an id list
    (a whole batch's children would otherwise be thousands of bound parameters).
    """
    if not runs:
        return []
    by_run: dict[str, list[TaskRecord]] = {r.id: [] for r in runs}
    if task_runs is not None:
        rows = conn.execute(
            select(*TASK_COLS)
            .where(TASKS.c.run_id.in_(task_runs))
            .order_by(TASKS.c.run_id, TASKS.c.position)
        )
    elif len(runs) == 1:
        by_run[runs[0].id] = _tasks_of_run(conn, runs[0].id)
        rows = None
    else:
        rows = conn.execute(_TASKS_OF_RUNS, {"b_run_ids": list(by_run)})
    for row in rows.all() if rows is not None else ():
        task = task_record(row)
        by_run[task.run_id].append(task)
    found = versions.get_many(conn, (r.workflow_version_id for r in runs))
    reruns = reruns_of(conn, [r.id for r in runs]) if task_runs is None else {}
    return [
        RunSnapshot(r, by_run[r.id], found.get(r.workflow_version_id or ""), reruns.get(r.id, []))
        for r in runs
    ]


_RERUNS_OF_RUN = (
    select(RUNS.c.rerun_of, RUNS.c.id)
    .where(RUNS.c.rerun_of == bindparam("b_run_id"))
    .order_by(RUNS.c.start_time, RUNS.c.id)
)
_RERUNS_OF_RUNS = (
    select(RUNS.c.rerun_of, RUNS.c.id)
    .where(RUNS.c.rerun_of.in_(bindparam("b_run_ids", expanding=True)))
    .order_by(RUNS.c.start_time, RUNS.c.id)
)


def reruns_of(conn: Connection, run_ids: list[str]) -> dict[str, list[str]]:
    """``{run id: ids of the runs that rerun it}``, oldest rerun first (docs/operations.md)."""
    out: dict[str, list[str]] = {}
    if len(run_ids) == 1:  # every GET /run/{id}/
        rows = conn.execute(_RERUNS_OF_RUN, {"b_run_id": run_ids[0]})
    else:
        rows = conn.execute(_RERUNS_OF_RUNS, {"b_run_ids": run_ids})
    for original, rerun in rows:
        out.setdefault(original, []).append(rerun)
    return out


def snapshots(conn: Connection, runs: list[RunRecord]) -> list[RunSnapshot]:
    """The snapshots of ``runs`` (same order): tasks and versions in two queries."""
    return _snapshots(conn, runs)


def get_snapshot(conn: Connection, run_id: str) -> RunSnapshot:
    """A run with its tasks and version; NotFound when absent."""
    return _snapshots(conn, [get_run(conn, run_id)])[0]


def get_run(conn: Connection, run_id: str) -> RunRecord:
    """The run alone; NotFound when absent."""
    row = conn.execute(_RUN_BY_ID, {"b_run_id": run_id}).first()
    if row is None:
        raise NotFound("Run", run_id)
    return run_record(row)


def get_status(conn: Connection, run_id: str) -> RunStatus:
    """The run's stored status; NotFound when absent."""
    status = conn.execute(_STATUS_BY_ID, {"b_run_id": run_id}).scalar()
    if status is None:
        raise NotFound("Run", run_id)
    return RunStatus(status)


def get_run_and_tasks(conn: Connection, run_id: str) -> tuple[RunRecord, list[TaskRecord]]:
    """The run and its tasks in position order; NotFound when absent."""
    run = get_run(conn, run_id)
    return run, _tasks_of_run(conn, run_id)


_OUTPUTS_OF_RUN = (
    select(TASKS.c.node_id, TASKS.c.outputs)
    .where(TASKS.c.run_id == bindparam("b_run_id"), TASKS.c.status == TaskStatus.COMPLETED.value)
    .order_by(TASKS.c.position)
)
_OUTPUTS_OF_RUN_SQL = (
    "SELECT node_id, outputs FROM tasks WHERE run_id = ? AND status = 'COMPLETED' ORDER BY position"
)


def completed_outputs(conn: Connection, run_id: str) -> dict[str, Any]:
    """``{node_id: outputs}`` of a run's COMPLETED tasks in position order: a blocking
    run's answer (docs/runs-api.md#running), read in the transaction that ends it."""
    if conn.dialect.name == "sqlite":
        rows = fetchall(conn, _OUTPUTS_OF_RUN_SQL, (run_id,))
        return {nid: None if out is None else orjson.loads(out) for nid, out in rows}
    return {nid: out for nid, out in conn.execute(_OUTPUTS_OF_RUN, {"b_run_id": run_id})}


_TASKS_OF_RUN_SQL = f"SELECT {TASK_COLUMNS} FROM tasks WHERE run_id = ? ORDER BY position"


def _tasks_of_run(conn: Connection, run_id: str) -> list[TaskRecord]:
    """One run's tasks in position order. On SQLite on the driver's cursor: SQLAlchemy's
    result layer (per-row, per-column processors) cost ~2 us a task, 0.1 ms of every
    ``GET /run/{id}/`` of a 52-task run (docs/architecture.md#store)."""
    if conn.dialect.name == "sqlite":
        return [sqlite_task_record(r) for r in fetchall(conn, _TASKS_OF_RUN_SQL, (run_id,))]
    return [task_record(r) for r in conn.execute(_TASKS_OF_RUN, {"b_run_id": run_id}).all()]


def get_tasks(conn: Connection, run_id: str) -> list[TaskRecord]:
    """A run's tasks in position order; NotFound for an unknown run."""
    return get_run_and_tasks(conn, run_id)[1]


_NEWEST_FIRST = (RUNS.c.start_time.desc(), RUNS.c.id.desc())


def count_runs(conn: Connection, flt: RunFilter) -> int:
    """How many runs match ``flt`` (``X-Total-Count``).

    On SQLite a filter of workflow, statuses, run type and level only is summed from
    ``run_counts`` (a few rows the store's triggers keep exact), however many runs
    there are; with a start or end date as well, from ``run_time_counts`` and the
    runs of the range's two partial minutes (see :mod:`spurline.store.time_counts`).
    Tags, metadata, schedule and parent filters, and PostgreSQL, count the matching
    index entries (docs/runs-api.md#endpoints-and-paging).
    """
    sqlite = conn.dialect.name == "sqlite"
    if sqlite and flt.time_counted():
        statement = time_counts.count_statement(flt)
        return int(conn.execute(statement, flt.params() | time_counts.params(flt)).scalar_one())
    counted = sqlite and flt.counted()
    statement = _statements(flt, counted)[0]
    return int(conn.execute(statement, flt.params()).scalar_one())


# Statements per filter shape, built once (values are bound parameters): building
# the selects of a page and their cache keys cost ~0.6 ms of a ~1.4 ms page read.
_BUILT: dict[tuple[Any, ...], tuple[Select[Any], Select[Any]]] = {}


def _statements(flt: RunFilter, counted: bool) -> tuple[Select[Any], Select[Any]]:
    """(count, page rows) statements for filters shaped like ``flt``; the page takes
    ``f_limit``, ``f_offset`` and ``f_upto`` (offset + limit) besides ``flt.params()``."""
    key = (counted, *flt.shape())
    built = _BUILT.get(key)
    if built is None:
        if len(_BUILT) > 256:  # any number of tags makes a shape: keep the cache small
            _BUILT.clear()
        if counted:
            where = flt.kind_clauses(RUN_COUNTS)
            if flt.parent_only:
                where.append(RUN_COUNTS.c.child.is_(False))
            count = select(func.coalesce(func.sum(RUN_COUNTS.c.n), 0)).where(*where)
        else:
            count = select(func.count()).select_from(RUNS).where(*flt.clauses())
        page_ids = _page_ids(flt).scalar_subquery()
        rows = select(*RUN_COLS).where(RUNS.c.id.in_(page_ids)).order_by(*_NEWEST_FIRST)
        built = _BUILT[key] = (count, rows)
    return built


def _page_ids(flt: RunFilter) -> Select[Any]:
    """The ids of one page of runs matching ``flt``, newest first, found on an index.

    Several statuses are read as one newest-first index range per status, merged:
    ``status IN (...)`` would make SQLite sort every matching run to find the newest.
    """
    limit: BindParameter[int] = bindparam("f_limit", type_=Integer)
    offset: BindParameter[int] = bindparam("f_offset", type_=Integer)
    statuses = flt.status_values()
    if len(statuses) < 2:
        ids = select(RUNS.c.id).where(*flt.clauses()).order_by(*_NEWEST_FIRST)
        return ids.limit(limit).offset(offset)
    others = flt.clauses(kinds=False)
    if flt.workflow_id:
        others.append(RUNS.c.workflow_id == bindparam("f_workflow"))
    if flt.run_type:
        others.append(RUNS.c.run_type == bindparam("f_run_type"))
    parts = [
        select(RUNS.c.id, RUNS.c.start_time)
        .where(*others, RUNS.c.status == bindparam(f"f_status{i}"))
        .order_by(*_NEWEST_FIRST)
        .limit(bindparam("f_upto", type_=Integer))
        .subquery()
        for i in range(len(statuses))
    ]
    merged = union_all(*(select(p.c.id, p.c.start_time) for p in parts)).subquery()
    return (
        select(merged.c.id)
        .order_by(merged.c.start_time.desc(), merged.c.id.desc())
        .limit(limit)
        .offset(offset)
    )


def _page_runs(conn: Connection, flt: RunFilter, page: int, page_size: int) -> list[RunRecord]:
    statement = _statements(flt, False)[1]
    offset = (page - 1) * page_size
    params = flt.params() | {"f_limit": page_size, "f_offset": offset, "f_upto": offset + page_size}
    return [run_record(r) for r in conn.execute(statement, params)]


def list_runs(
    conn: Connection, page: int, page_size: int, flt: RunFilter
) -> tuple[list[RunSnapshot], int]:
    """One page of runs, newest first (start_time desc, id desc), and the total count.

    The page's ids are found first on the filter's ordering index alone (an
    index-only scan however deep the page), then only those rows are read; the
    count is :func:`count_runs`.
    """
    total = count_runs(conn, flt)
    return _snapshots(conn, _page_runs(conn, flt, page, page_size)), total


@dataclass(frozen=True)
class RunSummaries:
    """A page of ``GET /run/?view=summary``: runs, their (tasks, COMPLETED tasks)
    counts, and the runs that rerun them."""

    runs: list[RunRecord]
    counts: dict[str, tuple[int, int]]
    reruns: dict[str, list[str]]


def list_run_summaries(
    conn: Connection, page: int, page_size: int, flt: RunFilter
) -> tuple[RunSummaries, int]:
    """Like :func:`list_runs` without reading tasks or versions: the tasks are counted in
    one grouped query (docs/operations.md)."""
    total = count_runs(conn, flt)
    runs = _page_runs(conn, flt, page, page_size)
    ids = [r.id for r in runs]
    counts: dict[str, tuple[int, int]] = {}
    if ids:
        done = func.sum(case((TASKS.c.status == TaskStatus.COMPLETED.value, 1), else_=0))
        rows = conn.execute(
            select(TASKS.c.run_id, func.count(), done)
            .where(TASKS.c.run_id.in_(ids))
            .group_by(TASKS.c.run_id)
        )
        counts = {rid: (int(n), int(d or 0)) for rid, n, d in rows}
    return RunSummaries(runs, counts, reruns_of(conn, ids) if ids else {}), total


def list_children(
    conn: Connection, run_id: str, page: int | None, page_size: int | None
) -> tuple[list[RunSnapshot], int]:
    """Direct children oldest first (batch: row order); NotFound for an unknown run."""
    get_run(conn, run_id)
    where = RUNS.c.parent_run_id == run_id
    total = conn.execute(select(func.count()).select_from(RUNS).where(where)).scalar_one()
    query = select(*RUN_COLS).where(where).order_by(RUNS.c.seq, RUNS.c.start_time, RUNS.c.id)
    if page is not None and page_size is not None:
        query = query.limit(page_size).offset((page - 1) * page_size)
        return _snapshots(conn, [run_record(r) for r in conn.execute(query)]), total
    children = [run_record(r) for r in conn.execute(query)]
    return _snapshots(conn, children, select(RUNS.c.id).where(where)), total


# -- writes (run inside the writer's transaction) ------------------------------------


def insert_run(conn: Connection, run: RunRecord, tasks: list[TaskRecord]) -> None:
    """Insert a run and its tasks (on the driver's cursor: every run starts here)."""
    pg = conn.dialect.name == "postgresql"
    executemany(conn, _run_sql.insert_sql(RUNS, pg), [_run_sql.row_of(RUNS, run_values(run), pg)])
    if tasks:
        rows = [_run_sql.row_of(TASKS, task_values(t), pg) for t in tasks]
        executemany(conn, _run_sql.insert_sql(TASKS, pg), rows)
    events.remember_workflow(run.id, run.workflow_id)
    events.emit_run(conn, run.id, run.status.value, {"start_time": run.start_time})


def save_tasks(
    conn: Connection,
    tasks: list[TaskRecord],
    expect: frozenset[TaskStatus],
    attempts: Sequence[AttemptRecord] = (),
) -> int:
    """Write tasks' mutable fields where the stored status is in ``expect``; count written.

    ``attempts`` (finished attempts, with their log lines) are stored first, whatever
    is written of the tasks: they happened (docs/observability.md).
    """
    events.insert_attempts(conn, list(attempts))
    if not tasks or not expect:
        return 0
    pg = conn.dialect.name == "postgresql"
    allowed = tuple(s.value for s in sorted(expect))
    rows = [
        (
            t.status.value,
            db_time(t.start_time, pg),
            db_time(t.end_time, pg),
            db_json(t.inputs),
            db_json(t.outputs),
            t.error,
            t.attempts,
            t.traceback,
            db_time(t.ready_time, pg),
            t.id,
            *allowed,
        )
        for t in tasks
    ]
    # Both SQLite and psycopg report the rows matched by all the parameter sets.
    written = executemany(conn, _run_sql.save_tasks_sql(len(allowed), pg), rows)
    if written == len(tasks):
        tasks_saved(tasks)
        events.emit_tasks(conn, tasks)
    elif written:
        stored = dict(
            conn.execute(
                select(TASKS.c.id, TASKS.c.status).where(TASKS.c.id.in_([t.id for t in tasks]))
            ).all()
        )
        events.emit_tasks(conn, [t for t in tasks if stored.get(t.id) == t.status.value])
    return written


def transition_run(
    conn: Connection,
    run_id: str,
    expect: frozenset[RunStatus],
    status: RunStatus,
    changes: dict[str, Any] | None = None,
) -> bool:
    """Conditional status change (docs/runs-api.md#statuses): applies only from ``expect``.

    ``changes`` maps other ``runs`` columns to their new values. An applied change
    queues its notifications in the same transaction (see docs/operations.md).
    """
    if not expect:
        return False
    changes = changes or {}
    pg = conn.dialect.name == "postgresql"
    changed = tuple(sorted(changes))
    values = [
        status.value,
        *(_run_sql.bound(_run_sql.RUN_KINDS[name], changes[name], pg) for name in changed),
        run_id,
        *(s.value for s in sorted(expect)),
    ]
    rows = fetchall(conn, _run_sql.transition_sql(len(expect), changed, pg), values)
    if not rows:
        return False
    rid, workflow_id, parent_run_id, run_type, start, end, message = rows[0]
    row = RunRow(
        rid,
        workflow_id,
        parent_run_id,
        run_type,
        db_time_out(start, pg) or start,
        db_time_out(end, pg),
        message,
    )
    events.remember_workflow(run_id, workflow_id)
    after_transition(conn, row, status, changes.get("end_time") or now())
    events.emit_run(conn, run_id, status.value, changes)
    return True


def cancel_run(conn: Connection, run_id: str, at: datetime, message: str) -> RunRecord:
    """Cancel a PENDING/RUNNING/PAUSED run, its unfinished tasks and its children.

    Raises:
        NotFound: unknown run.
        Conflict: the run already finished.
    """
    cancel_run_tree(conn, run_id, at, message)
    return get_run(conn, run_id)


def cancel_run_tree(
    conn: Connection, run_id: str, at: datetime, message: str, canceled_by: str | None = None
) -> list[str]:
    """Like :func:`cancel_run`; returns the ids of every run canceled (the run first).

    The run's status changes with a conditional update, so of two racing cancels
    (or a cancel racing the run's end) exactly one applies (docs/runs-api.md#pause-cancel-retry).

    Raises:
        NotFound: unknown run.
        Conflict: the run already finished.
    """
    changes = {"end_time": at, "message": message, "canceled_by": canceled_by}
    if not transition_run(conn, run_id, RUN_CANCELABLE, RunStatus.CANCELED, changes):
        status = get_run(conn, run_id).status  # NotFound for an unknown run
        raise Conflict(f"Run {run_id} is already {status.value}")
    return cancel_tree(conn, [run_id], at)


def cancel_tree(conn: Connection, run_ids: list[str], at: datetime) -> list[str]:
    """Cancel the unfinished tasks of ``run_ids`` (runs already CANCELED) and, recursively,
    their active children with their tasks. Returns every run id of the tree.
    """
    active = [RunStatus.PENDING.value, RunStatus.RUNNING.value, RunStatus.PAUSED.value]
    unfinished = [TaskStatus.PENDING.value, TaskStatus.RUNNING.value, TaskStatus.PAUSED.value]
    canceled = list(run_ids)
    while run_ids:
        emit_task_changes(
            conn,
            update(TASKS)
            .where(TASKS.c.run_id.in_(run_ids), TASKS.c.status.in_(unfinished))
            .values(status=TaskStatus.CANCELED.value, end_time=at),
        )
        children = [
            r[0]
            for r in conn.execute(
                select(RUNS.c.id).where(
                    RUNS.c.parent_run_id.in_(run_ids), RUNS.c.status.in_(active)
                )
            )
        ]
        if children:
            message = "Canceled with its parent run"
            done = conn.execute(
                update(RUNS)
                .where(RUNS.c.id.in_(children), RUNS.c.status.in_(active))
                .values(status=RunStatus.CANCELED.value, end_time=at, message=message)
                .returning(RUNS.c.id)
            ).all()
            for (rid,) in done:
                changes = {"end_time": at, "message": message}
                events.emit_run(conn, rid, RunStatus.CANCELED.value, changes)
        canceled.extend(children)
        run_ids = children
    return canceled


def emit_task_changes(conn: Connection, statement: Update) -> int:
    """Run an UPDATE of tasks and emit a task event for each row it changed.

    Returns the number of rows changed.
    """
    rows = conn.execute(statement.returning(*TASK_COLS)).all()
    events.emit_tasks(conn, [task_record(r) for r in rows])
    return len(rows)


def delete_run(conn: Connection, run_id: str) -> list[str]:
    """Delete a finished or paused run and, through cascades, its tasks, pauses, children.

    Returns the output file ids of the deleted runs (their files are removed by the caller).

    Raises:
        NotFound: unknown run.
        Conflict: the run is PENDING or RUNNING.
    """
    run = get_run(conn, run_id)
    if run.status in (RunStatus.PENDING, RunStatus.RUNNING):
        raise Conflict(f"Run {run_id} is {run.status.value}; cancel it before deleting it")
    tree, frontier = [run_id], [run_id]
    while frontier:
        frontier = [
            r[0] for r in conn.execute(select(RUNS.c.id).where(RUNS.c.parent_run_id.in_(frontier)))
        ]
        tree.extend(frontier)
    files = [
        r[0]
        for r in conn.execute(
            select(RUNS.c.output_file_id).where(
                RUNS.c.id.in_(tree), RUNS.c.output_file_id.is_not(None)
            )
        )
    ]
    conn.execute(delete(RUNS).where(RUNS.c.id == run_id))
    return files
