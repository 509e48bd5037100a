"""``spurline runs cancel|resume|retry``: act on a run, on a server or in the local store
(docs/runs-api.md#pause-cancel-retry).

``resume`` (APPROVE/OVERRIDE) and ``retry`` then follow the run until it ends or pauses
again, as ``spurline run`` does; on the local store the run executes in this process
(holding its lease: if this process dies, a server takes the run over when the lease
runs out). ``cancel`` and DECLINE only record the decision: the process executing
the run notices within ``SPURLINE_CONTROL_POLL_S`` and stops it.

Exit status: 0 when the run ends where the command leads it (COMPLETED, PAUSED at
the next pause, or CANCELED by ``cancel`` / DECLINE), 1 when it ends otherwise
(FAILED ...), 2 for bad usage, an unknown run, or a run in the wrong state.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from spurline.cli._connect import call
from spurline.cli._errors import NOT_COMPLETED, CliError
from spurline.cli._output import err, out

if TYPE_CHECKING:
    from spurline.client import AsyncClient, Run

Action = Callable[["AsyncClient"], Awaitable["Run"]]
UserOpt = Annotated[str, typer.Option("--user", help="Who acts (default: your login name).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the run (the API's JSON).")]


def _user(given: str) -> str:
    from spurline.cli._run import default_user

    return given or default_user()


def _act(
    ctx: typer.Context,
    action: Action,
    run_id: str,
    ok: tuple[str, ...],
    follow: bool,
    as_json: bool,
) -> None:
    """Apply ``action``, follow the run when ``follow``, report its status, exit 0 when
    it is in ``ok``.

    Raises:
        CliError: the run is in a state that does not allow the action (exit 2).
    """
    from spurline.cli import _render
    from spurline.client import Conflict

    async def body(client: AsyncClient) -> Run:
        run = await action(client)
        return await client.wait_run(run_id) if follow else run

    try:
        run = call(ctx.obj, body)
    except Conflict as exc:
        raise CliError(exc.message) from None
    status = run["status"]
    if as_json:
        _render.print_json(out, run)
    elif status == "COMPLETED":
        _render.print_json(out, run["outputs"] or {})
    tail = f": {escape(run['message'])}" if run["message"] else ""
    color = "green" if status in ok else "red"
    err.print(f"[{color}]run {run_id} {status}[/{color}]{tail}", highlight=False)
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


def cancel(ctx: typer.Context, run_id: str, user: UserOpt = "", as_json: JsonOpt = False) -> None:
    """Cancel a PENDING, RUNNING or PAUSED run and its child runs."""
    who = _user(user)
    _act(ctx, lambda c: c.cancel_run(run_id, user_id=who), run_id, ("CANCELED",), False, as_json)


def _chosen(approve: bool, override: bool, decline: bool) -> str:
    flags = {"APPROVE": approve, "OVERRIDE": override, "DECLINE": decline}
    chosen = [action for action, flag in flags.items() if flag]
    if len(chosen) != 1:
        raise CliError("give exactly one of --approve, --override, --decline")
    return chosen[0]


def resume(
    ctx: typer.Context,
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
    action = _chosen(approve, override, decline)
    values = _input_pairs(input_ or [])
    who = _user(user)
    declined = action == "DECLINE"
    ok = ("CANCELED",) if declined else ("COMPLETED", "PAUSED")

    def act(client: AsyncClient) -> Awaitable[Run]:
        return client.pause_action(run_id, action, who, values, comments, node)

    _act(ctx, act, run_id, ok, not declined, as_json)


def retry(ctx: typer.Context, run_id: str, as_json: JsonOpt = False) -> None:
    """Re-execute the FAILED and CANCELED tasks of a FAILED or CANCELED run, and follow it."""
    ok = ("COMPLETED", "PAUSED")
    _act(ctx, lambda c: c.retry_run(run_id), run_id, ok, True, as_json)


def register(runs_app: typer.Typer) -> None:
    """Add ``cancel``, ``resume`` and ``retry`` to the ``spurline runs`` group."""
    runs_app.command("cancel")(cancel)
    runs_app.command("resume")(resume)
    runs_app.command("retry")(retry)
