"""Races between processes on every backend (SPEC §4.3, §7): takeover has exactly one
winner, concurrent recoveries split the orphans, queued runs are claimed once,
concurrent workflow replacements number their versions in turn.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import Connection, Engine, update

from spurline.engine.clock import new_id, now
from spurline.engine.records import RunRecord
from spurline.engine.states import RunStatus
from spurline.store import leases
from spurline.store import runs as run_q
from spurline.store import workflows as wf_q
from spurline.store.db import Database, make_engine
from spurline.store.orm import RUNS

T = TypeVar("T")
DEFINITION = {"nodes": [{"id": "in", "title": "In", "node_type": "InputNode", "config": {}}]}


def _runs(db: Database, count: int, *, owner: str | None, lease_s: float) -> list[str]:
    """``count`` RUNNING runs whose lease (held by ``owner``) ends ``lease_s`` from now."""

    def op(conn: Connection) -> list[str]:
        wf = wf_q.create_workflow(conn, f"wf {new_id('x')}", None, DEFINITION)
        ids = []
        for _ in range(count):
            run = RunRecord(
                id=new_id("R"),
                workflow_id=wf.id,
                workflow_version_id=wf.current_version_id,
                status=RunStatus.RUNNING,
                start_time=now(),
                lease_owner=owner,
                lease_expires_at=now() + timedelta(seconds=lease_s),
            )
            run_q.insert_run(conn, run, [])
            ids.append(run.id)
        return ids

    return db.writer.run(op)


def _race(db: Database, contenders: int, op: Callable[[Connection, str], T]) -> list[T]:
    """Run ``op(conn, owner)`` in ``contenders`` threads, each with its own connection
    (as separate processes would), released at the same instant."""
    barrier = threading.Barrier(contenders)
    engines: list[Engine] = [make_engine(db.url, write=True) for _ in range(contenders)]

    def contend(i: int) -> T:
        with engines[i].connect() as conn:
            barrier.wait()
            with conn.begin():
                return op(conn, f"owner-{i}")

    try:
        with ThreadPoolExecutor(contenders) as pool:
            return list(pool.map(contend, range(contenders)))
    finally:
        for engine in engines:
            engine.dispose()


def test_exactly_one_of_racing_processes_takes_over_an_expired_run(db: Database) -> None:
    (run_id,) = _runs(db, 1, owner="dead", lease_s=-1)
    wins = _race(
        db,
        6,
        lambda c, owner: leases.take_over(c, run_id=run_id, owner=owner, at=now(), lease_s=30),
    )
    assert sorted(wins) == [False] * 5 + [True]
    owner = db.read(lambda c: run_q.get_run(c, run_id)).lease_owner
    assert owner == f"owner-{wins.index(True)}"


def test_a_live_lease_is_not_taken_over(db: Database) -> None:
    (run_id,) = _runs(db, 1, owner="alive", lease_s=30)
    won = db.writer.run(
        lambda c: leases.take_over(c, run_id=run_id, owner="other", at=now(), lease_s=30)
    )
    assert won is False
    assert (
        db.writer.run(lambda c: leases.take_over_expired(c, owner="other", at=now(), lease_s=30))
        == []
    )


def test_concurrent_recoveries_split_the_orphans_between_them(db: Database) -> None:
    orphans = _runs(db, 40, owner="dead", lease_s=-1)
    _runs(db, 5, owner="alive", lease_s=30)
    taken = _race(
        db, 4, lambda c, owner: leases.take_over_expired(c, owner=owner, at=now(), lease_s=30)
    )
    claimed = [rid for batch in taken for rid in batch]
    assert sorted(claimed) == sorted(orphans)  # every orphan once, none of the live runs


def test_a_queued_run_is_claimed_by_one_worker_only(db: Database) -> None:
    (run_id,) = _runs(db, 1, owner="api", lease_s=30)
    queued = db.writer.run(
        lambda c: leases.mark_queued(c, run_id=run_id, owner="api", at=now(), wait_s=60)
    )
    assert queued is True
    wins = _race(
        db, 4, lambda c, owner: leases.claim(c, run_id=run_id, owner=owner, at=now(), lease_s=30)
    )
    assert sorted(wins) == [False] * 3 + [True]
    # A duplicate message later finds the run owned by a live worker.
    assert not db.writer.run(
        lambda c: leases.claim(c, run_id=run_id, owner="late", at=now(), lease_s=30)
    )


def test_a_run_executing_elsewhere_is_not_enqueued_again(db: Database) -> None:
    (run_id,) = _runs(db, 1, owner="worker-1", lease_s=30)
    assert not db.writer.run(
        lambda c: leases.mark_queued(c, run_id=run_id, owner="api", at=now(), wait_s=60)
    )
    later = now() + timedelta(seconds=31)  # the worker's lease has lapsed by then
    assert db.writer.run(
        lambda c: leases.mark_queued(c, run_id=run_id, owner="api", at=later, wait_s=60)
    )


def test_finished_runs_are_not_claimed(db: Database) -> None:
    (done,) = _runs(db, 1, owner="worker-1", lease_s=-1)
    db.writer.run(
        lambda c: c.execute(
            update(RUNS).where(RUNS.c.id == done).values(status=RunStatus.COMPLETED.value)
        )
    )
    assert not db.writer.run(
        lambda c: leases.claim(c, run_id=done, owner="w", at=now(), lease_s=30)
    )


def test_concurrent_replacements_of_a_workflow_number_their_versions_in_turn(
    db: Database,
) -> None:
    wf = db.writer.run(lambda c: wf_q.create_workflow(c, "wf", None, DEFINITION))

    def replace(conn: Connection, owner: str) -> str:
        return wf_q.update_workflow(conn, wf.id, owner, None, DEFINITION).current_version_id or ""

    _race(db, 5, replace)
    numbers = [v.version for v in db.read(lambda c: wf_q.list_versions(c, wf.id))]
    assert numbers == [6, 5, 4, 3, 2, 1]
