"""Run queries and conditional writes of the SQL store (SPEC §2.3, STYLE habit 5)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from spurline.engine.clock import new_id, now
from spurline.engine.records import RunRecord, TaskRecord
from spurline.engine.states import RunStatus, TaskStatus
from spurline.exceptions import Conflict, NotFound
from spurline.store import runs as q
from spurline.store import workflows as wf_q
from spurline.store.db import Database

DEFINITION = {"nodes": [{"id": "in", "title": "in", "node_type": "InputNode", "config": {}}]}


def add_runs(
    db: Database, count: int, start_times: list[datetime] | None = None
) -> list[RunRecord]:
    wf = db.writer.run(lambda c: wf_q.create_workflow(c, "w", None, DEFINITION))
    base = now()
    runs: list[tuple[RunRecord, list[TaskRecord]]] = []
    for i in range(count):
        start = start_times[i] if start_times else base
        run = RunRecord(new_id("R"), wf.id, wf.current_version_id, RunStatus.RUNNING, start)
        task = TaskRecord(new_id("T"), run.id, "in", "InputNode", 0)
        runs.append((run, [task]))
    shuffled = runs[:]
    random.Random(7).shuffle(shuffled)
    for run, tasks in shuffled:
        db.writer.run(lambda c, r=run, t=tasks: q.insert_run(c, r, t))
    return [r for r, _ in runs]


def test_equal_start_times_page_by_id(db: Database) -> None:
    base = now()
    times = [base] * 12 + [base - timedelta(milliseconds=1)] * 3
    runs = add_runs(db, len(times), times)
    expected = [r.id for r in sorted(runs, key=lambda r: (r.start_time, r.id), reverse=True)]
    for size in (1, 2, 7, 15):
        seen: list[str] = []
        page = 1
        while True:
            snaps, total = db.read(lambda c, p=page, s=size: q.list_runs(c, p, s, q.RunFilter()))
            assert total == len(runs)
            if not snaps:
                break
            seen += [s.run.id for s in snaps]
            page += 1
        assert seen == expected


def test_transition_applies_only_from_expected_states(db: Database) -> None:
    [run] = add_runs(db, 1)
    running = frozenset({RunStatus.RUNNING})
    done = {"end_time": now(), "message": None}
    first = db.writer.run(lambda c: q.transition_run(c, run.id, running, RunStatus.COMPLETED, done))
    again = db.writer.run(lambda c: q.transition_run(c, run.id, running, RunStatus.FAILED, done))
    assert (first, again) == (True, False)
    assert db.read(lambda c: q.get_run(c, run.id)).status is RunStatus.COMPLETED


def test_save_tasks_skips_tasks_not_in_expected_states(db: Database) -> None:
    [run] = add_runs(db, 1)
    [task] = db.read(lambda c: q.get_tasks(c, run.id))
    task.status, task.outputs = TaskStatus.COMPLETED, {"x": 1}
    writable = frozenset({TaskStatus.PENDING, TaskStatus.RUNNING})
    assert db.writer.run(lambda c: q.save_tasks(c, [task], writable)) == 1
    task.status = TaskStatus.FAILED
    assert db.writer.run(lambda c: q.save_tasks(c, [task], writable)) == 0
    [stored] = db.read(lambda c: q.get_tasks(c, run.id))
    assert (stored.status, stored.outputs) == (TaskStatus.COMPLETED, {"x": 1})


def test_delete_refuses_active_runs_and_unknown_ids(db: Database) -> None:
    [run] = add_runs(db, 1)
    with pytest.raises(Conflict, match="is RUNNING; cancel it before deleting it"):
        db.writer.run(lambda c: q.delete_run(c, run.id))
    with pytest.raises(NotFound):
        db.writer.run(lambda c: q.delete_run(c, "RNOPE"))
    assert db.read(lambda c: q.get_run(c, run.id)).status is RunStatus.RUNNING


def test_datetimes_come_back_timezone_aware_and_exact(db: Database) -> None:
    [run] = add_runs(db, 1)
    stored = db.read(lambda c: q.get_run(c, run.id))
    assert stored.start_time == run.start_time
    assert stored.start_time.utcoffset() == timedelta(0)
