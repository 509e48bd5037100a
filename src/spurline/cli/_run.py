"""``spurline run``: store the workflow (see ``cli._apply``), start a run or a batch,
follow it to its end, print the result; Ctrl-C cancels the run (see docs/client.md).

The same code drives a server (``--server``) and the local store, where the run
executes in this process.
"""

from __future__ import annotations

import asyncio
import getpass
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from spurline.cli import _render
from spurline.cli._apply import apply
from spurline.cli._connect import Target, call
from spurline.cli._errors import NOT_COMPLETED, CliError, Interrupted, problem_lines
from spurline.cli._output import err, out
from spurline.cli._workflows import WorkflowFile

if TYPE_CHECKING:
    from spurline.client import AsyncClient, Run

T = TypeVar("T")
#: Seconds between progress bar refreshes.
REFRESH_S = 0.2
#: Body fields of a start that come from --tag, --meta, --idempotency-key.
_START_FIELDS = {"tags", "metadata", "idempotency_key"}


def default_user() -> str:
    """The login name, named in pause actions and cancels ("Canceled by <user>")."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment
        return "cli"


async def cancel_on_interrupt(client: AsyncClient, run_id: str, follow: Awaitable[T]) -> T:
    """Await ``follow``; on Ctrl-C (asyncio cancels the main task) cancel the run."""
    from spurline.client import Conflict

    try:
        return await follow
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()  # go on: the run must be canceled before the process ends
        try:
            run = await client.cancel_run(run_id, user_id=default_user())
        except Conflict:  # it ended meanwhile
            run = await client.get_run(run_id)
        raise Interrupted(dict(run)) from None


@dataclass(frozen=True)
class StartTags:
    """``--tag``, ``--meta`` and ``--idempotency-key`` of ``spurline run``."""

    tags: tuple[str, ...] = ()
    metadata: dict[str, str] | None = None
    idempotency_key: str | None = None


async def start_and_wait(
    client: AsyncClient,
    workflow_id: str,
    initial_inputs: dict[str, Any],
    start: StartTags | None = None,
) -> Run:
    """Start a run (with ``start``'s tags, metadata and idempotency key) and follow it
    until it ends or pauses.

    Raises:
        CliError: the inputs do not fit the InputNode (no run is created).
        Interrupted: Ctrl-C; the run was canceled.
    """
    from spurline.client import Invalid

    try:
        start = start or StartTags()
        run = await client.start_run(
            workflow_id,
            initial_inputs or None,
            tags=start.tags,
            metadata=start.metadata,
            idempotency_key=start.idempotency_key,
        )
    except Invalid as exc:
        lines = problem_lines(exc.problems)
        if any(_START_FIELDS & {str(x) for x in p.get("loc") or ()} for p in exc.problems):
            raise CliError("--tag, --meta or --idempotency-key was rejected", lines) from None
        raise CliError("the inputs do not fit the workflow's InputNode", lines) from None
    return await cancel_on_interrupt(client, run["id"], client.wait_run(run["id"]))


async def _follow_batch(client: AsyncClient, run_id: str, rows: int, console: Console) -> Run:
    columns = (
        TextColumn("[bold]rows"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
    )
    start = time.monotonic()
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("rows", total=rows, rate="0")
        while True:
            run = await client.get_run(run_id)
            finished = run["status"] in ("COMPLETED", "FAILED", "CANCELED", "PAUSED")
            done = rows if finished else round(run["percentage_complete"] * rows / 100)
            elapsed = max(time.monotonic() - start, 1e-9)
            progress.update(bar, completed=done, rate=f"{done / elapsed:.1f}")
            if finished:
                return run
            await asyncio.sleep(REFRESH_S)


async def batch(
    client: AsyncClient,
    workflow_id: str,
    dataset: Path,
    concurrency: int,
    console: Console,
    start: StartTags | None = None,
) -> tuple[Run, bytes]:
    """Upload ``dataset``, run the workflow once per row with a progress bar on
    ``console``; the parent run and the results (JSON lines, one per row).

    Raises:
        CliError: the dataset cannot be read, is not a dataset, or lacks a column.
        Interrupted: Ctrl-C; the batch was canceled.
    """
    from spurline.client import Invalid

    try:
        content = await asyncio.to_thread(dataset.read_bytes)
    except OSError as exc:
        raise CliError(f"cannot read dataset {dataset}: {exc.strerror or exc}") from None
    try:
        ds = await client.upload_dataset(content, dataset.name, dataset.stem)
        start = start or StartTags()
        run = await client.start_batch_run(
            workflow_id,
            ds["id"],
            concurrency,
            tags=start.tags,
            metadata=start.metadata,
            idempotency_key=start.idempotency_key,
        )
    except Invalid as exc:
        lines = problem_lines(exc.problems)
        raise CliError(f"cannot run the workflow over {dataset}", lines) from None
    follow = _follow_batch(client, run["id"], ds["row_count"], console)
    run = await cancel_on_interrupt(client, run["id"], follow)
    results = await client.download_output_file(run["output_file_id"] or "")
    return run, results


def count_statuses(results: bytes) -> Counter[str]:
    """How many lines of a batch's results have each ``status``."""
    return Counter(orjson.loads(line)["status"] for line in results.splitlines() if line.strip())


@dataclass(frozen=True)
class RunOptions:
    """What ``spurline run`` was given (see its help)."""

    file: Path | None
    workflow_id: str | None
    pairs: list[str]
    inputs_file: Path | None
    all_outputs: bool
    as_json: bool
    start: StartTags = StartTags()


async def _workflow(
    client: AsyncClient, options: RunOptions, wf: WorkflowFile | None
) -> tuple[WorkflowFile, str]:
    """The workflow to run and its id: the file stored by the rule of ``cli._apply``, or
    the stored workflow ``--workflow`` names when no file is given."""
    if wf is not None:
        return wf, (await apply(client, wf, options.workflow_id)).workflow["id"]
    if not options.workflow_id:
        raise CliError("give a workflow FILE, or --workflow ID to run a stored workflow")
    stored = await client.get_workflow(options.workflow_id)
    data = {k: stored[k] for k in ("name", "description", "definition")}
    return WorkflowFile(Path(stored["name"]), data), stored["id"]


def run_one(target: Target, options: RunOptions) -> None:
    """``spurline run`` without ``--dataset``: one run, its result printed.

    Raises:
        CliError: a bad file or input (nothing is stored), an unknown workflow.
        Interrupted: Ctrl-C; the run was canceled.
        typer.Exit: the run did not complete (status 1).
    """
    from spurline.cli import _inputs

    wf = WorkflowFile(options.file) if options.file is not None else None

    def inputs_for(definition: WorkflowFile) -> dict[str, Any]:
        return _inputs.initial_inputs(
            definition.definition, options.pairs, options.inputs_file, err
        )

    checked = inputs_for(wf) if wf is not None else None  # before anything is stored

    async def body(client: AsyncClient) -> tuple[WorkflowFile, Run]:
        chosen, wf_id = await _workflow(client, options, wf)
        initial = checked if checked is not None else inputs_for(chosen)
        return chosen, await start_and_wait(client, wf_id, initial, options.start)

    chosen, run = call(target, body, create=True)
    _report(chosen, run, options)


def _report(wf: WorkflowFile, run: Run, options: RunOptions) -> None:
    outputs = run["outputs"] or {}
    result_id = wf.output_node_id()
    completed = run["status"] == "COMPLETED"
    if options.as_json:
        _render.print_json(out, run)
    elif completed:
        shown = outputs if options.all_outputs or result_id not in outputs else outputs[result_id]
        _render.print_json(out, shown)
    if completed:
        err.print(f"run {run['id']} COMPLETED in {run['duration'] or 0:.3f} s", highlight=False)
        return
    err.print(
        f"[red]run {run['id']} {run['status']}:[/red] {escape(run['message'] or '')}\n"
        f"details: spurline runs show {run['id']}",
        highlight=False,
    )
    raise typer.Exit(NOT_COMPLETED)


def run_batch(
    target: Target, options: RunOptions, dataset: Path, concurrency: int, output: Path | None
) -> None:
    """``spurline run --dataset``: a batch with a progress bar, then a summary.

    Raises:
        CliError: a bad workflow file or dataset, a column missing, an unwritable output.
        Interrupted: Ctrl-C; the batch was canceled.
        typer.Exit: the batch did not complete (status 1).
    """
    wf = WorkflowFile(options.file) if options.file is not None else None

    async def body(client: AsyncClient) -> tuple[Run, bytes]:
        _, wf_id = await _workflow(client, options, wf)
        return await batch(client, wf_id, dataset, concurrency, err, options.start)

    run, results = call(target, body, create=True)
    where = f"output file {run['output_file_id']} (save it with --output FILE)"
    if output is not None:
        try:
            output.write_bytes(results)
        except OSError as exc:
            raise CliError(f"cannot write {output}: {exc.strerror or exc}") from None
        where = str(output)
    counts = count_statuses(results)
    rows = sum(counts.values())
    completed = counts.get("COMPLETED", 0)
    seconds = run["duration"] or 0.0
    rate = f"{rows / seconds:.1f}" if seconds else "-"
    # With --json the parent run is the one thing on stdout; the summary goes to stderr.
    console = err if options.as_json else out
    if options.as_json:
        _render.print_json(out, run)
    console.print(
        f"batch {run['id']} {run['status']}: {rows} rows, {completed} completed, "
        f"{rows - completed} failed, in {seconds:.2f} s ({rate} rows/s)",
        highlight=False,
        soft_wrap=True,
    )
    if run["message"]:
        console.print(escape(run["message"]), highlight=False, soft_wrap=True)
    console.print(f"results: {escape(where)}", highlight=False, soft_wrap=True)
    if run["status"] != "COMPLETED":
        raise typer.Exit(NOT_COMPLETED)
