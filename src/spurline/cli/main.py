"""The ``spurline`` command: serve the API, run workflows, inspect runs, upgrade the store.

Commands call the layers below; exit status 0 means success, 1 a run that did not
complete, 2 a usage error (bad file, bad input, unknown id). :func:`main` is the entry
point: it turns every error into one message on stderr (``cli._errors``).

Heavy modules (pydantic settings, the store, the runtime) are imported inside the
commands: PythonFuncNode worker processes re-import the ``spurline`` script as their
``__main__``, and each second spent importing here delays a run's first Python node.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from spurline.cli import _security_commands, control, observe, operations, ops
from spurline.cli._errors import NOT_COMPLETED, CliError, describe
from spurline.engine.states import RunStatus

app = typer.Typer(
    help="Spurline: workflow runs with a PySpur-compatible Runs API.",
    no_args_is_help=True,
    add_completion=False,
)
runs_app = typer.Typer(help="Inspect and control runs.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the store.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(db_app, name="db")
out = Console()
# Messages are never hard-wrapped, so each stays one line in logs and pipes.
err = Console(stderr=True, soft_wrap=True)


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
    config = uvicorn.Config(
        create_app(settings),
        log_config=None,  # our handler (spurline.oplog) formats uvicorn's records too
        access_log=level == "DEBUG",
    )
    uvicorn.Server(config).run(sockets=[sock])


@app.command()
def worker(
    concurrency: Annotated[
        int, typer.Option(min=1, max=1000, help="Runs this process executes at once.")
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


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (RunResponseSchema).")]


@app.command("run")
def run_workflow(
    workflow: Annotated[
        Path, typer.Argument(help="Workflow JSON: a definition or {name, description, definition}.")
    ],
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
    as_json: JsonOption = False,
    dataset: Annotated[
        Path | None,
        typer.Option(help="Run once per row of this CSV / JSONL / JSON-array file (a batch)."),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=1000, help="Rows in flight at once (with --dataset).")
    ] = 10,
    output: Annotated[
        Path | None, typer.Option(help="Copy the batch results (JSONL) here (with --dataset).")
    ] = None,
    tag: ops.TagOpt = None,
    meta: ops.MetaOpt = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(help="The same key within 24 h returns the first run, not a new one."),
    ] = None,
) -> None:
    """Execute a workflow here, record the run in the store, print its result.

    Prints the OutputNode's output (every node's with --all, the whole run with
    --json). With --dataset, runs a batch over the file's rows (one child run per row) with a
    progress bar and prints a summary. Exit status: 0 COMPLETED, 1 FAILED (or
    another end state), 2 usage error.
    """
    from spurline.cli import _inputs, _render, _workflows
    from spurline.settings import get_settings

    wf = _workflows.WorkflowFile(workflow)
    if dataset is not None:
        _run_batch(wf, dataset, concurrency, output)
        return
    from spurline.engine.records import StartOptions

    initial = _inputs.initial_inputs(wf.definition, input_ or [], inputs, err)
    options = StartOptions(tuple(tag or ()), ops.metadata_pairs(meta), idempotency_key)
    status, view = asyncio.run(
        _workflows.run_once(
            get_settings(), wf.name, wf.description, wf.definition.dump(), initial, options
        )
    )
    outputs = view["outputs"] or {}
    result_id = wf.output_node_id()
    if as_json:
        _render.print_json(out, view)
    elif status is RunStatus.COMPLETED:
        shown = outputs if all_outputs or result_id not in outputs else outputs[result_id]
        _render.print_json(out, shown)
    if status is RunStatus.COMPLETED:
        err.print(f"run {view['id']} COMPLETED in {view['duration']:.3f} s", highlight=False)
        return
    err.print(
        f"[red]run {view['id']} {status.value}:[/red] {escape(view['message'] or '')}\n"
        f"details: spurline runs show {view['id']}",
        highlight=False,
    )
    raise typer.Exit(NOT_COMPLETED)


def _run_batch(wf: Any, dataset: Path, concurrency: int, output: Path | None) -> None:
    from spurline.cli import _batch
    from spurline.cli._errors import CliError, problem_lines
    from spurline.exceptions import DefinitionError
    from spurline.settings import get_settings

    workflow = (wf.name, wf.description, wf.definition.dump())
    try:
        view, results = asyncio.run(
            _batch.run_batch(get_settings(), workflow, dataset, concurrency, output, err)
        )
    except DefinitionError as exc:
        lines = problem_lines(exc.problems)
        raise CliError(f"cannot run {wf.path} over {dataset}", lines) from None
    except OSError as exc:
        raise CliError(str(exc)) from None
    counts = _batch.count_statuses(results)
    rows = sum(counts.values())
    completed = counts.get(RunStatus.COMPLETED.value, 0)
    seconds = view["duration"] or 0.0
    rate = f"{rows / seconds:.1f}" if seconds else "-"
    out.print(
        f"batch {view['id']} {view['status']}: {rows} rows, {completed} completed, "
        f"{rows - completed} failed, in {seconds:.2f} s ({rate} rows/s)",
        highlight=False,
        soft_wrap=True,
    )
    if view["message"]:
        out.print(escape(view["message"]), highlight=False, soft_wrap=True)
    out.print(f"results: {results}", highlight=False, soft_wrap=True)
    if view["status"] != RunStatus.COMPLETED.value:
        raise typer.Exit(NOT_COMPLETED)


@runs_app.command("list")
def runs_list(
    page: Annotated[int, typer.Option(min=1)] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=100)] = 20,
    status: Annotated[list[RunStatus] | None, typer.Option(help="Filter by status.")] = None,
    workflow_id: Annotated[str | None, typer.Option(help="Only this workflow's runs.")] = None,
    parent_only: Annotated[
        bool, typer.Option("--parent-only", help="Leave out child runs (batch rows, loops).")
    ] = False,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Runs with this tag.")] = None,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="Runs with this metadata key=value.")
    ] = None,
    since: Annotated[datetime | None, typer.Option(help="Runs started at or after (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Runs started at or before (UTC).")] = None,
    schedule: Annotated[str | None, typer.Option(help="Runs this schedule started.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Runs, newest first (as GET /run/)."""
    from spurline.cli import _render, _workflows
    from spurline.settings import get_settings
    from spurline.store.runs import RunFilter

    flt = RunFilter(
        tuple(status or []),
        workflow_id,
        parent_only=parent_only,
        start_date=_utc(since),
        end_date=_utc(until),
        tags=tuple(tag or ()),
        metadata=tuple((ops.metadata_pairs(meta, "--meta") or {}).items()),
        schedule_id=schedule,
    )
    views, total = _workflows.list_runs(get_settings(), page, page_size, flt)
    if as_json:
        _render.print_json(out, views)
    else:
        out.print(_render.runs_table(views, page, total))


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@runs_app.command("show")
def runs_show(run_id: str, as_json: JsonOption = False) -> None:
    """One run and its tasks (as GET /run/{id}/)."""
    from spurline.cli import _render, _workflows
    from spurline.settings import get_settings

    view = _workflows.show_run(get_settings(), run_id)
    if as_json:
        _render.print_json(out, view)
        return
    for line in _render.run_header(view):
        out.print(line, highlight=False, soft_wrap=True)
    out.print(_render.tasks_table(view))
    for task in view["tasks"]:
        if task["error"]:  # in full: the table cuts long cells
            out.print(
                f"[red]{escape(task['node_id'])}:[/] {escape(task['error'])}", highlight=False
            )
            if task["traceback"]:
                out.print(escape(task["traceback"]), highlight=False, soft_wrap=True)
    attempts = _workflows.run_attempts(get_settings(), run_id)
    if any(len(a) > 1 or a[0]["status"] == "FAILED" for a in attempts.values() if a):
        out.print(_render.attempts_table(view, attempts))


@runs_app.command("children")
def runs_children(run_id: str, as_json: JsonOption = False) -> None:
    """A run's child runs, oldest first: batch rows, loop iterations, sub-workflows
    (as GET /run/{id}/children/)."""
    from spurline.cli import _batch, _render
    from spurline.settings import get_settings

    views = _batch.children(get_settings(), run_id)
    if as_json:
        _render.print_json(out, views)
        return
    out.print(_batch.children_table(run_id, views))


control.register(runs_app)
_security_commands.register(app)
ops.register(app, runs_app)
observe.register(runs_app, out)
operations.register(app, runs_app)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""
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


def main() -> None:
    """The ``spurline`` executable: runs the command, reports any error in one message."""
    try:
        app(prog_name="spurline")
    except Exception as exc:
        problem = describe(exc)
        err.print(f"[red]error:[/red] {escape(problem.message)}", highlight=False)
        for line in problem.details:
            err.print(f"  - {escape(line)}", highlight=False)
        sys.exit(problem.code)
