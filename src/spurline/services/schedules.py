"""Schedules: cron expressions (in a time zone) or intervals that start runs of a
workflow, fired exactly once per fire time by any number of servers
(docs/operations.md).

Every server runs :meth:`ScheduleService.loop`. It sleeps until the next known fire
time (at most ``SPURLINE_SCHEDULE_POLL_S``), then claims each due fire with a
conditional update in the transaction that inserts the fire's run
(:func:`spurline.store.schedules.claim_fire`): whichever server commits first starts
the run, the others find the fire already moved on and start nothing.

Cron expressions are evaluated by cronsim (five fields, or six with seconds first),
in the schedule's IANA time zone, so "0 9 * * *" in Europe/Berlin fires at 09:00
Berlin time in summer and in winter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from sqlalchemy import Connection

from spurline.engine.clock import new_id, now
from spurline.engine.records import RunRecord, StartOptions, TaskRecord
from spurline.exceptions import DefinitionError, NotFound, ScheduleInvalid
from spurline.services._store import log_loop_error
from spurline.store import schedules as q
from spurline.store import starts
from spurline.store.schedules import ScheduleRecord

if TYPE_CHECKING:
    from spurline.services._store import Store
    from spurline.services.runs import RunService

log = logging.getLogger(__name__)

#: What a fire that comes later than the grace period does: ``skip`` starts nothing
#: and waits for the next fire time; ``run_once`` starts one run for all the fires
#: missed (docs/operations.md).
MISFIRE_POLICIES = ("skip", "run_once")


@dataclass(frozen=True)
class Timing:
    """When a schedule fires: exactly one of ``cron_expression`` / ``interval_seconds``.

    Intervals count from ``anchor`` (the schedule's creation or last fire time);
    cron expressions are read in ``timezone``.
    """

    cron_expression: str | None
    interval_seconds: int | None
    timezone: str = "UTC"

    def check(self) -> None:
        """Raise :class:`ScheduleInvalid` naming every problem (422)."""
        problems: list[dict[str, Any]] = []
        if (self.cron_expression is None) == (self.interval_seconds is None):
            msg = "give exactly one of cron_expression and interval_seconds"
            problems.append({"path": ("cron_expression",), "msg": msg, "type": "missing"})
        zone = _zone(self.timezone)
        if zone is None:
            msg = f"timezone {self.timezone!r} is not a known IANA time zone"
            problems.append({"path": ("timezone",), "msg": msg, "type": "timezone"})
        if self.cron_expression is not None:
            try:
                next(CronSim(self.cron_expression, datetime.now(zone or UTC)))
            except (CronSimError, StopIteration) as exc:
                msg = (
                    f"cron_expression {self.cron_expression!r} is not valid: {exc or 'never fires'}"
                )
                problems.append({"path": ("cron_expression",), "msg": msg, "type": "cron"})
        if problems:
            raise ScheduleInvalid(problems)

    def next_after(self, after: datetime, anchor: datetime) -> datetime:
        """The first fire time strictly after ``after`` (UTC)."""
        if self.interval_seconds is not None:
            step = timedelta(seconds=self.interval_seconds)
            if after < anchor:
                return anchor
            return anchor + step * (math.floor((after - anchor) / step) + 1)
        assert self.cron_expression is not None
        zone = _zone(self.timezone) or UTC
        return next(CronSim(self.cron_expression, after.astimezone(zone))).astimezone(UTC)


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def timing_of(schedule: ScheduleRecord) -> Timing:
    """The timing of a stored schedule."""
    return Timing(schedule.cron_expression, schedule.interval_seconds, schedule.timezone)


@dataclass(frozen=True)
class ScheduleFields:
    """What a client sets on a schedule (body of ``POST /wf/schedules/``)."""

    workflow_id: str
    name: str
    cron_expression: str | None = None
    interval_seconds: int | None = None
    timezone: str = "UTC"
    initial_inputs: dict[str, Any] | None = None
    enabled: bool = True
    misfire_policy: str = "skip"
    tags: tuple[str, ...] = ()
    metadata: dict[str, str] | None = None


class ScheduleService:
    """Schedules, and this process's scheduler.

    Args:
        store: async database access.
        runs: starts the runs of fires.
        poll_s: the longest the scheduler sleeps (``SPURLINE_SCHEDULE_POLL_S``).
        grace_s: how late a fire may start and still be on time
            (``SPURLINE_SCHEDULE_GRACE_S``).
    """

    def __init__(self, store: Store, runs: RunService, poll_s: float, grace_s: float) -> None:
        self.store = store
        self.runs = runs
        self.poll_s = poll_s
        self.grace_s = grace_s
        self._changed = asyncio.Event()
        self._purged_at: datetime | None = None

    # -- use cases ------------------------------------------------------------------
    async def create(self, fields: ScheduleFields) -> ScheduleRecord:
        """Create a schedule; its first fire is the first fire time after now.

        Raises:
            NotFound: unknown workflow.
            ScheduleInvalid: bad cron expression, interval or time zone.
            InputsInvalid: initial inputs that do not fit the workflow's InputNode.
        """
        timing = Timing(fields.cron_expression, fields.interval_seconds, fields.timezone)
        timing.check()
        await self._check_inputs(fields.workflow_id, fields.initial_inputs)
        at = now()
        record = ScheduleRecord(
            id=new_id("S"),
            workflow_id=fields.workflow_id,
            name=fields.name,
            cron_expression=fields.cron_expression,
            interval_seconds=fields.interval_seconds,
            timezone=fields.timezone,
            initial_inputs=fields.initial_inputs,
            tags=list(fields.tags) or None,
            run_metadata=fields.metadata or None,
            enabled=fields.enabled,
            misfire_policy=fields.misfire_policy,
            next_run_at=timing.next_after(at, at) if fields.enabled else None,
            last_run_at=None,
            last_run_id=None,
            disabled_reason=None,
            created_at=at,
            updated_at=at,
        )
        await self.store.write(lambda c: q.insert_schedule(c, record))
        self._changed.set()
        return record

    async def update(self, schedule_id: str, changes: dict[str, Any]) -> ScheduleRecord:
        """Change some fields of a schedule (``None`` values are left alone); a changed
        timing or a schedule enabled again fires next at its first fire time after now.

        Raises:
            NotFound: unknown schedule.
            ScheduleInvalid: bad cron expression, interval or time zone.
            InputsInvalid: initial inputs that do not fit the workflow's InputNode.
        """
        current = await self.get(schedule_id)
        given = {k: v for k, v in changes.items() if v is not None}
        if "cron_expression" in given:
            given.setdefault("interval_seconds", None)
        elif "interval_seconds" in given:
            given["cron_expression"] = None
        if "metadata" in given:
            given["run_metadata"] = given.pop("metadata") or None
        if "tags" in given:
            given["tags"] = list(given["tags"]) or None
        wanted = replace(current, **given)
        timing_of(wanted).check()
        if "initial_inputs" in given:
            await self._check_inputs(wanted.workflow_id, wanted.initial_inputs)
        timing_changed = timing_of(wanted) != timing_of(current)
        return await self._save(schedule_id, lambda old: _merge(old, given, timing_changed))

    async def toggle(self, schedule_id: str) -> ScheduleRecord:
        """Enable a disabled schedule (from its next fire time after now), or disable
        an enabled one. Raises NotFound for an unknown schedule."""
        return await self._save(
            schedule_id, lambda old: _merge(old, {"enabled": not old.enabled}, False)
        )

    async def get(self, schedule_id: str) -> ScheduleRecord:
        """One schedule; NotFound when absent."""
        return await self.store.read(lambda c: q.get_schedule(c, schedule_id))

    async def delete(self, schedule_id: str) -> None:
        """Delete a schedule; its runs stay. NotFound when absent."""
        await self.store.write(lambda c: q.delete_schedule(c, schedule_id))

    async def workflow_deleted(self, workflow_id: str) -> None:
        """Disable the schedules of a deleted workflow, saying why."""
        reason = f"workflow {workflow_id} was deleted"
        await self.store.write(
            lambda c: q.disable_workflow_schedules(c, workflow_id, reason, now())
        )

    async def _save(self, schedule_id: str, change: Any) -> ScheduleRecord:
        def op(conn: Connection) -> ScheduleRecord:
            new = change(q.get_schedule(conn, schedule_id))
            q.replace_schedule(conn, new)
            return new  # type: ignore[no-any-return]

        record = await self.store.write(op)
        self._changed.set()
        return record

    async def _check_inputs(self, workflow_id: str, inputs: dict[str, Any] | None) -> None:
        # the same check a run start makes, so that a bad schedule fails now, not at 3 am
        await self.runs.prepare_run(workflow_id, inputs)

    # -- the scheduler ----------------------------------------------------------------
    async def loop(self) -> None:
        """Fire due schedules until canceled; never stops on an error."""
        poll = self.poll_s
        while True:
            try:
                wait = await self.tick()
            except Exception:
                log_loop_error(log, "the scheduler failed; trying again")
                wait = poll
            self._changed.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a
            # cancellation that comes as the event is set, and stopping would hang
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._changed.wait()

    async def tick(self) -> float:
        """Fire every due schedule; returns the seconds until the next fire time (at most
        ``SPURLINE_SCHEDULE_POLL_S``)."""
        poll = self.poll_s
        due, nxt = await self.store.read(lambda c: q.due_schedules(c, now()))
        handled = 0
        for schedule in due:
            try:
                await self.fire(schedule)
                handled += 1
            except Exception:  # tried again after a poll, not in a tight loop
                log_loop_error(log, "schedule %s: firing failed", schedule.id)
        await self._purge_keys()
        if handled:
            return 0.0  # look again at once: the fires handled moved the next fire times
        if nxt is None:
            return poll
        return min(max((nxt - now()).total_seconds(), 0.0), poll)

    async def fire(self, schedule: ScheduleRecord) -> str | None:
        """Claim the due fire of ``schedule`` and start its run; returns the run id, or
        None when another process claimed it first or the fire was skipped.

        A fire later than ``SPURLINE_SCHEDULE_GRACE_S`` starts a run only under the
        ``run_once`` misfire policy; either way the next fire is the first fire time
        after now. A schedule whose workflow is gone, or whose inputs no longer fit
        it, is disabled with the reason (docs/operations.md).
        """
        due = schedule.next_run_at
        assert due is not None
        at = now()
        next_at = timing_of(schedule).next_after(at, due)
        late = (at - due).total_seconds() > self.grace_s
        run: tuple[RunRecord, list[TaskRecord]] | None = None
        if not late or schedule.misfire_policy == "run_once":
            try:
                run = await self._prepare(schedule, due)
            except NotFound:
                await self._disable(schedule, f"workflow {schedule.workflow_id} was deleted")
                return None
            except DefinitionError as exc:
                await self._disable(schedule, f"its runs cannot start: {exc}")
                return None
        claimed = await self.store.write(
            lambda c: q.claim_fire(c, schedule.id, due, next_at, run, at)
        )
        if not claimed:
            return None
        if run is None:
            log.warning("schedule %s: skipped the fire due at %s (missed)", schedule.id, due)
            return None
        await self.runs.launch(*run)
        return run[0].id

    async def _prepare(
        self, schedule: ScheduleRecord, due: datetime
    ) -> tuple[RunRecord, list[TaskRecord]]:
        options = StartOptions(
            tags=tuple(schedule.tags or ()),
            metadata=schedule.run_metadata,
            run_type="scheduled",
            # token names cannot hold ":", so this never reads as a token's name
            actor=f"schedule:{schedule.id}",
        )
        run, tasks = await self.runs.prepare_run(
            schedule.workflow_id, schedule.initial_inputs, options=options
        )
        run.schedule_id = schedule.id
        run.scheduled_for = due
        return run, tasks

    async def _disable(self, schedule: ScheduleRecord, reason: str) -> None:
        log.warning("schedule %s disabled: %s", schedule.id, reason)
        due = schedule.next_run_at
        await self.store.write(lambda c: q.disable_schedule(c, schedule.id, due, reason, now()))

    async def _purge_keys(self) -> None:
        at = now()
        if self._purged_at is not None and at - self._purged_at < timedelta(hours=1):
            return
        self._purged_at = at
        await self.store.write(lambda c: starts.forget_expired_keys(c, at))


def schedule_view(s: ScheduleRecord) -> dict[str, Any]:
    """A schedule as clients see it (ScheduleResponseSchema), as a dict."""
    return {
        "id": s.id,
        "workflow_id": s.workflow_id,
        "name": s.name,
        "cron_expression": s.cron_expression,
        "interval_seconds": s.interval_seconds,
        "timezone": s.timezone,
        "initial_inputs": s.initial_inputs,
        "enabled": s.enabled,
        "misfire_policy": s.misfire_policy,
        "last_run_at": s.last_run_at,
        "next_run_at": s.next_run_at,
        "last_run_id": s.last_run_id,
        "disabled_reason": s.disabled_reason,
        "tags": s.tags or [],
        "metadata": s.run_metadata or {},
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    }


def _merge(old: ScheduleRecord, given: dict[str, Any], timing_changed: bool) -> ScheduleRecord:
    """``old`` with ``given`` applied and its next fire time set accordingly."""
    new = replace(old, **given, updated_at=now())
    if not new.enabled:
        return replace(new, next_run_at=None)
    if timing_changed or not old.enabled or new.next_run_at is None:
        at = now()
        return replace(new, next_run_at=timing_of(new).next_after(at, at), disabled_reason=None)
    return new
