"""The ``spurline`` command: serve the API, run workflows, inspect runs, upgrade the store.

Commands on runs, workflows and datasets are clients of the HTTP API: of the server
given with ``--server`` / ``SPURLINE_URL``, else of the local store served in this
process (``cli._connect``). Exit status 0 means success, 1 a run that did not
complete, 2 a usage error (bad file, bad input, unknown id), 130 Ctrl-C.
:func:`main` is the entry point: it turns every error into one message on stderr
(``cli._errors``).

Heavy modules (pydantic settings, the store, the runtime) are imported inside the
commands: PythonFuncNode worker processes re-import the ``spurline`` script as their
``__main__``, and each second spent importing here delays a run's first Python node.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from spurline.cli import _security_commands, datasets, operations, ops, runs, workflows
from spurline.cli._connect import Target
from spurline.cli._errors import INTERRUPTED, NOT_COMPLETED, CliError, Interrupted, describe
from spurline.cli._output import err, out

# httpx (imported later, by the commands) imports its own command-line tool (click,
# pygments, rich.syntax) whenever click is installed, and uvicorn always installs it:
# a tenth of a second of every command. This process never runs httpx's tool, and
# httpx's __init__ expects that module to be missing.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

app = typer.Typer(
    help="Spurline: workflow runs with a PySpur-compatible Runs API.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Manage the store.", no_args_is_help=True)
app.add_typer(runs.app, name="runs")
app.add_typer(workflows.app, name="workflows")
app.add_typer(datasets.app, name="datasets")
app.add_typer(db_app, name="db")


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"spurline {version('spurline')}", highlight=False)
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    server: Annotated[
        str | None,
        typer.Option(
            envvar="SPURLINE_URL",
            help="A Spurline server, e.g. http://127.0.0.1:6080 (default: the local store).",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="SPURLINE_TOKEN", help="API token, sent as a Bearer token."),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Spurline: workflow runs with a PySpur-compatible Runs API."""
    if server:
        _check_server_url(server)
    ctx.obj = Target(server.rstrip("/") if server else None, token or None)


def _check_server_url(server: str) -> None:
    """A usage error (exit status 2) unless ``server`` is an http(s) URL with a host."""
    scheme, sep, rest = server.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
        raise typer.BadParameter(
            f"{server!r} is not a server URL: give one like http://127.0.0.1:6080",
            param_hint="'--server' / SPURLINE_URL",
        )


class LogLevel(StrEnum):
    """Log levels ``spurline serve`` and ``spurline worker`` accept."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


LogJsonOption = Annotated[
    bool | None,
    typer.Option(
        "--log-json/--log-text",
        help="Log as JSON lines (default SPURLINE_LOG_JSON, else text).",
        show_default=False,
    ),
]


def _configure_logging(settings: Any, level: LogLevel | None, json_lines: bool | None) -> str:
    """Set up the server's log (spurline.oplog); returns the level in force."""
    from spurline import oplog

    chosen = level.value if level is not None else settings.log_level
    oplog.configure(chosen, settings.log_json if json_lines is None else json_lines)
    return str(chosen)


