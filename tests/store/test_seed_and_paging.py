"""Store queries behind the Runs API and the engine's writes, on every backend:
paging with counts, conditional task saves (executemany), and bulk seeding.
"""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from spurline.engine.clock import now
from spurline.engine.records import TaskRecord, VersionRecord
from spurline.engine.states import RunStatus, TaskStatus
from spurline.nodes.registry import parse_definition
from spurline.store import runs as q
from spurline.store import workflows as wf_q
from spurline.store.db import Database
from spurline.store.seed import seed_runs
from spurline.store.versions import versions

CHAIN = {
    "nodes": [
        {"id": "in", "title": "In", "node_type": "InputNode", "config": {}},
        {"id": "s", "title": "S", "node_type": "StaticValueNode", "config": {"values": {"a": 1}}},
        {"id": "out", "title": "Out", "node_type": "OutputNode", "config": {}},
    ],
    "links": [{"source_id": "in", "target_id": "s"}, {"source_id": "s", "target_id": "out"}],
}


@pytest.fixture
def store(db: Database) -> tuple[Database, VersionRecord]:
    """The database with one stored chain workflow, and that workflow's version."""
    definition = parse_definition(CHAIN).dump()
    wf = db.writer.run(lambda c: wf_q.create_workflow(c, "chain", None, definition))
    vid = wf.current_version_id or ""
    return db, db.read(lambda c: versions.get(c, vid))


def test_seeded_runs_page_newest_first_with_total(store: tuple[Database, VersionRecord]) -> None:
    db, version = store
    assert db.writer.run(lambda c: seed_runs(c, version, 25, batch=10)) == 25

    first, total = db.read(lambda c: q.list_runs(c, 1, 10, q.RunFilter()))
    last, _ = db.read(lambda c: q.list_runs(c, 3, 10, q.RunFilter()))
    beyond, _ = db.read(lambda c: q.list_runs(c, 4, 10, q.RunFilter()))

    assert total == 25
    assert [s.run.initial_inputs for s in first][:2] == [{"in": {"v": 24}}, {"in": {"v": 23}}]
    assert [s.run.initial_inputs["in"]["v"] for s in last] == [4, 3, 2, 1, 0]  # type: ignore[index]
    assert beyond == []
    snap = first[0]
    assert snap.run.status is RunStatus.COMPLETED
    assert [t.node_id for t in snap.tasks] == ["in", "s", "out"]
    assert all(t.status is TaskStatus.COMPLETED for t in snap.tasks)
    assert snap.tasks[0].outputs == {"v": 24}
    assert snap.version is not None and snap.version.id == version.id


def test_filtered_page_counts_only_matching_runs(store: tuple[Database, VersionRecord]) -> None:
    db, version = store
    db.writer.run(lambda c: seed_runs(c, version, 5))
    flt = q.RunFilter(statuses=(RunStatus.FAILED,))

    page, total = db.read(lambda c: q.list_runs(c, 1, 10, flt))

    assert (page, total) == ([], 0)


def test_save_tasks_writes_only_tasks_in_expected_states(
    store: tuple[Database, VersionRecord],
) -> None:
    db, version = store
    db.writer.run(lambda c: seed_runs(c, version, 1))
    snap = db.read(lambda c: q.list_runs(c, 1, 1, q.RunFilter()))[0][0]
    a, b, c_ = snap.tasks
    at = now() + timedelta(seconds=1)
    failed = TaskRecord(a.id, a.run_id, a.node_id, a.node_type, 0, TaskStatus.FAILED, at, at)
    failed.error, failed.attempts = "Boom: x", 2
    canceled = TaskRecord(c_.id, c_.run_id, c_.node_id, c_.node_type, 2, TaskStatus.CANCELED)
    changed = [failed, canceled]

    written = db.writer.run(lambda c: q.save_tasks(c, changed, frozenset({TaskStatus.COMPLETED})))
    refused = db.writer.run(
        lambda c: q.save_tasks(c, changed, frozenset({TaskStatus.PENDING, TaskStatus.RUNNING}))
    )

    tasks = db.read(lambda c: q.get_tasks(c, a.run_id))
    assert (written, refused) == (2, 0)
    assert [(t.status, t.error, t.attempts) for t in tasks] == [
        (TaskStatus.FAILED, "Boom: x", 2),
        (TaskStatus.COMPLETED, None, 1),
        (TaskStatus.CANCELED, None, 0),
    ]
    assert tasks[0].end_time == at and tasks[0].outputs is None
    assert tasks[0].end_time.tzinfo is UTC and tasks[1].start_time.tzinfo is UTC  # type: ignore[union-attr]
    assert tasks[2].start_time is None
    assert tasks[1].outputs == b.outputs
