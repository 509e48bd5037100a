"""``spurline runs cancel|resume|retry``: act on a run in the store
(docs/runs-api.md#pause-cancel-retry).

``resume`` (APPROVE/OVERRIDE) and ``retry`` execute the rest of the run in this
process, holding its lease, and wait for it to end or pause again, as
``spurline run`` does; if this process dies the lease runs out and a server takes
the run over. ``cancel`` and DECLINE only write the store: a server or CLI process
executing the run notices within ``SPURLINE_CONTROL_POLL_S`` and stops it.

Exit status: 0 when the run ends where the command leads it (COMPLETED, PAUSED at
the next pause, or CANCELED by ``cancel`` / DECLINE), 1 when it ends otherwise
(FAILED ...), 2 for bad usage, an unknown run, or a run in the wrong state.
Heavy modules are imported inside the commands (see ``cli.main``).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from spurline.cli._errors import NOT_COMPLETED, CliError
from spurline.engine.pauses import PauseAction
from spurline.engine.states import RunStatus
from spurline.exceptions import Conflict

if TYPE_CHECKING:
    from spurline.engine.records import RunSnapshot
    from spurline.runtime import Runtime

out = Console()
err = Console(stderr=True, soft_wrap=True)
Action = Callable[["Runtime"], Awaitable["RunSnapshot"]]
UserOpt = Annotated[str, typer.Option("--user", help="Who acts (default: your login name).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the run (RunResponseSchema).")]


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment
        return "cli"


async def _act(action: Action, run_id: str, execute: bool) -> dict[str, Any]:
    from spurline.nodes._sandbox import shutdown_default_pool
    from spurline.runtime import Runtime
    from spurline.settings import get_settings

    rt = Runtime(get_settings())
    try:
        await rt.start(recover=False)
        snap = await action(rt)
        if execute:
            await rt.wait(run_id, timeout=math.inf)
            snap = await rt.snapshot(run_id)
        return rt.view(snap)
    finally:
        await rt.close()
        shutdown_default_pool()  # see cli._workflows.run_once


def _run(
    action: Action, run_id: str, ok: tuple[RunStatus, ...], execute: bool, as_json: bool
) -> None:
    """Apply ``action``, report the run's status, exit 0 when it is in ``ok``.

    Raises:
        CliError: the run is in a state that does not allow the action (exit 2).
        NotFound: unknown run (reported by ``cli.main`` with exit 2).
    """
    from spurline.cli import _render

    try:
        view = asyncio.run(_act(action, run_id, execute))
    except Conflict as exc:
        raise CliError(str(exc)) from None
    status = RunStatus(view["status"])
    if as_json:
        _render.print_json(out, view)
    elif status is RunStatus.COMPLETED:
        _render.print_json(out, view["outputs"] or {})
    tail = f": {escape(view['message'])}" if view["message"] else ""
    color = "green" if status in ok else "red"
    err.print(f"[{color}]run {run_id} {status.value}[/{color}]{tail}", highlight=False)
    if status not in ok:
        raise typer.Exit(NOT_COMPLETED)


def _input_pairs(pairs: list[str]) -> dict[str, Any]:
    """``k=v`` options as a dict; values are JSON when they parse, else text."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--input takes key=value, got {pair!r}")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values


def cancel(run_id: str, user: UserOpt = "", as_json: JsonOpt = False) -> None:
    """Cancel a PENDING, RUNNING or PAUSED run and its child runs."""
    message = f"Canceled by {user or _default_user()}"
    ok = (RunStatus.CANCELED,)
    _run(lambda rt: rt.cancel_run(run_id, message), run_id, ok, False, as_json)


def _chosen(approve: bool, override: bool, decline: bool) -> PauseAction:
    flags = {PauseAction.APPROVE: approve, PauseAction.OVERRIDE: override}
    flags[PauseAction.DECLINE] = decline
    chosen = [action for action, flag in flags.items() if flag]
    if len(chosen) != 1:
        raise CliError("give exactly one of --approve, --override, --decline")
    return chosen[0]


def resume(
    run_id: str,
    approve: Annotated[
        bool, typer.Option("--approve", help="Complete the node with its inputs.")
    ] = False,
    override: Annotated[
        bool, typer.Option("--override", help="Complete the node with --input values only.")
    ] = False,
    decline: Annotated[bool, typer.Option("--decline", help="Cancel the run.")] = False,
    input_: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="A value, key=value (JSON or text).")
    ] = None,
    user: UserOpt = "",
    comments: Annotated[str | None, typer.Option(help="Why (kept in the pause history).")] = None,
    node: Annotated[
        str | None, typer.Option("--node", help="The paused node, when several are paused.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Act on a PAUSED run: --approve, --override or --decline (exactly one)."""
    from spurline.store.control import PauseDecision

    action = _chosen(approve, override, decline)
    decision = PauseDecision(
        action, user or _default_user(), _input_pairs(input_ or []), comments, node
    )
    declined = action is PauseAction.DECLINE
    ok = (RunStatus.CANCELED,) if declined else (RunStatus.COMPLETED, RunStatus.PAUSED)
    act: Action = lambda rt: rt.process_pause_action(run_id, decision)  # noqa: E731
    _run(act, run_id, ok, not declined, as_json)


def retry(run_id: str, as_json: JsonOpt = False) -> None:
    """Re-execute the FAILED and CANCELED tasks of a FAILED or CANCELED run here."""
    ok = (RunStatus.COMPLETED, RunStatus.PAUSED)
    _run(lambda rt: rt.retry_run(run_id), run_id, ok, True, as_json)


def register(runs_app: typer.Typer) -> None:
    """Add ``cancel``, ``resume`` and ``retry`` to the ``spurline runs`` group."""
    runs_app.command("cancel")(cancel)
    runs_app.command("resume")(resume)
    runs_app.command("retry")(retry)
