"""``spurline runs prune`` and ``spurline webhooks ...`` (docs/operations.md), through the
client: on a server (``--server``, admin token) or on the local store (docs/client.md).

Mistakes are one line on stderr with exit status 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from spurline.cli._connect import call
from spurline.cli._errors import CliError, problem_lines
from spurline.cli._output import out

if TYPE_CHECKING:
    from spurline.client import Invalid

webhooks_app = typer.Typer(help="Manage notification webhooks.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
#: A 422's field, as the option that gave it.
_PRUNE_OPTIONS = {"older_than": "--older-than", "statuses": "--status"}


def _prune_problem(exc: Invalid) -> CliError:
    """The server's 422 for a prune, named by the option at fault."""
    for p in exc.problems:
        loc = [str(x) for x in p.get("loc") or ()]
        option = _PRUNE_OPTIONS.get(loc[1] if len(loc) > 1 else "")
        if option:
            msg = str(p.get("msg", "")).removeprefix("Value error, ")
            return CliError(f"{option}: {msg}")
    return CliError("the prune was rejected", problem_lines(exc.problems))


def prune(
    ctx: typer.Context,
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
    output files, then the datasets no run refers to. Never an active or paused run.
    Against a server it runs there (POST /run/prune/, admin token)."""
    from spurline.cli import _render
    from spurline.client import Invalid

    statuses = [s.upper() for s in status or []]
    try:
        report = call(ctx.obj, lambda c: c.prune_runs(older_than, statuses, dry_run))
    except Invalid as exc:
        raise _prune_problem(exc) from None
    if as_json:
        _render.print_json(out, report)
        return
    verb = "would prune" if dry_run else "pruned"
    files = "" if dry_run else f", {report['output_files']} output files"
    out.print(
        f"{verb} {report['runs']} runs ({report['runs_with_children']} with their child runs)"
        f"{files}, {report['datasets']} unused datasets",
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
    ctx: typer.Context,
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
    from spurline.client import Invalid

    secret = _secret(secret_file)
    events = [e.upper() for e in event] if event else None
    try:
        hook = call(
            ctx.obj, lambda c: c.create_webhook(url, secret, events, workflow_id, description)
        )
    except Invalid as exc:
        raise CliError("the webhook is not valid", problem_lines(exc.problems)) from None
    if as_json:
        _render.print_json(out, hook)
    else:
        out.print(f"webhook {hook['id']} -> {escape(hook['url'])}", highlight=False)


@webhooks_app.command("list")
def list_hooks(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every notification webhook."""
    from rich.table import Table

    from spurline.cli import _render

    hooks = call(ctx.obj, lambda c: c.list_webhooks())
    if as_json:
        _render.print_json(out, hooks)
        return
    table = Table("id", "url", "events", "workflow", "enabled")
    for h in hooks:
        table.add_row(
            h["id"],
            escape(h["url"]),
            ",".join(h["events"]),
            h["workflow_id"] or "(all)",
            "yes" if h["enabled"] else "no",
        )
    out.print(table)


@webhooks_app.command("delete")
def delete(ctx: typer.Context, webhook_id: str, as_json: JsonOpt = False) -> None:
    """Delete a webhook and its delivery log."""
    from spurline.cli import _render

    call(ctx.obj, lambda c: c.delete_webhook(webhook_id))
    _render.deleted(out, "webhook", webhook_id, as_json)


@webhooks_app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    webhook_id: str,
    page: Annotated[int, typer.Option(min=1)] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=100)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """A webhook's delivery log, newest first."""
    from rich.table import Table

    from spurline.cli import _render

    found = call(ctx.obj, lambda c: c.webhook_deliveries(webhook_id, page, page_size))
    if as_json:
        _render.print_json(out, found.items)
        return
    table = Table(
        "id", "run", "event", "status", "attempts", "last error", title=f"{found.total} in all"
    )
    for d in found.items:
        table.add_row(
            d["id"],
            d["run_id"],
            d["event"],
            d["status"],
            str(d["attempts"]),
            escape(d["last_error"] or ""),
        )
    out.print(table)


def register(app: typer.Typer, runs_app: typer.Typer) -> None:
    """Add ``runs prune`` and the ``webhooks`` group."""
    runs_app.command("prune")(prune)
    app.add_typer(webhooks_app, name="webhooks")
