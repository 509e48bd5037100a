"""``spurline schedules …`` and ``spurline runs rerun``: operations on the store
(docs/operations.md).

Schedule commands only write the store; the servers' schedulers fire them. ``rerun``
executes the new run in this process and waits for it, as ``spurline runs retry`` does.
Exit status: 0 success, 1 a rerun that did not complete, 2 bad usage or unknown id.
Heavy modules are imported inside the commands (see ``cli.main``).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from spurline.cli._errors import NOT_COMPLETED, CliError
from spurline.engine.states import RunStatus
from spurline.exceptions import Conflict

if TYPE_CHECKING:
    from spurline.runtime import Runtime
    from spurline.store.schedules import ScheduleRecord

T = TypeVar("T")
out = Console()
err = Console(stderr=True, soft_wrap=True)
schedules_app = typer.Typer(
    help="Schedules: start runs of a workflow on a cron expression or an interval.",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable).")]
MetaOpt = Annotated[
    list[str] | None, typer.Option("--meta", help="Metadata key=value (repeatable).")
]


class Misfire(StrEnum):
    """What a fire missed while no server ran does (docs/operations.md)."""

    skip = "skip"
    run_once = "run_once"


def metadata_pairs(pairs: list[str] | None, option: str = "--meta") -> dict[str, str] | None:
    """``key=value`` options as a dict (None when none given).

    Raises:
        CliError: a pair without ``=`` or with an empty key.
    """
    if not pairs:
        return None
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"{option} takes key=value, got {pair!r}")
        values[key] = value
    return values


def _inputs_json(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"--inputs is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise CliError("--inputs must be a JSON object {input_node_id: {field: value}}")
    return value


def _with_runtime(fn: Callable[[Runtime], Awaitable[T]]) -> T:
    from spurline.runtime import Runtime
    from spurline.settings import get_settings

    async def go() -> T:
        rt = Runtime(get_settings())
        try:
            return await fn(rt)
        finally:
            await rt.close()

    return asyncio.run(go())


def _view(s: ScheduleRecord) -> dict[str, Any]:
    from spurline.services.schedules import schedule_view

    return schedule_view(s)


def _print(views: list[dict[str, Any]], as_json: bool, total: int | None = None) -> None:
    from spurline.cli import _render

    if as_json:
        _render.print_json(out, views if total is not None else views[0])
        return
    table = Table("id", "name", "workflow", "when", "enabled", "next run", "last run", "note")
    for v in views:
        when = (
            f"{v['cron_expression']} ({v['timezone']})"
            if v["cron_expression"]
            else f"every {v['interval_seconds']} s"
        )
        table.add_row(
            v["id"],
            escape(v["name"]),
            v["workflow_id"],
            escape(when),
            "yes" if v["enabled"] else "no",
            _at(v["next_run_at"]),
            _at(v["last_run_at"]),
            escape(v["disabled_reason"] or ""),
        )
    out.print(table)
    if total is not None:
        out.print(f"{len(views)} of {total} schedules", highlight=False)


def _at(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


@schedules_app.command("create")
def create(
    workflow_id: str,
    name: Annotated[str, typer.Option(help="The schedule's name.")],
    cron: Annotated[
        str | None, typer.Option(help='Cron expression, e.g. "0 9 * * 1-5" (6 fields: seconds).')
    ] = None,
    every: Annotated[
        int | None, typer.Option(min=1, help="Fire every this many seconds instead.")
    ] = None,
    tz: Annotated[str, typer.Option("--tz", help="IANA time zone of --cron.")] = "UTC",
    inputs: Annotated[
        str | None, typer.Option(help='Initial inputs as JSON: {"in": {"field": value}}.')
    ] = None,
    misfire: Annotated[
        Misfire, typer.Option(help="A fire missed while no server ran: skip or run_once.")
    ] = Misfire.skip,
    tag: TagOpt = None,
    meta: MetaOpt = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it disabled.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a schedule of a workflow (give --cron or --every)."""
    from spurline.services.schedules import ScheduleFields

    fields = ScheduleFields(
        workflow_id=workflow_id,
        name=name,
        cron_expression=cron,
        interval_seconds=every,
        timezone=tz,
        initial_inputs=_inputs_json(inputs),
        enabled=not disabled,
        misfire_policy=misfire.value,
        tags=tuple(tag or ()),
        metadata=metadata_pairs(meta),
    )
    _print([_view(_with_runtime(lambda rt: rt.schedules.create(fields)))], as_json)


