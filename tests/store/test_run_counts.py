"""``GET /run/`` at any store size (docs/runs-api.md#endpoints-and-paging): the counts
kept in ``run_counts`` equal counting the runs after every kind of write, and each
filter's page is found on an index, never by scanning or sorting every run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Connection, event, func, select
from tests.store.test_seed_and_paging import CHAIN

from spurline.engine.clock import new_id, now
from spurline.engine.records import RunRecord, VersionRecord
from spurline.engine.states import RunStatus
from spurline.nodes.registry import parse_definition
from spurline.store import runs as q
from spurline.store import workflows as wf_q
from spurline.store.db import Database
from spurline.store.orm import RUNS
from spurline.store.seed import seed_runs
from spurline.store.versions import versions

S = RunStatus
FILTERS = {
    "none": q.RunFilter(),
    "parent_only": q.RunFilter(parent_only=True),
    "status": q.RunFilter((S.COMPLETED,)),
    "statuses": q.RunFilter((S.COMPLETED, S.FAILED, S.COMPLETED)),
    "parent_statuses": q.RunFilter((S.RUNNING, S.COMPLETED), parent_only=True),
    "run_type": q.RunFilter(run_type="batch"),
    "workflow": q.RunFilter(workflow_id="W-none"),
    "schedule": q.RunFilter(schedule_id="S-none"),
    "start_date": q.RunFilter(start_date=now() - timedelta(seconds=1)),
    "end_date": q.RunFilter(end_date=now() - timedelta(days=1)),
    "tag": q.RunFilter(tags=("nightly",)),
    "metadata": q.RunFilter(metadata=(("team", "a"),)),
}


@pytest.fixture
def store(db: Database) -> tuple[Database, VersionRecord]:
    definition = parse_definition(CHAIN).dump()
    wf = db.writer.run(lambda c: wf_q.create_workflow(c, "chain", None, definition))
    return db, db.read(lambda c: versions.get(c, wf.current_version_id or ""))


def _child(parent: RunRecord, seq: int) -> RunRecord:
    return RunRecord(
        id=new_id("R"),
        workflow_id=parent.workflow_id,
        workflow_version_id=parent.workflow_version_id,
        status=S.RUNNING,
        start_time=now(),
        parent_run_id=parent.id,
        seq=seq,
        run_type="batch",
    )


def _counted(conn: Connection) -> dict[str, tuple[int, int]]:
    """Per filter: (count_runs, a plain count(*) of the same filter)."""
    return {
        name: (
            q.count_runs(conn, flt),
            conn.execute(select(func.count()).select_from(RUNS).where(*flt.clauses())).scalar_one(),
        )
        for name, flt in FILTERS.items()
    } | {
        "wf": (
            q.count_runs(conn, q.RunFilter((S.RUNNING,), workflow_id=parent_wf(conn))),
            conn.execute(
                select(func.count())
                .select_from(RUNS)
                .where(RUNS.c.status == "RUNNING", RUNS.c.workflow_id == parent_wf(conn))
            ).scalar_one(),
        )
    }


def parent_wf(conn: Connection) -> str:
    return str(conn.execute(select(RUNS.c.workflow_id).limit(1)).scalar() or "")


def _assert_exact(db: Database) -> dict[str, tuple[int, int]]:
    counted = db.read(_counted)
    assert {k: a for k, (a, _) in counted.items()} == {k: b for k, (_, b) in counted.items()}
    return counted


def test_counts_stay_exact_through_inserts_transitions_cancels_and_deletes(
    store: tuple[Database, VersionRecord],
) -> None:
    db, version = store
    db.writer.run(lambda c: seed_runs(c, version, 7, batch=3))
    parent = db.read(lambda c: q.list_runs(c, 1, 1, q.RunFilter()))[0][0].run
    children = [_child(parent, i) for i in range(4)]
    for child in children:
        db.writer.run(lambda c, r=child: q.insert_run(c, r, []))
    assert _assert_exact(db)["none"][0] == 11
    assert _assert_exact(db)["parent_only"][0] == 7
    assert _assert_exact(db)["wf"][0] == 4

    done = {"end_time": now()}
    db.writer.run(
        lambda c: q.transition_run(c, children[0].id, frozenset({S.RUNNING}), S.FAILED, done)
    )
    db.writer.run(lambda c: q.cancel_tree(c, [children[1].id], now()))
    assert _assert_exact(db)["statuses"][0] == 8  # 7 COMPLETED + 1 FAILED

    # deleting the parent cascades to its children: the triggers see those deletes too
    db.writer.run(lambda c: q.delete_run(c, parent.id))
    counted = _assert_exact(db)
    assert (counted["none"][0], counted["run_type"][0]) == (6, 0)

    db.writer.run(lambda c: wf_q.delete_workflow(c, version.workflow_id))
    assert _assert_exact(db)["none"][0] == 0


def test_each_filter_pages_from_an_index(store: tuple[Database, VersionRecord]) -> None:
    db, version = store
    if db.url.startswith("postgresql"):
        pytest.skip("PostgreSQL plans depend on its statistics: see the next test")
    db.writer.run(lambda c: seed_runs(c, version, 30))

    def plans(conn: Connection) -> dict[str, str]:
        out = {}
        for name, flt in FILTERS.items():
            values = flt.params() | {"f_limit": 10, "f_offset": 10, "f_upto": 20}
            sql = (
                q._page_ids(flt)
                .params(values)
                .compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            )
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
            out[name] = " / ".join(r[3] for r in rows)
        return out

    for name, plan in db.read(plans).items():
        assert "SCAN runs" not in plan.replace("SCAN runs USING COVERING INDEX ix_runs_start", "")
        if name in ("tag", "metadata"):
            # the tag's runs are found on the tag index, then only those are sorted
            assert "ix_run_tags_tag" in plan or "ix_run_metadata_key_value" in plan
        elif name.endswith("statuses"):
            # one newest-first range per status, merged: only page x statuses rows sorted
            assert plan.count("ix_runs_status_start (status=?)") == 2
        else:
            assert "TEMP B-TREE" not in plan, (name, plan)


def test_a_count_is_one_small_query_on_sqlite(store: tuple[Database, VersionRecord]) -> None:
    db, version = store
    if db.url.startswith("postgresql"):
        pytest.skip("PostgreSQL counts with its indexes (migration speed_reads)")
    db.writer.run(lambda c: seed_runs(c, version, 20))

    def plan(conn: Connection, flt: q.RunFilter) -> str:
        statements: list[str] = []

        def seen(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(conn, "before_cursor_execute", seen)
        try:
            assert q.count_runs(conn, flt) == 20
        finally:
            event.remove(conn, "before_cursor_execute", seen)
        return " ".join(statements)

    for flt in (q.RunFilter(), q.RunFilter((S.COMPLETED,), parent_only=True)):
        sql = db.read(lambda c, f=flt: plan(c, f))
        assert "run_counts" in sql and "FROM runs" not in sql


def test_each_filter_can_page_from_an_index_on_postgres(
    store: tuple[Database, VersionRecord],
) -> None:
    db, version = store
    if not db.url.startswith("postgresql"):
        pytest.skip("SQLite: see test_each_filter_pages_from_an_index")
    db.writer.run(lambda c: seed_runs(c, version, 30))

    def plans(conn: Connection) -> dict[str, str]:
        # 30 runs fit a page: forbid the sequential scan a tiny table deserves, so
        # the plan shows whether an index serves the filter and its order
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        out = {}
        for name, flt in FILTERS.items():
            values = flt.params() | {"f_limit": 10, "f_offset": 10, "f_upto": 20}
            sql = (
                q._page_ids(flt)
                .params(values)
                .compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            )
            out[name] = " / ".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {sql}").all())
        return out

    for name, plan in db.read(plans).items():
        assert "Seq Scan on runs" not in plan, (name, plan)
        assert "Index" in plan, (name, plan)
