"""``spurline schedules …`` and ``spurline runs rerun``: operations through the client,
on a server (``--server``) or on the local store (docs/operations.md, docs/client.md).

Schedule commands only change schedules; the servers' schedulers fire them. ``rerun``
starts the new run and follows it to its end, as ``spurline runs retry`` does (on the
local store it executes in this process); Ctrl-C cancels it.
Exit status: 0 success, 1 a rerun that did not complete, 2 bad usage or unknown id.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from spurline.cli._connect import call
from spurline.cli._errors import NOT_COMPLETED, CliError
from spurline.cli._output import err, out

if TYPE_CHECKING:
    from spurline.client import AsyncClient, Run

schedules_app = typer.Typer(
    help="Schedules: start runs of a workflow on a cron expression or an interval.",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable).")]
MetaOpt = Annotated[
    list[str] | None, typer.Option("--meta", help="Metadata key=value (repeatable).")
]
IdempotencyOpt = Annotated[
    str | None,
    typer.Option(help="The same key within 24 h answers with the first run, never a second."),
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


def _print(views: list[dict[str, Any]], as_json: bool, total: int | None = None) -> None:
    from rich.table import Table

    from spurline.cli import _render

    if as_json:
        _render.print_json(out, views if total is not None else views[0])
        return
    table = Table()
    # Two whole ids take 60 of 80 columns and squeezed the rest to nothing: below 120
    # columns the workflow, last run and note are left to `schedules show`.
    wide = out.width >= 120
    names = ("id", "name", "workflow", "when", "enabled", "next run", "last run", "note")
    shown = [n for n in names if wide or n not in ("workflow", "last run", "note")]
    for name in shown:
        # ids are copied into the next command: whole, never folded or cut
        key = {"id": "id", "workflow": "workflow_id"}.get(name)
        width = max((len(v[key]) for v in views), default=0) if key else None
        table.add_column(name, no_wrap=key is not None, min_width=width)
    for v in views:
        when = (
            f"{v['cron_expression']} ({v['timezone']})"
            if v["cron_expression"]
            else f"every {v['interval_seconds']} s"
        )
        cells = {
            "id": v["id"],
            "name": escape(v["name"]),
            "workflow": v["workflow_id"],
            "when": escape(when),
            "enabled": "yes" if v["enabled"] else "no",
            "next run": _render.short_time(v["next_run_at"]) or "-",
            "last run": _render.short_time(v["last_run_at"]) or "-",
            "note": escape(v["disabled_reason"] or ""),
        }
        table.add_row(*(cells[n] for n in shown))
    out.print(table)
    if total is not None:
        out.print(f"{len(views)} of {total} schedules", highlight=False)


@schedules_app.command("create")
def create(
    ctx: typer.Context,
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
    fields = {
        "workflow_id": workflow_id,
        "name": name,
        "cron_expression": cron,
        "interval_seconds": every,
        "timezone": tz,
        "initial_inputs": _inputs_json(inputs),
        "enabled": not disabled,
        "misfire_policy": misfire.value,
        "tags": list(tag or ()),
        "metadata": metadata_pairs(meta),
    }
    made = call(ctx.obj, lambda c: c.create_schedule(fields))
    _print([made], as_json)


@schedules_app.command("list")
def list_(
    ctx: typer.Context,
    workflow_id: Annotated[str | None, typer.Option(help="Only this workflow's.")] = None,
    page: Annotated[int, typer.Option(min=1)] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=100)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Schedules, newest first, with their next and last fire."""
    found = call(ctx.obj, lambda c: c.list_schedules(page, page_size, workflow_id))
    _print(found.items, as_json, found.total)


@schedules_app.command("show")
def show(ctx: typer.Context, schedule_id: str, as_json: JsonOpt = False) -> None:
    """One schedule."""
    _print([call(ctx.obj, lambda c: c.get_schedule(schedule_id))], as_json)


@schedules_app.command("toggle")
def toggle(ctx: typer.Context, schedule_id: str, as_json: JsonOpt = False) -> None:
    """Enable a disabled schedule, or disable an enabled one."""
    _print([call(ctx.obj, lambda c: c.toggle_schedule(schedule_id))], as_json)


@schedules_app.command("delete")
def delete(ctx: typer.Context, schedule_id: str, as_json: JsonOpt = False) -> None:
    """Delete a schedule (its runs stay)."""
    from spurline.cli import _render

    call(ctx.obj, lambda c: c.delete_schedule(schedule_id))
    _render.deleted(out, "schedule", schedule_id, as_json)


def rerun(
    ctx: typer.Context,
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
    idempotency_key: IdempotencyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a new run like a finished one (COMPLETED, FAILED or CANCELED) and follow it
    to its end; Ctrl-C cancels it."""
    from spurline.cli import _render
    from spurline.cli._run import cancel_on_interrupt
    from spurline.client import Conflict

    initial = _inputs_json(inputs)
    metadata = metadata_pairs(meta)

    async def body(client: AsyncClient) -> Run:
        new = await client.rerun_run(
            run_id,
            initial,
            latest_version=latest,
            from_node=from_node,
            tags=tag or (),
            metadata=metadata,
            idempotency_key=idempotency_key,
        )
        return await cancel_on_interrupt(client, new["id"], client.wait_run(new["id"]))

    try:
        view = call(ctx.obj, body)
    except Conflict as exc:
        raise CliError(exc.message) from None
    status = view["status"]
    if as_json:
        _render.print_json(out, view)
    elif status == "COMPLETED":  # as ``spurline run`` prints a run
        _render.print_json(out, _render.result_of(dict(view)))
    ok = status in ("COMPLETED", "PAUSED")
    color = "green" if ok else "red"
    tail = f": {escape(view['message'])}" if view["message"] else ""
    err.print(
        f"[{color}]run {view['id']} (rerun of {run_id}) {status}[/{color}]{tail}",
        highlight=False,
    )
    if not ok:
        raise typer.Exit(NOT_COMPLETED)


def register(app: typer.Typer, runs_app: typer.Typer) -> None:
    """Add ``spurline schedules …`` and ``spurline runs rerun``."""
    app.add_typer(schedules_app, name="schedules")
    runs_app.command("rerun")(rerun)
