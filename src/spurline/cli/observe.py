"""``spurline runs logs`` and ``spurline runs watch``: a run's captured output and its
live task table, fed by the run's events (docs/observability.md).

Both read the store named by the settings. Following a run does not poll the runs:
it waits for the run's events (PostgreSQL ``LISTEN``; on SQLite, where another
process cannot notify this one, the event table is checked every 0.2 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.markup import escape

from spurline.cli._errors import CliError

NodeOption = Annotated[str | None, typer.Option("--node", help="Only this node's lines.")]
AttemptOption = Annotated[
    int | None, typer.Option("--attempt", min=1, help="Only this attempt's lines.")
]
FollowOption = Annotated[
    bool, typer.Option("--follow", "-f", help="Keep printing new lines until the run ends.")
]
FOLLOW_POLL_S = 0.2


def register(runs_app: typer.Typer, out: Console) -> None:
    """Add ``logs`` and ``watch`` to the ``runs`` command group."""

    @runs_app.command("logs")
    def runs_logs(
        run_id: str,
        node: NodeOption = None,
        attempt: AttemptOption = None,
        follow: FollowOption = False,
    ) -> None:
        """What a run's nodes printed and logged, per attempt (as GET /run/{id}/logs/)."""
        from spurline.settings import get_settings

        def show(e: Any) -> None:
            if (node is None or e.node_id == node) and (attempt is None or e.attempt == attempt):
                out.print(log_line(e), highlight=False, soft_wrap=True)

        asyncio.run(_follow(get_settings(), run_id, show, follow, logs_only=True))

    @runs_app.command("watch")
    def runs_watch(run_id: str) -> None:
        """A live table of the run's tasks until the run ends."""
        from spurline.cli import _render
        from spurline.cli._workflows import show_run
        from spurline.settings import get_settings

        settings = get_settings()
        view = show_run(settings, run_id)  # NotFound: exit 2
        with Live(_render.tasks_table(view), console=out, auto_refresh=False) as live:

            def refresh(_: Any) -> None:
                live.update(_render.tasks_table(show_run(settings, run_id)), refresh=True)

            asyncio.run(_follow(settings, run_id, refresh, True, logs_only=False))
        for line in _render.run_header(show_run(settings, run_id)):
            out.print(line, highlight=False, soft_wrap=True)


def log_line(e: Any) -> str:
    """``TIME node#attempt stream LEVEL: line`` (markup-escaped)."""
    at = e.time.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    data = e.data
    return (
        f"[dim]{at}[/] {escape(str(e.node_id))}#{e.attempt} "
        f"[dim]{data.get('stream')} {data.get('level')}:[/] {escape(str(data.get('line')))}"
    )


async def _follow(
    settings: Any,
    run_id: str,
    on_event: Callable[[Any], None],
    follow: bool,
    *,
    logs_only: bool,
) -> None:
    """Call ``on_event`` for the run's stored events (log lines only with
    ``logs_only``), then, with ``follow``, for new ones until the run ends.
    """
    from spurline.engine.states import RUN_ACTIVE, RunStatus
    from spurline.exceptions import NotFound
    from spurline.services.events import EventHub
    from spurline.store import events as ev
    from spurline.store import runs as run_q
    from spurline.store.db import Database

    db = Database(settings.resolved_database_url())
    await asyncio.to_thread(db.upgrade)  # as every command: a fresh store is an empty one
    hub = EventHub(db, FOLLOW_POLL_S)
    hub.start()
    ended = {RunStatus.COMPLETED.value, RunStatus.FAILED.value, RunStatus.CANCELED.value}
    try:
        try:
            status = await asyncio.to_thread(db.read, lambda c: run_q.get_status(c, run_id))
        except NotFound:
            raise CliError(f"run {run_id} not found") from None
        kinds = (ev.LOG,) if logs_only and not follow else ()
        async with hub.subscribe(run_id=run_id, kinds=kinds) as sub:
            source = hub.stream(sub, 0) if follow and status in RUN_ACTIVE else hub.stored(sub, 0)
            async for batch in source:
                for e in batch:
                    if e.kind == ev.LOG or not logs_only:
                        on_event(e)
                    if e.kind == ev.RUN and e.data.get("status") in ended and follow:
                        return
    finally:
        await hub.close()
        await asyncio.to_thread(db.close)
