"""LLM calls: recording what each LLM node sent its provider and what it cost, and
reading them back per run (see docs/pyspur.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spurline.engine.nodetype import NodeContext
from spurline.services._store import Store
from spurline.store import llm_calls as llm_queries
from spurline.store.persistence import Redaction


class LlmCallService:
    """Records LLM calls (the engine's ``llm_calls`` service) and lists them.

    Args:
        store: async database access.
        redaction: returns the current redaction of secret values, applied to a
            call's messages and answer as they are written (a prompt or an answer
            may carry a secret's value: docs/security.md §6); None stores them as
            they are.
    """

    def __init__(self, store: Store, redaction: Callable[[], Redaction] | None = None) -> None:
        self.store = store
        self.redaction = redaction

    async def record(self, ctx: NodeContext, call: dict[str, Any]) -> None:
        """Record one call of the task ``ctx`` names (fields: ``llm_queries.FIELDS``)."""
        r = self.redaction() if self.redaction else None
        if r:
            call = {**call, "messages": r.data(call["messages"]), "answer": r.text(call["answer"])}
        await self.store.write(lambda c: llm_queries.add_call(c, ctx.run_id, ctx.task_id, call))

    async def of_run(self, run_id: str) -> list[dict[str, Any]]:
        """Every call of a run, oldest first. Raises NotFound for an unknown run."""
        return await self.store.read(lambda c: llm_queries.calls_of_run(c, run_id))
