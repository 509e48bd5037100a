"""``spurline runs list|show|children|delete`` (``cancel|resume|retry`` from
``cli.control``, ``logs|watch`` from ``cli.observe``): runs on a server or in the
local store, through the client."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from spurline.cli import control, observe
from spurline.cli._connect import call
from spurline.cli._errors import CliError
from spurline.cli._output import out

if TYPE_CHECKING:
    from spurline.client import AsyncClient, Attempt, Page, Run

app = typer.Typer(help="Inspect and control runs.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
PageOpt = Annotated[int, typer.Option(min=1, help="Page number, from 1.")]
PageSizeOpt = Annotated[int, typer.Option(min=1, max=100, help="Items per page.")]


class Status(StrEnum):
    """Run statuses, as ``--status`` takes them."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


@app.command("list")
def runs_list(
    ctx: typer.Context,
    page: PageOpt = 1,
    page_size: PageSizeOpt = 20,
    status: Annotated[list[Status] | None, typer.Option(help="Filter by status.")] = None,
    workflow_id: Annotated[str | None, typer.Option(help="Only this workflow's runs.")] = None,
    run_type: Annotated[str | None, typer.Option(help="Only runs of this type (batch …).")] = None,
    parent_only: Annotated[
        bool, typer.Option("--parent-only", help="Leave out child runs (batch rows, loops).")
    ] = False,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Runs with this tag (repeat: all of them).")
    ] = None,
    meta: Annotated[
        list[str] | None,
        typer.Option("--meta", help="Runs with metadata key=value (repeat: all of them)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Runs started at or after: an ISO 8601 time (UTC unless it has an offset) "
            "or an age such as 12h, 7d."
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Runs started at or before (as --since).")
    ] = None,
    schedule: Annotated[
        str | None, typer.Option("--schedule", help="Runs started by this schedule.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Runs, newest first (as GET /run/), filtered by status, workflow, type, tags,
    metadata, start time and schedule (docs/operations.md, Finding runs)."""
    from spurline.cli import _render
    from spurline.cli.ops import metadata_pairs

    metadata = metadata_pairs(meta)
    start_date = _when("--since", since)
    end_date = _when("--until", until)

    async def body(client: AsyncClient) -> Page[Run]:
        statuses = [s.value for s in status or []]
        return await client.list_runs(
            page,
            page_size,
            statuses,
            workflow_id,
            run_type,
            parent_only=parent_only,
            start_date=start_date,
            end_date=end_date,
            tags=tag or (),
            metadata=metadata,
            schedule_id=schedule,
        )

    found = call(ctx.obj, body)
    if as_json:
        _render.print_json(out, found.items)
    else:
        out.print(_render.runs_table(list(found.items), page, found.total))  # type: ignore[arg-type]


_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _when(option: str, text: str | None) -> str | None:
    """``--since``/``--until`` as RFC 3339: an ISO 8601 time (UTC when it has no offset)
    or an age (``12h``: twelve hours ago).

    Raises:
        CliError: neither.
    """
    if text is None:
        return None
    age = _AGE.fullmatch(text.strip())
    try:
        if age:
            seconds = float(age.group(1)) * _UNIT_S[age.group(2)]
            return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()
        when = datetime.fromisoformat(text.strip())
    except (ValueError, OverflowError):
        raise CliError(
            f"{option} takes an ISO 8601 time (2026-12-01T09:00, UTC unless it has an "
            f"offset) or an age (12h, 7d), not {text!r}"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()


@app.command("show")
def runs_show(ctx: typer.Context, run_id: str, as_json: JsonOpt = False) -> None:
    """One run and its tasks (as GET /run/{id}/), failures with their tracebacks, and
    the attempts of tasks tried more than once or failed (docs/observability.md)."""
    from spurline.cli import _render

    async def body(client: AsyncClient) -> tuple[Run, dict[str, list[Attempt]]]:
        run = await client.get_run(run_id)
        # Only tasks tried more than once or failed have attempts worth a table.
        tried = [t["id"] for t in run["tasks"] if t["attempts"] > 1 or t["status"] == "FAILED"]
        return run, {t: await client.task_attempts(run_id, t) for t in tried}

    if as_json:
        _render.print_json(out, call(ctx.obj, lambda client: client.get_run(run_id)))
        return
    run, attempts = call(ctx.obj, body)
    view = dict(run)
    for line in _render.run_header(view):
        out.print(line, highlight=False, soft_wrap=True)
    out.print(_render.tasks_table(view))
    for task in run["tasks"]:
        if task["error"]:  # in full: the table cuts long cells
            out.print(
                f"[red]{escape(task['node_id'])}:[/] {escape(task['error'])}", highlight=False
            )
            if task["traceback"]:
                out.print(escape(task["traceback"]), highlight=False, soft_wrap=True)
    if any(len(a) > 1 or a[0]["status"] == "FAILED" for a in attempts.values() if a):
        out.print(_render.attempts_table(view, attempts))  # type: ignore[arg-type]


@app.command("children")
def runs_children(ctx: typer.Context, run_id: str, as_json: JsonOpt = False) -> None:
    """A run's child runs, oldest first: batch rows, loop iterations, sub-workflows
    (as GET /run/{id}/children/)."""
    from spurline.cli import _render

    found = call(ctx.obj, lambda client: client.run_children(run_id))
    views = [dict(r) for r in found.items]
    if as_json:
        _render.print_json(out, views)
        return
    out.print(_render.children_table(run_id, views))


@app.command("delete")
def runs_delete(ctx: typer.Context, run_id: str, as_json: JsonOpt = False) -> None:
    """Delete a finished run with its tasks, child runs and output file."""
    from spurline.cli import _render

    call(ctx.obj, lambda client: client.delete_run(run_id))
    _render.deleted(out, "run", run_id, as_json)


control.register(app)
observe.register(app)