def _fail(message: str) -> typer.Exit:
    """One line on stderr, exit status 1 (the server could not start)."""
    from spurline.oplog import mask

    err.print(f"error: {mask(message)}", highlight=False, markup=False)
    return typer.Exit(NOT_COMPLETED)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 6080,
    load_examples: Annotated[
        Path | None, typer.Option(help="Folder of workflow JSON files to load at start.")
    ] = None,
    log_level: Annotated[
        LogLevel | None,
        typer.Option(
            "--log-level",
            case_sensitive=False,
            help="How much the server logs (default SPURLINE_LOG_LEVEL, else INFO).",
        ),
    ] = None,
    log_json: LogJsonOption = None,
) -> None:
    """Serve the HTTP API (docs at /docs).

    The port is bound and the store opened (migrated) before the banner is printed;
    when either fails, one line on stderr says why and the exit status is 1.
    """
    import socket

    import uvicorn

    from spurline.api.app import create_app
    from spurline.cli import _security, _workflows
    from spurline.exceptions import StoreDamaged
    from spurline.oplog import mask_url
    from spurline.settings import get_settings
    from spurline.store.db import Database

    settings = _security.serving_settings(get_settings(), host)
    _security.shield_process()
    level = _configure_logging(settings, log_level, log_json)
    store = mask_url(settings.resolved_database_url())
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listening before the banner: a script that waits for "Spurline on http://"
        # and connects at once is queued, not refused (uvicorn listens again, harmlessly).
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        db = Database(settings.resolved_database_url())
        try:
            db.upgrade()
        finally:
            db.close()
        loaded = _workflows.load_folder(settings, load_examples) if load_examples else []
    except CliError:  # a bad --load-examples: a usage error of its own
        sock.close()
        raise
    except StoreDamaged as exc:
        sock.close()
        raise _fail(str(exc)) from None
    except Exception as exc:
        sock.close()
        raise _fail(f"cannot open the store {store}: {_first_line(exc)}") from None
    for name, wf_id in loaded:
        out.print(f"loaded example [bold]{escape(name)}[/] as workflow {wf_id}", highlight=False)
    out.print(
        f"Spurline on http://{host}:{port}  (docs: /docs, store: {store}, auth: {settings.auth})",
        highlight=False,
        soft_wrap=True,
    )
    api = create_app(settings)
    config = uvicorn.Config(
        api,
        log_config=None,  # our handler (spurline.oplog) formats uvicorn's records too
        access_log=level == "DEBUG",
        # open requests (event streams, blocking runs) get the runs' grace, no more
        timeout_graceful_shutdown=max(int(settings.shutdown_grace_s), 1),
    )
    server = _graceful_server(uvicorn.Server, api)(config)
    # a damaged page found while the server starts (recovering runs) ends it
    api.state.on_startup_error = lambda: setattr(server, "should_exit", True)
    server.run(sockets=[sock])
    failed = getattr(api.state, "startup_error", None)
    if failed is not None:
        raise _fail(str(failed))


def _graceful_server(base: Any, api: Any) -> Any:
    """uvicorn's Server, with SIGTERM as a clean shutdown (docs/reliability.md#clean-shutdown):
    the runs executing get ``SPURLINE_SHUTDOWN_GRACE_S`` from the signal on, while open
    requests end, and the process exits 0 (uvicorn would raise SIGTERM again on its way
    out, ending with status 143).
    """
    import asyncio
    import signal

    class GracefulServer(base):  # type: ignore[misc]
        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            if sig != signal.SIGTERM:
                return
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list) and sig in captured:
                captured.remove(sig)
            runtime = getattr(api.state, "runtime", None)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not serving yet: nothing executes
                return
            if runtime is not None:
                loop.call_soon_threadsafe(runtime.begin_shutdown)

    return GracefulServer


@app.command()
def worker(
    concurrency: Annotated[
        int,
        typer.Option(
            min=1,
            max=1000,
            help="Runs this process works on at once (runs waiting on child runs do not count).",
        ),
    ] = 8,
    loglevel: Annotated[
        LogLevel | None,
        typer.Option(
            "--log-level",
            "--loglevel",
            case_sensitive=False,
            help="How much the worker logs (default SPURLINE_LOG_LEVEL, else INFO).",
        ),
    ] = None,
    log_json: LogJsonOption = None,
) -> None:
    """Execute runs from the queue as a Celery worker (broker: SPURLINE_BROKER_URL)."""
    from spurline.cli._security import shield_process
    from spurline.oplog import mask_url
    from spurline.settings import get_settings
    from spurline.worker.main import run_worker

    settings = get_settings()
    shield_process()
    level = _configure_logging(settings, loglevel, log_json)

    out.print(
        f"Spurline worker on {mask_url(settings.broker_url)} queue {settings.queue_name} "
        f"(store: {mask_url(settings.resolved_database_url())}, concurrency {concurrency})",
        highlight=False,
    )
    if settings.executor != "celery":
        # Without it, API processes with these settings execute runs themselves and
        # never enqueue one, so this worker would sit idle: say so rather than guess.
        err.print(
            "warning: SPURLINE_EXECUTOR is not 'celery', so API servers started with these "
            "settings send no runs to the queue; set SPURLINE_EXECUTOR=celery (and "
            "SPURLINE_BROKER_URL, SPURLINE_DATABASE_URL) on every process",
            highlight=False,
        )
    raise typer.Exit(run_worker(settings, concurrency, level))


