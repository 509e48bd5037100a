"""Queries on ``llm_calls`` (see docs/pyspur.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from spurline.engine.clock import new_id, now
from spurline.exceptions import NotFound
from spurline.store.orm import LLM_CALLS, RUNS

#: Columns a recorded call carries, besides id, run_id, task_id and created_at.
FIELDS = (
    "node_id",
    "model",
    "provider",
    "messages",
    "answer",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "latency_s",
)


def add_call(conn: Connection, run_id: str, task_id: str | None, call: dict[str, Any]) -> str:
    """Record one call (``call`` holds :data:`FIELDS`); returns its id."""
    call_id = new_id("L")
    row = {k: call.get(k) for k in FIELDS}
    conn.execute(
        LLM_CALLS.insert(),
        [{**row, "id": call_id, "run_id": run_id, "task_id": task_id, "created_at": now()}],
    )
    return call_id


def calls_of_run(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    """Every call of a run, oldest first. Raises NotFound for an unknown run."""
    if conn.execute(select(RUNS.c.id).where(RUNS.c.id == run_id)).first() is None:
        raise NotFound("Run", run_id)
    rows = conn.execute(
        select(LLM_CALLS)
        .where(LLM_CALLS.c.run_id == run_id)
        .order_by(LLM_CALLS.c.created_at, LLM_CALLS.c.id)
    )
    return [dict(r._mapping) for r in rows]
