"""Takeover of orphaned runs is race-safe (SPEC §4.3): when several processes claim
the same expired lease at once exactly one wins, and each orphaned run executes once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import make_settings
from tests.flows import lines, links, logging_code, node

from spurline.engine.clock import now
from spurline.engine.runs import new_run
from spurline.nodes.registry import parse_definition
from spurline.runtime import Runtime
from spurline.settings import Settings
from spurline.store import leases
from spurline.store import workflows as wf_q
from spurline.store.db import Database

DEAD = "gone-host:1:01DEADOWNER"


def _definition(log: Path) -> dict[str, Any]:
    return {
        "nodes": [
            node("in", "InputNode"),
            node("work", "PythonFuncNode", code=logging_code(log, "work")),
        ],
        "links": links(("in", "work")),
    }


async def _orphans(rt: Runtime, definition: dict[str, Any], count: int) -> list[str]:
    """``count`` PENDING runs whose owner died: leases expired a second ago."""
    clean = parse_definition(definition).dump()
    wf = await rt.write(lambda c: wf_q.create_workflow(c, "orphans", None, clean))
    assert wf.current_version_id is not None
    plan = await rt.engine.plan_for(wf.current_version_id)
    ids = []
    for _ in range(count):
        run, tasks = new_run(plan, wf.id, {})
        run.lease_owner, run.lease_expires_at = DEAD, now() - timedelta(seconds=1)
        await rt.persistence.create_run(run, tasks)
        ids.append(run.id)
    return ids


@asynccontextmanager
async def _runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime(settings)
    try:
        yield rt
    finally:
        await rt.close()


def test_racing_claims_on_expired_leases_have_one_winner_each(tmp_path: Path, backend: str) -> None:
    settings, cleanup = make_settings(tmp_path, backend)
    try:

        async def setup() -> list[str]:
            async with _runtime(settings) as rt:
                return await _orphans(rt, _definition(tmp_path / "log"), 20)

        run_ids = asyncio.run(setup())
        url = settings.resolved_database_url()
        claimants = [Database(url) for _ in range(4)]  # four writers, as four processes
        barrier = threading.Barrier(len(claimants))
        won: list[list[str]] = [[] for _ in claimants]

        def claim(i: int) -> None:
            barrier.wait()
            won[i] = claimants[i].writer.run(
                lambda c: leases.take_over_expired(c, owner=f"claimant-{i}", at=now(), lease_s=30)
            )

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(claimants))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for db in claimants:
            db.close()
        assert sorted(rid for ids in won for rid in ids) == sorted(run_ids)  # one winner each
    finally:
        cleanup()


def test_a_live_lease_is_not_taken_and_a_lapsed_one_once(tmp_path: Path, backend: str) -> None:
    settings, cleanup = make_settings(tmp_path, backend)

    async def scenario() -> None:
        async with _runtime(settings) as rt:
            [run_id] = await _orphans(rt, _definition(tmp_path / "log"), 1)

            async def take(owner: str, at: datetime) -> list[str]:
                return await rt.write(
                    lambda c: leases.take_over_expired(c, owner=owner, at=at, lease_s=2)
                )

            assert await take("first", now()) == [run_id]
            assert await take("second", now()) == []  # first's lease is live
            assert await take("third", now() + timedelta(seconds=3)) == [run_id]  # lapsed
            snap = await rt.snapshot(run_id)
            assert snap.run.lease_owner == "third"

    try:
        asyncio.run(scenario())
    finally:
        cleanup()


def test_two_runtimes_recovering_at_once_execute_each_orphan_once(
    tmp_path: Path, backend: str
) -> None:
    settings, cleanup = make_settings(tmp_path, backend)
    log = tmp_path / "log"

    async def scenario() -> None:
        async with _runtime(settings) as a, _runtime(settings) as b:
            run_ids = await _orphans(a, _definition(log), 10)
            took_a, took_b = await asyncio.gather(a.recover(), b.recover())
            assert not set(took_a) & set(took_b)
            assert sorted(took_a + took_b) == sorted(run_ids)
            for run_id in took_a:
                assert await a.wait(run_id, timeout=60) is not None
            for run_id in took_b:
                assert await b.wait(run_id, timeout=60) is not None
            for run_id in run_ids:
                snap = await a.snapshot(run_id)
                assert snap.run.status.value == "COMPLETED"
                owner = a.owner if run_id in took_a else b.owner
                assert snap.run.lease_owner == owner

    try:
        asyncio.run(scenario())
    finally:
        cleanup()
    assert lines(log) == {"work": 10}