@app.command("run")
def run_workflow(
    ctx: typer.Context,
    workflow: Annotated[
        Path | None,
        typer.Argument(help="Workflow JSON: a definition or {name, description, definition}."),
    ] = None,
    workflow_id: Annotated[
        str | None,
        typer.Option(
            "--workflow", help="Store the file in this workflow, or run it as stored (no FILE)."
        ),
    ] = None,
    input_: Annotated[
        list[str] | None,
        typer.Option(
            "--input",
            "-i",
            help="An input field: field=value (typed by output_schema) or field:=json.",
        ),
    ] = None,
    inputs: Annotated[
        Path | None,
        typer.Option(help="JSON file (- for stdin): {field: value} or {input_node_id: {...}}."),
    ] = None,
    all_outputs: Annotated[
        bool, typer.Option("--all", help="Print every node's output {node_id: output}.")
    ] = False,
    as_json: runs.JsonOpt = False,
    dataset: Annotated[
        Path | None,
        typer.Option(help="Run once per row of this CSV / JSONL / JSON-array file (a batch)."),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=1000, help="Rows in flight at once (with --dataset).")
    ] = 10,
    output: Annotated[
        Path | None, typer.Option(help="Write the batch results (JSONL) here (with --dataset).")
    ] = None,
    tag: ops.TagOpt = None,
    meta: ops.MetaOpt = None,
    idempotency_key: ops.IdempotencyOpt = None,
) -> None:
    """Run a workflow and print its result (Ctrl-C cancels the run).

    The run is recorded in the store, or on the server with --server.

    The file goes to the workflow given with --workflow or by the file's top-level "id";
    else to a stored workflow with the same name and an identical definition; else to a
    new workflow: never over another workflow because it has the same name.
    Prints the OutputNode's output (every node's with --all, the whole run with
    --json). --tag and --meta are kept on the run (find it with 'runs list --tag');
    the same --idempotency-key within 24 h gives the first run again. With --dataset,
    runs a batch over the file's rows (one child run per row) with a progress bar and
    prints a summary. Exit status: 0 COMPLETED, 1 FAILED (or
    another end state), 2 usage error, 130 interrupted (the run is canceled).
    """
    from spurline.cli import _run

    start = _run.StartTags(tuple(tag or ()), ops.metadata_pairs(meta), idempotency_key)
    options = _run.RunOptions(
        workflow, workflow_id, input_ or [], inputs, all_outputs, as_json, start
    )
    if dataset is not None:
        _run.run_batch(ctx.obj, options, dataset, concurrency, output)
    else:
        _run.run_one(ctx.obj, options)


