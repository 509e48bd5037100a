"""``spurline runs prune`` and ``spurline webhooks ...`` (docs/operations.md).

Both work on the store directly, as the other commands do; heavy modules are
imported inside the commands (see ``cli.main``). Mistakes are one line on stderr
with exit status 2.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from spurline.cli._errors import CliError, problem_lines
from spurline.exceptions import InputsInvalid

if TYPE_CHECKING:
    from spurline.runtime import Runtime

out = Console()
T = TypeVar("T")
webhooks_app = typer.Typer(help="Manage notification webhooks.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _with_runtime(action: Callable[[Runtime], Awaitable[T]]) -> T:
    from spurline.runtime import Runtime
    from spurline.settings import get_settings

    async def go() -> T:
        rt = Runtime(get_settings())
        try:
            return await action(rt)
        finally:
            await rt.close()

    return asyncio.run(go())


def prune(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Prune runs that ended more than this long ago: a number and a unit "
            "s, m, h, d or w (30d).",
        ),
    ],
    status: Annotated[
        list[str] | None,
        typer.Option(help="Only runs with this status: COMPLETED, FAILED or CANCELED."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be pruned; delete nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete old finished runs with their child runs, tasks, logs, pause records and
    output files, then the datasets no run refers to. Never an active or paused run."""
    from spurline.cli import _render
    from spurline.services import retention

    try:
        age = retention.parse_age(older_than)
    except ValueError as exc:
        raise CliError(f"--older-than: {exc}") from None
    try:
        statuses = retention.check_statuses(status or [])
    except ValueError as exc:
        raise CliError(f"--status: {exc}") from None
    report = _with_runtime(
        lambda rt: retention.prune(
            rt, age, statuses, dry_run=dry_run, batch_size=rt.settings.prune_batch_size
        )
    )
    if as_json:
        _render.print_json(out, report.__dict__)
        return
    verb = "would prune" if dry_run else "pruned"
    files = "" if dry_run else f", {report.output_files} output files"
    out.print(
        f"{verb} {report.runs} runs ({report.runs_with_children} with their child runs)"
        f"{files}, {report.datasets} unused datasets",
        highlight=False,
    )


def _secret(secret_file: Path | None) -> str:
    if secret_file is None:
        secret = os.environ.get("SPURLINE_WEBHOOK_SECRET", "")
        if not secret:
            raise CliError("give the signing secret with --secret-file or SPURLINE_WEBHOOK_SECRET")
        return secret
    try:
        text = sys.stdin.read() if str(secret_file) == "-" else secret_file.read_text()
    except OSError as exc:
        raise CliError(f"cannot read {secret_file}: {exc.strerror}") from None
    return text.strip()


@webhooks_app.command("create")
def create(
    url: Annotated[str, typer.Argument(help="Where events are POSTed (http or https).")],
    secret_file: Annotated[
        Path | None,
        typer.Option(
            help="File holding the signing secret ('-': stdin); default: the "
            "SPURLINE_WEBHOOK_SECRET variable. Never printed."
        ),
    ] = None,
    event: Annotated[
        list[str] | None,
        typer.Option(help="COMPLETED, FAILED, PAUSED or CANCELED (repeat; default: all)."),
    ] = None,
    workflow_id: Annotated[str | None, typer.Option(help="Only this workflow's runs.")] = None,
    description: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Subscribe a URL to run events (as POST /notifications/webhooks/)."""
    from spurline.cli import _render

    secret = _secret(secret_file)
    events = [e.upper() for e in event] if event else None
    try:
        hook = _with_runtime(
            lambda rt: rt.notifications.create(url, secret, events, workflow_id, description)
        )
    except InputsInvalid as exc:
        raise CliError("the webhook is not valid", problem_lines(exc.problems)) from None
    if as_json:
        _render.print_json(out, hook)
    else:
        out.print(f"webhook {hook.id} -> {escape(hook.url)}", highlight=False)


@webhooks_app.command("list")
def list_hooks(as_json: JsonOpt = False) -> None:
    """Every notification webhook."""
    from spurline.cli import _render

    hooks = _with_runtime(lambda rt: rt.notifications.webhooks())
    if as_json:
        _render.print_json(out, hooks)
        return
    table = Table("id", "url", "events", "workflow", "enabled")
    for h in hooks:
        table.add_row(h.id, h.url, ",".join(h.events), h.workflow_id or "(all)", str(h.enabled))
    out.print(table)


@webhooks_app.command("delete")
def delete(webhook_id: str) -> None:
    """Delete a webhook and its delivery log."""
    _with_runtime(lambda rt: rt.notifications.delete(webhook_id))
    out.print(f"webhook {webhook_id} deleted", highlight=False)


@webhooks_app.command("deliveries")
def deliveries(
    webhook_id: str,
    page: Annotated[int, typer.Option(min=1)] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=100)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """A webhook's delivery log, newest first."""
    from spurline.cli import _render

    items, total = _with_runtime(
        lambda rt: rt.notifications.deliveries(webhook_id, page, page_size)
    )
    if as_json:
        _render.print_json(out, items)
        return
    table = Table("id", "run", "event", "status", "attempts", "last error", title=f"{total} in all")
    for d in items:
        table.add_row(d.id, d.run_id, d.event, d.status, str(d.attempts), d.last_error or "")
    out.print(table)


def register(app: typer.Typer, runs_app: typer.Typer) -> None:
    """Add ``runs prune`` and the ``webhooks`` group."""
    runs_app.command("prune")(prune)
    app.add_typer(webhooks_app, name="webhooks")
