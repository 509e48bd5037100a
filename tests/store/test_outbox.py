"""The webhook outbox (docs/operations.md, Notifications): deliveries are queued in
the transaction of the run's status change, and of processes claiming at once each
delivery is claimed by exactly one; a claim whose process died is taken over."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.conftest import make_settings

from spurline.engine.clock import new_id, now
from spurline.engine.states import RunStatus
from spurline.store import notifications as outbox
from spurline.store import runs as run_q
from spurline.store import workflows as wf_q
from spurline.store.db import Database
from spurline.store.notifications import DeliveryStatus, WebhookRecord
from spurline.store.orm import DELIVERIES, RUNS
from spurline.store.seed import seed_runs
from spurline.store.versions import versions

DEFINITION = {
    "nodes": [
        {"id": "in", "node_type": "InputNode", "config": {"output_schema": {}}},
        {"id": "out", "node_type": "OutputNode", "config": {}},
    ],
    "links": [{"source_id": "in", "target_id": "out"}],
}


def _runs(db: Database, count: int) -> tuple[str, list[str]]:
    wf = db.writer.run(lambda c: wf_q.create_workflow(c, "w", None, DEFINITION))
    version = db.read(lambda c: versions.get(c, wf.current_version_id or ""))
    db.writer.run(lambda c: seed_runs(c, version, count))
    ids = [r[0] for r in db.read(lambda c: c.execute(select(RUNS.c.id)).all())]
    return wf.id, ids


def _hook(db: Database, events: list[str], workflow_id: str | None = None) -> str:
    hook = WebhookRecord(
        new_id("H"), "http://127.0.0.1:9/", events, workflow_id, None, True, now(), now()
    )
    db.writer.run(lambda c: outbox.create_webhook(c, hook, "whsec_x"))
    return hook.id


def _deliveries(db: Database) -> int:
    return int(
        db.read(lambda c: c.execute(select(func.count()).select_from(DELIVERIES)).scalar_one())
    )


def test_a_status_change_queues_matching_deliveries_in_its_transaction(db: Database) -> None:
    wf, [run_id, *_] = _runs(db, 2)
    _hook(db, ["FAILED"])
    _hook(db, ["FAILED", "COMPLETED"], workflow_id=wf)
    _hook(db, ["COMPLETED"])  # not this event
    _hook(db, ["FAILED"], workflow_id=_runs(db, 0)[0])  # another workflow
    done = frozenset({RunStatus.COMPLETED})

    def fail_then_roll_back(conn: object) -> None:
        assert run_q.transition_run(conn, run_id, done, RunStatus.FAILED, {"end_time": now()})  # type: ignore[arg-type]
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        db.writer.run(fail_then_roll_back)
    assert _deliveries(db) == 0  # the change rolled back, and its deliveries with it
    assert db.writer.run(
        lambda c: run_q.transition_run(c, run_id, done, RunStatus.FAILED, {"end_time": now()})
    )
    assert _deliveries(db) == 2
    assert not db.writer.run(lambda c: run_q.transition_run(c, run_id, done, RunStatus.FAILED))
    assert _deliveries(db) == 2  # a change that did not apply queues nothing


def test_concurrent_claims_take_each_delivery_once(tmp_path: Path, backend: str) -> None:
    settings, cleanup = make_settings(tmp_path, backend)
    first = Database(settings.resolved_database_url())
    second = Database(settings.resolved_database_url())
    try:
        first.upgrade()
        _, ids = _runs(first, 200)
        _hook(first, ["COMPLETED"])
        at = now()
        for run_id in ids:
            row = {
                "id": run_id,
                "workflow_id": "W",
                "run_type": "interactive",
                "start_time": at,
                "end_time": at,
                "message": None,
            }
            first.writer.run(lambda c, row=row: outbox.enqueue(c, row, RunStatus.COMPLETED, at))
        claimed: dict[str, list[str]] = {"one": [], "two": []}

        def claim(db: Database, owner: str) -> None:
            while got := db.writer.run(lambda c: outbox.claim_due(c, owner, now(), 7, 60, 5)):
                claimed[owner] += [d.id for d in got]

        threads = [
            threading.Thread(target=claim, args=a) for a in ((first, "one"), (second, "two"))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        everything = claimed["one"] + claimed["two"]
        assert len(everything) == 200
        assert len(set(everything)) == 200
    finally:
        first.close()
        second.close()
        cleanup()


def test_a_dead_senders_claim_is_taken_over_then_fails_at_the_last_attempt(db: Database) -> None:
    _, [run_id] = _runs(db, 1)
    _hook(db, ["COMPLETED"])
    at = now()
    row = {
        "id": run_id,
        "workflow_id": "W",
        "run_type": "interactive",
        "start_time": at,
        "end_time": at,
        "message": None,
    }
    db.writer.run(lambda c: outbox.enqueue(c, row, RunStatus.COMPLETED, at))
    [mine] = db.writer.run(lambda c: outbox.claim_due(c, "dead", at, 10, 30, 2))
    assert mine.attempts == 1
    assert db.writer.run(lambda c: outbox.claim_due(c, "other", at, 10, 30, 2)) == []  # held
    later = at + timedelta(seconds=31)
    [taken] = db.writer.run(lambda c: outbox.claim_due(c, "other", later, 10, 30, 2))
    assert (taken.id, taken.attempts) == (mine.id, 2)
    # the dead process's late answer no longer counts
    assert not db.writer.run(
        lambda c: outbox.finish_attempt(
            c, mine.id, "dead", status=DeliveryStatus.DELIVERED, at=later
        )
    )
    much_later = later + timedelta(seconds=31)
    assert db.writer.run(lambda c: outbox.claim_due(c, "third", much_later, 10, 30, 2)) == []
    [log], total = db.read(
        lambda c: outbox.list_deliveries(c, outbox.list_webhooks(c)[0].id, 1, 10)
    )
    assert total == 1
    assert (log.status, log.attempts) == ("FAILED", 2)
    assert log.last_error == "the process sending the last attempt stopped"
