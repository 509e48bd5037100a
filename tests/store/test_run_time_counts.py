"""``X-Total-Count`` of a ``start_date`` / ``end_date`` range
(docs/runs-api.md#endpoints-and-paging): on SQLite it is summed from
``run_time_counts`` (minute, hour and day buckets kept by triggers) plus the runs of
the range's two partial minutes, and equals counting the runs after any mix of
inserts, status changes, deletes (cascades included), prunes and workflow deletes;
on PostgreSQL it is counted on the indexes."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, event, func, select, update
from tests.store.test_seed_and_paging import CHAIN

from spurline.engine.clock import new_id
from spurline.engine.records import RunRecord
from spurline.engine.states import RunStatus
from spurline.exceptions import Conflict
from spurline.nodes.registry import parse_definition
from spurline.store import migrate, retention, summaries
from spurline.store import runs as q
from spurline.store import workflows as wf_q
from spurline.store.db import Database
from spurline.store.orm import RUN_TIME_COUNTS, RUNS
from spurline.store.seed import seed_runs
from spurline.store.time_counts import pieces
from spurline.store.versions import versions

S = RunStatus
#: a day boundary, so that ranges around it cut minutes, hours and days
BASE = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
FINISHED = (S.COMPLETED, S.FAILED, S.CANCELED)


def _moment(seconds: int, micro: int) -> datetime:
    return BASE + timedelta(seconds=seconds, microseconds=micro)


# seconds from BASE: mostly on or next to a minute, hour or day boundary (so runs and
# bounds often coincide), else anywhere within two days either side
EDGES = [-86460, -86400, -3601, -3600, -61, -60, -1, 0, 1, 59, 60, 61, 3599, 3600, 86399, 86400]
moments = st.builds(
    _moment,
    st.one_of(st.sampled_from(EDGES), st.integers(-2 * 86400, 2 * 86400)),
    st.sampled_from([0, 1, 999_999]),
)
inserts = st.tuples(
    st.just("insert"),
    moments,
    st.sampled_from(list(S)),
    st.integers(0, 1),
    st.booleans(),
    st.sampled_from(["interactive", "batch"]),
)
transitions = st.tuples(st.just("transition"), st.integers(0, 50), st.sampled_from(list(S)))
deletes = st.tuples(st.just("delete"), st.integers(0, 50))
prunes = st.tuples(st.just("prune"), moments)
moves = st.tuples(st.just("move"), st.integers(0, 50), moments)
operations = st.lists(
    st.one_of(inserts, inserts, transitions, deletes, prunes, moves), min_size=1, max_size=25
)
# a bound: none, a moment, or a stored run's start time give or take a microsecond
bounds = st.one_of(
    st.none(),
    moments,
    st.tuples(st.integers(0, 50), st.sampled_from([-1, 0, 1])),
)
filters = st.builds(
    lambda start, end, statuses, wf, run_type, parent_only: (
        start,
        end,
        tuple(statuses),
        wf,
        run_type,
        parent_only,
    ),
    bounds,
    bounds,
    st.lists(st.sampled_from(list(S)), max_size=2),
    st.one_of(st.none(), st.integers(0, 1)),
    st.one_of(st.none(), st.sampled_from(["interactive", "batch"])),
    st.booleans(),
)

# the runs page's counts: started_after, started_before, until, start_date, end_date
summary_filters = st.tuples(
    st.tuples(bounds, bounds, bounds, bounds, bounds),
    st.one_of(st.none(), st.integers(0, 1)),
    st.one_of(st.none(), st.sampled_from(["interactive", "batch"])),
    st.booleans(),
)


@pytest.fixture
def workflows(db: Database) -> tuple[Database, list[tuple[str, str]]]:
    """The database with two workflows: [(workflow id, version id)]."""
    definition = parse_definition(CHAIN).dump()
    made = [
        db.writer.run(lambda c, n=n: wf_q.create_workflow(c, n, None, definition))
        for n in ("one", "two")
    ]
    return db, [(w.id, w.current_version_id or "") for w in made]


def _apply(conn: Connection, op: tuple[Any, ...], wfs: list[tuple[str, str]]) -> None:
    ids = [r[0] for r in conn.execute(select(RUNS.c.id).order_by(RUNS.c.id))]
    kind = op[0]
    if kind == "insert":
        _, start, status, wf, child, run_type = op
        parents = [
            r[0] for r in conn.execute(select(RUNS.c.id).where(RUNS.c.parent_run_id.is_(None)))
        ]
        run = RunRecord(
            id=new_id("R"),
            workflow_id=wfs[wf][0],
            workflow_version_id=wfs[wf][1],
            status=status,
            start_time=start,
            end_time=start + timedelta(seconds=1) if status in FINISHED else None,
            parent_run_id=parents[0] if child and parents else None,
            run_type=run_type,
        )
        q.insert_run(conn, run, [])
    elif kind == "transition" and ids:
        run_id, status = ids[op[1] % len(ids)], op[2]
        q.transition_run(conn, run_id, frozenset(S), status, {"end_time": BASE})
    elif kind == "delete" and ids:
        with contextlib.suppress(Conflict):  # PENDING or RUNNING: not deletable
            q.delete_run(conn, ids[op[1] % len(ids)])
    elif kind == "prune":
        for status in retention.PRUNABLE:
            retention.prune_batch(conn, op[1], status, 3)
    elif kind == "move" and ids:  # no route moves a run in time; the triggers allow it
        conn.execute(
            update(RUNS).where(RUNS.c.id == ids[op[1] % len(ids)]).values(start_time=op[2])
        )


def _bound(conn: Connection, bound: Any) -> datetime | None:
    if not isinstance(bound, tuple):
        return bound  # type: ignore[no-any-return]
    starts = [r[0] for r in conn.execute(select(RUNS.c.start_time).order_by(RUNS.c.id))]
    if not starts:
        return None
    return starts[bound[0] % len(starts)] + timedelta(microseconds=bound[1])  # type: ignore[no-any-return]


def _run_filter(conn: Connection, spec: tuple[Any, ...], wfs: list[tuple[str, str]]) -> q.RunFilter:
    start, end, statuses, wf, run_type, parent_only = spec
    start, end = _bound(conn, start), _bound(conn, end)
    return q.RunFilter(
        statuses,
        workflow_id=None if wf is None else wfs[wf][0],
        run_type=run_type,
        parent_only=parent_only,
        start_date=start,
        end_date=end,
    )


def _summary_filter(
    conn: Connection, spec: tuple[Any, ...], wfs: list[tuple[str, str]]
) -> summaries.SummaryFilter:
    (after, before, until, start, end), wf, run_type, parent_only = spec
    after, before, until, start, end = (_bound(conn, b) for b in (after, before, until, start, end))
    return summaries.SummaryFilter(
        workflow_id=None if wf is None else wfs[wf][0],
        run_type=run_type,
        parent_only=parent_only,
        started_after=after,
        started_before=before,
        until=until,
        found_by=q.RunFilter(start_date=start, end_date=end),
    )


def _per_status(
    conn: Connection, flt: summaries.SummaryFilter
) -> tuple[dict[str, int], dict[str, int]]:
    """(summaries.run_counts, a plain count(*) per status of the same filter)."""
    plain = (
        select(RUNS.c.status, func.count())
        .where(*flt.clauses(with_status=False))
        .group_by(RUNS.c.status)
    )
    return summaries.run_counts(conn, flt), {s: int(n) for s, n in conn.execute(plain)}


def _both(conn: Connection, flt: q.RunFilter) -> tuple[int, int]:
    """(count_runs, a plain count(*) of the same filter)."""
    plain = select(func.count()).select_from(RUNS).where(*flt.clauses())
    return q.count_runs(conn, flt), int(conn.execute(plain).scalar_one())


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=operations,
    checks=st.lists(filters, min_size=1, max_size=6),
    pages=st.lists(summary_filters, max_size=3),
)
def test_range_counts_equal_counting_after_random_writes(
    workflows: tuple[Database, list[tuple[str, str]]],
    ops: list[tuple[Any, ...]],
    checks: list[tuple[Any, ...]],
    pages: list[tuple[Any, ...]],
) -> None:
    db, wfs = workflows  # one store for every example: the writes accumulate
    for op in ops:
        db.writer.run(lambda c, op=op: _apply(c, op, wfs))
    for spec in checks:
        flt = db.read(lambda c, spec=spec: _run_filter(c, spec, wfs))
        counted, plain = db.read(lambda c, f=flt: _both(c, f))
        assert counted == plain, spec
    for spec in pages:  # GET /run_counts/ of the runs page: per status
        page = db.read(lambda c, spec=spec: _summary_filter(c, spec, wfs))
        per_status, plain_per_status = db.read(lambda c, f=page: _per_status(c, f))
        assert per_status == plain_per_status, spec


def test_counts_follow_deletes_of_a_workflow_and_leave_no_empty_buckets(
    workflows: tuple[Database, list[tuple[str, str]]],
) -> None:
    db, wfs = workflows
    for i in range(6):
        op = ("insert", BASE + timedelta(minutes=7 * i), S.COMPLETED, i % 2, False, "interactive")
        db.writer.run(lambda c, op=op: _apply(c, op, wfs))
    flt = q.RunFilter(start_date=BASE - timedelta(days=1))
    assert db.read(lambda c: _both(c, flt)) == (6, 6)
    db.writer.run(lambda c: wf_q.delete_workflow(c, wfs[0][0]))
    assert db.read(lambda c: _both(c, flt)) == (3, 3)
    rows = db.read(
        lambda c: c.execute(select(RUN_TIME_COUNTS.c.workflow_id, RUN_TIME_COUNTS.c.n)).all()
    )
    if db.url.startswith("postgresql"):
        assert rows == []  # PostgreSQL counts on its indexes (migration speed_time_counts)
    else:
        # three minutes of one run each, their hour and their day
        assert sorted(n for w, n in rows if w == wfs[1][0]) == [1, 1, 1, 3, 3]
        assert len(rows) == 5


def test_a_wide_range_reads_buckets_and_two_partial_minutes_on_sqlite(
    workflows: tuple[Database, list[tuple[str, str]]],
) -> None:
    db, wfs = workflows
    if db.url.startswith("postgresql"):
        pytest.skip("PostgreSQL counts with its indexes (migration speed_time_counts)")
    for i in range(5):
        op = ("insert", BASE + timedelta(hours=9 * i), S.COMPLETED, 0, False, "interactive")
        db.writer.run(lambda c, op=op: _apply(c, op, wfs))
    flt = q.RunFilter((S.COMPLETED,), end_date=BASE + timedelta(days=3))

    def plan(conn: Connection) -> str:
        statements: list[tuple[Any, Any]] = []

        def seen(*args: Any) -> None:
            statements.append((args[2], args[3]))

        event.listen(conn, "before_cursor_execute", seen)
        try:
            assert q.count_runs(conn, flt) == 5
        finally:
            event.remove(conn, "before_cursor_execute", seen)
        (sql, values), *others = statements
        assert others == []  # one statement
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", values).all()
        return f"{sql} / " + " / ".join(r[3] for r in rows)

    sql = db.read(plan)
    assert "run_time_counts" in sql and "SCAN runs" not in sql


def test_pieces_cut_a_range_into_partial_minutes_and_whole_buckets() -> None:
    cut = pieces(
        datetime(2026, 11, 28, 22, 58, 10, tzinfo=UTC), datetime(2026, 12, 3, 12, 5, 10, tzinfo=UTC)
    )
    assert cut.runs == (
        ("2026-11-28 22:58:10.000000", "2026-11-28 22:59:00.000000"),
        ("2026-12-03 12:05:00.000000", "2026-12-03 12:05:10.000001"),
    )
    assert cut.buckets == (
        ("2026-11-28 22:59", "2026-11-28 23:00"),
        ("2026-11-28 23", "2026-11-29 00"),
        ("2026-11-29", "2026-12-03"),
        ("2026-12-03 00", "2026-12-03 12"),
        ("2026-12-03 12:00", "2026-12-03 12:05"),
    )
    only_end = pieces(None, datetime(2026, 12, 3, 0, 0, tzinfo=UTC))
    assert only_end.buckets[2] == ("", "2026-12-03") and only_end.runs[0] == ("", "")


def test_the_migration_counts_the_runs_already_stored(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/old.db")
    try:
        migrate.upgrade(db.write_engine, "speed_nodecost")
        definition = parse_definition(CHAIN).dump()
        wf = db.writer.run(lambda c: wf_q.create_workflow(c, "chain", None, definition))
        version = db.read(lambda c: versions.get(c, wf.current_version_id or ""))
        # 150 runs 50 s apart, until a minute that is not a bucket's start
        until = BASE + timedelta(seconds=30)
        db.writer.run(
            lambda c: seed_runs(c, version, 150, spacing=timedelta(seconds=50), until=until)
        )
        db.upgrade()
        for start, end in [(None, BASE), (BASE - timedelta(minutes=77, seconds=5), None)]:
            flt = q.RunFilter(start_date=start, end_date=end)
            counted, plain = db.read(lambda c, f=flt: _both(c, f))
            assert counted == plain > 0
        days = db.read(
            lambda c: c.execute(
                select(func.sum(RUN_TIME_COUNTS.c.n)).where(RUN_TIME_COUNTS.c.span == 86400)
            ).scalar_one()
        )
        assert days == 150
    finally:
        db.close()


def test_bounds_at_a_run_s_start_time_keep_their_meaning(
    workflows: tuple[Database, list[tuple[str, str]]],
) -> None:
    db, wfs = workflows
    at = BASE + timedelta(minutes=30)
    op = ("insert", at, S.COMPLETED, 0, False, "interactive")
    db.writer.run(lambda c: _apply(c, op, wfs))
    us = timedelta(microseconds=1)
    # GET /run/: start_date and end_date are inclusive
    for start, end, expected in [(at, at, 1), (at + us, None, 0), (None, at - us, 0)]:
        flt = q.RunFilter(start_date=start, end_date=end)
        assert db.read(lambda c, f=flt: _both(c, f)) == (expected, expected)
    # the runs page: started_before is exclusive, started_after and until inclusive
    cases: list[tuple[dict[str, Any], int]] = [
        ({"started_before": at}, 0),
        ({"started_before": at + us}, 1),
        ({"started_after": at, "until": at}, 1),
        ({"until": at - us}, 0),
        ({"found_by": q.RunFilter(start_date=at, end_date=at)}, 1),
    ]
    for bounds, expected in cases:
        page = summaries.SummaryFilter(**bounds)
        counted, plain = db.read(lambda c, f=page: _per_status(c, f))
        assert counted == plain == ({"COMPLETED": 1} if expected else {}), bounds