_security_commands.register(app)
operations.register(app, runs.app)
ops.register(app, runs.app)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (creating the store when there is none)."""
    from spurline.settings import get_settings, mask_url
    from spurline.store.db import Database

    settings = get_settings()
    db = Database(settings.resolved_database_url())
    try:
        db.upgrade()
    finally:
        db.close()
    url = mask_url(settings.resolved_database_url())
    out.print(f"store at {url} is up to date", highlight=False)


@db_app.command("check")
def db_check() -> None:
    """Check the store: SQLite's integrity_check over every page, or a PostgreSQL
    connection; and its migrations at head. Exit status 1 when anything is wrong."""
    from spurline.cli._connect import missing_store
    from spurline.settings import get_settings
    from spurline.store.integrity import check_store

    settings = get_settings()
    missing = missing_store(settings)
    if missing is not None:  # nothing to check: not a damaged store
        raise _fail(missing.replace(", or pass --server URL", ""))
    result = check_store(settings.resolved_database_url())
    verdict = "is whole" if result.ok else "is DAMAGED or unusable"
    console = out if result.ok else err
    for line in [f"store {result.store} {verdict}", *result.lines]:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if not result.ok:
        err.print("restore the store from a backup (docs/reliability.md#a-damaged-store)")
        raise typer.Exit(NOT_COMPLETED)


@app.command("init")
def init() -> None:
    """Create the store (where SPURLINE_HOME or SPURLINE_DATABASE_URL say, else ./.spurline).

    A .spurline/ in this folder or a parent is the store already, and is brought up to
    date; so is an existing one anywhere.
    """
    db_upgrade()


#: Root options that take a value (``--server URL``), as :func:`_invoked` skips them.
_VALUED = ("--server", "--token")


def _invoked(argv: list[str]) -> str | None:
    """The top-level command ``argv`` names (``runs`` in ``--server U runs list``), or
    None when it names none before an option of the root (``--help``, ``--version``)."""
    args = iter(argv)
    for arg in args:
        if arg in _VALUED:
            next(args, None)
        elif arg.startswith(tuple(f"{v}=" for v in _VALUED)):
            continue
        elif arg.startswith("-"):
            return None
        else:
            return arg
    return None


def _named(group: typer.Typer, name: str | None) -> tuple[list[Any], list[Any]]:
    """The groups and commands of ``group`` called ``name``."""
    groups = [g for g in group.registered_groups if g.name == name]
    commands = [
        c
        for c in group.registered_commands
        if (c.name or getattr(c.callback, "__name__", "").replace("_", "-")) == name
    ]
    return groups, commands


@contextmanager
def _only_invoked(argv: list[str]) -> Iterator[None]:
    """Typer builds the parser of every command on each call (reading each function's
    annotations): about 50 ms of a 0.3 s command. Keep only the group and the command
    ``argv`` invokes while it runs. The whole tree stays for help, completion, and a
    name that matches nothing (Typer's own error)."""
    if any(k.startswith("_SPURLINE_COMPLETE") for k in os.environ):
        yield
        return
    saved: list[tuple[typer.Typer, list[Any], list[Any]]] = []
    group, name = app, _invoked(argv)
    rest = argv[argv.index(name) + 1 :] if name else []
    while name is not None:
        groups, commands = _named(group, name)
        if not (groups or commands):
            break
        saved.append((group, group.registered_groups, group.registered_commands))
        group.registered_groups, group.registered_commands = groups, commands
        if not groups or groups[0].typer_instance is None:
            break
        group = groups[0].typer_instance
        name = next((a for a in rest if not a.startswith("-")), None)
        rest = rest[rest.index(name) + 1 :] if name else []
    try:
        yield
    finally:
        for group, groups, commands in reversed(saved):
            group.registered_groups, group.registered_commands = groups, commands


def main() -> None:
    """The ``spurline`` executable: runs the command, reports any error in one message."""
    try:
        with _only_invoked(sys.argv[1:]):
            app(prog_name="spurline")
    except Interrupted as exc:
        err.print(
            f"interrupted: run {exc.run['id']} {exc.run['status']} "
            f"({escape(exc.run['message'] or '')})",
            highlight=False,
        )
        sys.exit(INTERRUPTED)
    except KeyboardInterrupt:
        err.print("interrupted", highlight=False)
        sys.exit(INTERRUPTED)
    except Exception as exc:
        problem = describe(exc)
        err.print(f"[red]error:[/red] {escape(problem.message)}", highlight=False)
        for line in problem.details:
            err.print(f"  - {escape(line)}", highlight=False)
        sys.exit(problem.code)