@schedules_app.command("list")
def list_(
    workflow_id: Annotated[str | None, typer.Option(help="Only this workflow's.")] = None,
    page: Annotated[int, typer.Option(min=1)] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=100)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Schedules, newest first, with their next and last fire."""
    from spurline.store import schedules as q

    found, total = _with_runtime(
        lambda rt: rt.read(lambda c: q.list_schedules(c, page, page_size, workflow_id))
    )
    _print([_view(s) for s in found], as_json, total)


@schedules_app.command("show")
def show(schedule_id: str, as_json: JsonOpt = False) -> None:
    """One schedule."""
    _print([_view(_with_runtime(lambda rt: rt.schedules.get(schedule_id)))], as_json)


@schedules_app.command("toggle")
def toggle(schedule_id: str, as_json: JsonOpt = False) -> None:
    """Enable a disabled schedule, or disable an enabled one."""
    _print([_view(_with_runtime(lambda rt: rt.schedules.toggle(schedule_id)))], as_json)


@schedules_app.command("delete")
def delete(schedule_id: str) -> None:
    """Delete a schedule (its runs stay)."""
    _with_runtime(lambda rt: rt.schedules.delete(schedule_id))
    err.print(f"schedule {schedule_id} deleted", highlight=False)


def rerun(
    run_id: str,
    from_node: Annotated[
        str | None, typer.Option(help="Run this node and what depends on it again; reuse the rest.")
    ] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="Run the workflow's current version.")
    ] = False,
    inputs: Annotated[
        str | None, typer.Option(help='New initial inputs as JSON: {"in": {"field": value}}.')
    ] = None,
    tag: TagOpt = None,
    meta: MetaOpt = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="The same key within 24 h returns the first run.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a new run like a finished one (COMPLETED, FAILED or CANCELED) here."""
    from spurline.cli import _render
    from spurline.engine.records import StartOptions
    from spurline.nodes._sandbox import shutdown_default_pool
    from spurline.runtime import Runtime
    from spurline.services.reruns import RerunRequest
    from spurline.services.reruns import rerun as do_rerun
    from spurline.settings import get_settings

    request = RerunRequest(
        initial_inputs=_inputs_json(inputs),
        latest_version=latest,
        from_node=from_node,
        options=StartOptions(
            tags=tuple(tag or ()), metadata=metadata_pairs(meta), idempotency_key=idempotency_key
        ),
    )

    async def go() -> dict[str, Any]:
        rt = Runtime(get_settings())
        try:
            await rt.start(recover=False)
            run, _ = await do_rerun(rt.runs, run_id, request)
            await rt.wait(run.id, timeout=math.inf)
            return rt.view(await rt.snapshot(run.id))
        finally:
            await rt.close()
            shutdown_default_pool()  # see cli._workflows.run_once

    try:
        view = asyncio.run(go())
    except Conflict as exc:
        raise CliError(str(exc)) from None
    status = RunStatus(view["status"])
    if as_json:
        _render.print_json(out, view)
    elif status is RunStatus.COMPLETED:
        _render.print_json(out, view["outputs"] or {})
    ok = status in (RunStatus.COMPLETED, RunStatus.PAUSED)
    color = "green" if ok else "red"
    tail = f": {escape(view['message'])}" if view["message"] else ""
    err.print(
        f"[{color}]run {view['id']} (rerun of {run_id}) {status.value}[/{color}]{tail}",
        highlight=False,
    )
    if not ok:
        raise typer.Exit(NOT_COMPLETED)


def register(app: typer.Typer, runs_app: typer.Typer) -> None:
    """Add ``spurline schedules …`` and ``spurline runs rerun``."""
    app.add_typer(schedules_app, name="schedules")
    runs_app.command("rerun")(rerun)
