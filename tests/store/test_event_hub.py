"""The event hub reads the store only when a commit holds events a subscriber wants
(docs/observability.md, Across processes), and still hands out every event in order."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from spurline.services.events import EventHub
from spurline.store import events
from spurline.store import workflows as wf_q
from spurline.store.db import Database
from spurline.store.orm import RUNS
from spurline.store.seed import seed_runs
from spurline.store.versions import versions

DEFINITION = {
    "nodes": [{"id": "in", "node_type": "InputNode", "config": {"output_schema": {}}}],
    "links": [],
}


def _run_ids(db: Database, count: int) -> list[str]:
    wf = db.writer.run(lambda c: wf_q.create_workflow(c, "w", None, DEFINITION))
    version = db.read(lambda c: versions.get(c, wf.current_version_id or ""))
    db.writer.run(lambda c: seed_runs(c, version, count))
    return [r[0] for r in db.read(lambda c: c.execute(select(RUNS.c.id)).all())]


def _emit(run_id: str, kind: str, **data: Any) -> Any:
    return lambda c: events.emit(c, run_id, kind, data)


def test_hints_name_runs_and_kinds_and_give_up_past_the_payload_limit() -> None:
    hints = [("R1", "W1", "task"), ("R1", "W1", "run")]
    assert events.decode_hints(events.encode_hints(hints)) == hints
    assert events.encode_hints([("R" * 40, "W" * 40, "task")] * 200) == ""
    assert events.decode_hints("") is None
    assert events.decode_hints("not json") is None


def test_unwanted_commits_are_not_read_then_and_nothing_is_missed(db: Database) -> None:
    run, other = _run_ids(db, 2)

    async def scenario() -> None:
        hub = EventHub(db, poll_s=60)  # no poll during the test: only commit signals
        hub.start()
        reads = 0
        read = db.read

        def counting_read(fn: Any) -> Any:
            nonlocal reads
            reads += 1
            return read(fn)

        db.read = counting_read  # type: ignore[method-assign]
        try:
            async with hub.subscribe(run_id=run, kinds=(events.RUN,)) as waiter:
                # PostgreSQL: the listener reads once when it has connected
                await asyncio.sleep(1.0 if db.dialect == "postgresql" else 0)
                reads = 0
                for i in range(3):
                    await db.writer.arun(_emit(run, events.TASK, i=i))
                    await db.writer.arun(_emit(other, events.RUN, status="RUNNING"))
                await asyncio.sleep(0.3)
                assert reads == 0 and not waiter.queue
                await db.writer.arun(_emit(run, events.RUN, status="COMPLETED"))
                batch = await waiter.next_batch(10)
                assert batch is not None
                assert [(e.run_id, e.kind, e.data["status"]) for e in batch] == [
                    (run, "run", "COMPLETED")
                ]
                # a subscriber of everything gets the skipped events too, in id order
                async with hub.subscribe() as everything:
                    await db.writer.arun(_emit(other, events.TASK, i=9))
                    got: list[events.Event] = []
                    async for part in hub.stream(everything, 0):
                        got += part
                        if any(e.data.get("i") == 9 for e in got):
                            break
            kinds = [(e.run_id == run, e.kind) for e in got]
            assert kinds == [(True, "task"), (False, "run")] * 3 + [
                (True, "run"),
                (False, "task"),
            ]
            assert [e.id for e in got] == sorted({e.id for e in got})
        finally:
            db.read = read  # type: ignore[method-assign]
            await hub.close()

    asyncio.run(scenario())


def test_one_commit_naming_more_runs_than_the_workflow_cache_keeps_writes_all_their_events(
    db: Database, monkeypatch: Any
) -> None:
    # The run -> workflow cache is bounded; a commit whose events name more unknown
    # runs than it keeps still writes each run's event with its workflow.
    ids = _run_ids(db, 12)
    workflow = db.read(lambda c: c.execute(select(RUNS.c.workflow_id).distinct()).scalar_one())
    monkeypatch.setattr(events, "_WORKFLOWS_KEPT", 5)
    events._workflows.clear()
    last = db.read(lambda c: max((e.id for e in events.read(c, 0, limit=10_000)), default=0))

    def emit_all(c: Any) -> None:
        for rid in ids:
            events.emit(c, rid, events.RUN, {"status": "RUNNING"})

    db.writer.run(emit_all)
    written = db.read(lambda c: events.read(c, last, kinds=(events.RUN,)))
    assert sorted(e.run_id for e in written) == sorted(ids)
    assert {e.workflow_id for e in written} == {workflow}
    assert len(events._workflows) == 5
