"""``spurline runs logs`` and ``spurline runs watch``: a run's captured output and its
live task table, on a server or in the local store, through the client
(docs/observability.md, docs/client.md).

Following a run does not poll: ``--follow`` and ``watch`` read the run's event
stream (``GET /run/{id}/events/``), which replays the stored events, then sends new
ones as they are committed, and ends when the run has ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from spurline.cli._connect import call
from spurline.cli._output import err, out

if TYPE_CHECKING:
    from spurline.client import AsyncClient, Event, LogLine

NodeOption = Annotated[str | None, typer.Option("--node", help="Only this node's lines.")]
AttemptOption = Annotated[
    int | None, typer.Option("--attempt", min=1, help="Only this attempt's lines.")
]
FollowOption = Annotated[
    bool, typer.Option("--follow", "-f", help="Keep printing new lines until the run ends.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON, one object per line.")]
#: The fields of a log line (LogLineResponseSchema), as a log event carries them.
LOG_FIELDS = ("task_id", "node_id", "attempt", "time", "stream", "level", "line")


def register(runs_app: typer.Typer) -> None:
    """Add ``logs`` and ``watch`` to the ``runs`` command group."""

    @runs_app.command("logs")
    def runs_logs(
        ctx: typer.Context,
        run_id: str,
        node: NodeOption = None,
        attempt: AttemptOption = None,
        follow: FollowOption = False,
        as_json: JsonOption = False,
    ) -> None:
        """What a run's nodes printed and logged, per attempt (as GET /run/{id}/logs/);
        with --json one LogLine object per line."""
        call(ctx.obj, lambda client: _logs(client, run_id, node, attempt, follow, as_json))

    @runs_app.command("watch")
    def runs_watch(ctx: typer.Context, run_id: str, as_json: JsonOption = False) -> None:
        """A live table of the run's tasks until the run ends; with --json its events,
        one {id, event, data} object per line (docs/observability.md)."""
        call(ctx.obj, lambda client: _watch(client, run_id, as_json))


async def _logs(
    client: AsyncClient,
    run_id: str,
    node: str | None,
    attempt: int | None,
    follow: bool,
    as_json: bool,
) -> None:
    """Print the run's stored lines, or with ``follow`` its stream's lines until it ends."""

    def show(line: LogLine) -> bool:
        if (node is not None and line["node_id"] != node) or (
            attempt is not None and line["attempt"] != attempt
        ):
            return False
        if as_json:
            out.print_json(data=line, indent=None, highlight=False)
        else:
            out.print(log_line(line), highlight=False, soft_wrap=True)
        return True

    shown = 0
    if not follow:
        for line in await client.run_logs_all(run_id, node, attempt):
            shown += show(line)
    else:
        async for event in client.run_events(run_id):
            if event.event == "log" and event.id is not None:
                shown += show(event_log_line(event))
    if not shown:  # on stderr: stdout stays empty (valid, empty JSON lines)
        which = "".join(
            [f" of node {node}" if node else "", f" in attempt {attempt}" if attempt else ""]
        )
        err.print(f"run {run_id} has no log lines{which}", highlight=False)


async def _watch(client: AsyncClient, run_id: str, as_json: bool) -> None:
    """Print the run's events (``as_json``), or keep its task table current, until it ends."""
    from spurline.cli import _render

    if as_json:
        async for event in client.run_events(run_id):
            data = {"id": event.id, "event": event.event, "data": event.data}
            out.print_json(data=data, indent=None, highlight=False)
        return
    run = await client.get_run(run_id)  # NotFound: exit 2
    if not out.is_terminal:
        # Piped: no live redrawing (Live leaves its last frame without a line end);
        # the final table once the run has ended, under its header.
        async for event in client.run_events(run_id):
            if event.event == "end":
                run = await client.get_run(run_id)
        for line in _render.run_header(dict(run)):
            out.print(line, highlight=False, soft_wrap=True)
        out.print(_render.tasks_table(dict(run)))
        return
    from rich.live import Live

    with Live(_render.tasks_table(dict(run)), console=out, auto_refresh=False) as live:
        async for event in client.run_events(run_id):
            if event.event in ("run", "task", "batch", "end"):
                run = await client.get_run(run_id)
                live.update(_render.tasks_table(dict(run)), refresh=True)
    for line in _render.run_header(dict(run)):
        out.print(line, highlight=False, soft_wrap=True)


def event_log_line(event: Event) -> LogLine:
    """The LogLine a ``log`` event carries (its event id is the line's id)."""
    line: dict[str, Any] = {"id": event.id}
    line.update((name, event.data.get(name)) for name in LOG_FIELDS)
    return line  # type: ignore[return-value]


def log_line(line: LogLine) -> str:
    """``TIME node#attempt stream LEVEL: line`` (markup-escaped), time in UTC to the ms."""
    at = _utc_ms(line["time"])
    return (
        f"[dim]{at}[/] {escape(str(line['node_id']))}#{line['attempt']} "
        f"[dim]{line['stream']} {line['level']}:[/] {escape(str(line['line']))}"
    )


def _utc_ms(stamp: str) -> str:
    from datetime import datetime

    return datetime.fromisoformat(stamp).isoformat(timespec="milliseconds").replace("+00:00", "Z")
