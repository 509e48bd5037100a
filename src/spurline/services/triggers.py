"""Webhook triggers: a URL per workflow, with its own secret, that starts a run from the
JSON POSTed to it (docs/operations.md).

The secret is shown once, when the trigger is made; the store keeps its SHA-256 only
(a 256-bit random secret needs no slow hash: nothing can be guessed from the digest).
A POSTed body is the InputNode's fields, ``{field: value}``, checked against the
InputNode's ``output_schema`` whether or not the workflow enforces it: a webhook's
sender is another system, and a mistake there should be a 422, not a run.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Any

from spurline.engine.clock import new_id, now
from spurline.engine.jsonvalue import json_problem
from spurline.engine.records import RunRecord, StartOptions, TaskRecord
from spurline.exceptions import InputsInvalid
from spurline.nodes.io import InputNode, type_matches
from spurline.store import schedules as q
from spurline.store import workflows as wf_q
from spurline.store.schedules import TriggerRecord

if TYPE_CHECKING:
    from spurline.engine.executor import RunEngine
    from spurline.services._store import Store
    from spurline.services.runs import RunService


class TriggerDenied(Exception):
    """The secret is missing (``status`` 401) or wrong (403); nothing was started."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def hash_secret(secret: str) -> str:
    """The stored form of a trigger secret: SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def body_problems(node: InputNode, body: Any) -> list[dict[str, Any]]:
    """Every way ``body`` fails to be the InputNode's fields (``loc`` into the body)."""
    if not isinstance(body, dict):
        msg = f"the body must be a JSON object of the InputNode's fields ({node.id!r})"
        return [{"path": (), "msg": msg, "type": "type"}]
    problem = json_problem(body, "body")
    if problem:
        return [{"path": (), "msg": problem, "type": "json_invalid"}]
    schema = node.config.output_schema
    problems: list[dict[str, Any]] = []
    for name in body:
        if schema and name not in schema:
            known = ", ".join(sorted(schema))
            msg = f"field {name!r} is not a field of the InputNode (fields: {known})"
            problems.append({"path": (name,), "msg": msg, "type": "unknown_field"})
    for name, type_name in schema.items():
        if name not in body:
            msg = f"field {name!r} ({type_name}) is missing"
            problems.append({"path": (name,), "msg": msg, "type": "missing"})
        elif not type_matches(body[name], type_name):
            got = type(body[name]).__name__
            msg = f"field {name!r} must be {type_name}, got {got}"
            problems.append({"path": (name,), "msg": msg, "type": "type"})
    return problems


class TriggerService:
    """Webhook triggers.

    Args:
        store: async database access.
        engine: the run engine (the InputNode of a workflow's plan).
        runs: starts the runs.
    """

    def __init__(self, store: Store, engine: RunEngine, runs: RunService) -> None:
        self.store = store
        self.engine = engine
        self.runs = runs

    async def create(
        self,
        workflow_id: str,
        name: str,
        tags: tuple[str, ...] = (),
        metadata: dict[str, str] | None = None,
    ) -> tuple[TriggerRecord, str]:
        """Make a trigger; returns it and its secret (the only time it is shown).

        Raises NotFound for an unknown workflow.
        """
        await self.store.read(lambda c: wf_q.get_workflow(c, workflow_id))
        secret = secrets.token_urlsafe(32)
        record = TriggerRecord(
            id=new_id("H"),
            workflow_id=workflow_id,
            name=name,
            secret_hash=hash_secret(secret),
            tags=list(tags) or None,
            run_metadata=metadata or None,
            created_at=now(),
            last_used_at=None,
        )
        await self.store.write(lambda c: q.insert_trigger(c, record))
        return record, secret

    async def of_workflow(self, workflow_id: str) -> list[TriggerRecord]:
        """A workflow's triggers, newest first; NotFound for an unknown workflow."""
        await self.store.read(lambda c: wf_q.get_workflow(c, workflow_id))
        return await self.store.read(lambda c: q.list_triggers(c, workflow_id))

    async def delete(self, trigger_id: str) -> None:
        """Delete a trigger; NotFound when absent."""
        await self.store.write(lambda c: q.delete_trigger(c, trigger_id))

    async def fire(
        self, trigger_id: str, secret: str | None, body: Any, idempotency_key: str | None
    ) -> tuple[RunRecord, list[TaskRecord]]:
        """Start a run of the trigger's workflow with ``body`` as the InputNode's fields.

        Raises:
            NotFound: unknown trigger.
            TriggerDenied: missing (401) or wrong (403) secret.
            InputsInvalid: a body that is not the InputNode's fields.
        """
        trigger = await self.store.read(lambda c: q.get_trigger(c, trigger_id))
        if not secret:
            raise TriggerDenied(401, "the trigger's secret is missing (X-Spurline-Secret)")
        if not hmac.compare_digest(hash_secret(secret), trigger.secret_hash):
            raise TriggerDenied(403, "the trigger's secret is wrong")
        wf = await self.store.read(lambda c: wf_q.get_workflow(c, trigger.workflow_id))
        assert wf.current_version_id is not None
        plan = await self.engine.plan_for(wf.current_version_id)
        node = plan.nodes[plan.input_node_id]
        assert isinstance(node, InputNode)
        problems = body_problems(node, body)
        if problems:
            raise InputsInvalid(problems)
        options = StartOptions(
            tags=tuple(trigger.tags or ()),
            metadata=trigger.run_metadata,
            idempotency_key=idempotency_key,
            run_type="trigger",
            # token names cannot hold ":", so this never reads as a token's name
            actor=f"trigger:{trigger.id}",
        )
        started = await self.runs.start_run(wf.id, {node.id: body}, options=options)
        await self.store.write(lambda c: q.touch_trigger(c, trigger_id, now()))
        return started
