"""The ``spurline`` command: serve the API, run workflows, inspect runs, upgrade the store.

Commands call the layers below; exit status 0 means success, 1 a run that did not
complete, 2 a usage error (bad file, bad input, unknown id).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from spurline.cli import _workflows
from spurline.engine.states import RunStatus
from spurline.exceptions import DefinitionError, NotFound
from spurline.settings import get_settings

app = typer.Typer(
    help="Spurline: workflow runs with a PySpur-compatible Runs API.",
    no_args_is_help=True,
    add_completion=False,
)
runs_app = typer.Typer(help="Inspect runs.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the store.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(db_app, name="db")
out = Console()
err = Console(stderr=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 6080,
    load_examples: Annotated[
        Path | None, typer.Option(help="Folder of workflow JSON files to load at start.")
    ] = None,
) -> None:
    """Serve the HTTP API (docs at /docs)."""
    import uvicorn

    from spurline.api.app import create_app

    settings = get_settings()
    if load_examples is not None:
        loaded = _workflows.load_folder(settings, load_examples)
        for name, wf_id in loaded:
            out.print(f"loaded example [bold]{name}[/bold] as workflow {wf_id}", highlight=False)
    out.print(
        f"Spurline on http://{host}:{port}  (docs: /docs, store: "
        f"{settings.resolved_database_url()})",
        highlight=False,
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


def _parse_inputs(
    definition: dict[str, Any], pairs: list[str], inputs_file: Path | None
) -> dict[str, Any]:
    if inputs_file is not None:
        try:
            data = orjson.loads(inputs_file.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise _fail(f"cannot read --inputs {inputs_file}: {exc}") from None
        if not isinstance(data, dict):
            raise _fail(f"--inputs {inputs_file} must hold a JSON object")
        return data
    input_node = next(
        (
            n
            for n in definition.get("nodes", [])
            if n.get("node_type") == "InputNode" and not n.get("parent_id")
        ),
        None,
    )
    if input_node is None:
        raise _fail("the workflow has no InputNode")
    schema = (input_node.get("config") or {}).get("output_schema") or {}
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise _fail(f"--input takes field=value, got {pair!r}")
        if schema.get(name) in ("str", "string"):
            values[name] = raw
        else:
            try:
                values[name] = json.loads(raw)
            except json.JSONDecodeError:
                values[name] = raw
    return {input_node["id"]: values} if values or pairs else {}


@app.command("run")
def run_workflow(
    workflow: Annotated[
        Path, typer.Argument(help="Workflow JSON: a definition or {name, description, definition}.")
    ],
    input_: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="An input field, field=value.")
    ] = None,
    inputs: Annotated[Path | None, typer.Option(help="JSON file {input_node_id: {...}}.")] = None,
) -> None:
    """Execute a workflow here, record the run in the store, print its outputs."""
    name, description, definition = _workflows.read_file(workflow)
    initial = _parse_inputs(definition, input_ or [], inputs)
    try:
        status, view = asyncio.run(
            _workflows.run_once(get_settings(), name, description, definition, initial)
        )
    except DefinitionError as exc:
        lines = "\n".join(f"  - {p.get('msg')}" for p in exc.problems)
        raise _fail(f"{workflow} is not valid:\n{lines}") from None
    if status is RunStatus.COMPLETED:
        out.print_json(orjson.dumps(view["outputs"] or {}).decode())
        err.print(f"run {view['id']} COMPLETED in {view['duration']:.3f} s", highlight=False)
        return
    err.print(f"run {view['id']} {status.value}: {view['message']}", highlight=False)
    raise typer.Exit(1)


@runs_app.command("list")
def runs_list(
    page: Annotated[int, typer.Option(min=1)] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=100)] = 20,
    status: Annotated[list[RunStatus] | None, typer.Option(help="Filter by status.")] = None,
) -> None:
    """Runs, newest first."""
    snaps, total = _workflows.list_runs(get_settings(), page, page_size, status or [])
    table = Table(title=f"runs (page {page}, {total} in all)")
    for col in ("id", "workflow", "status", "type", "started", "duration s", "%"):
        table.add_column(col)
    for v in snaps:
        table.add_row(
            v["id"],
            v["workflow_id"],
            v["status"],
            v["run_type"],
            v["start_time"].isoformat(timespec="seconds"),
            "" if v["duration"] is None else f"{v['duration']:.3f}",
            f"{v['percentage_complete']:g}",
        )
    out.print(table)


@runs_app.command("show")
def runs_show(run_id: str) -> None:
    """One run and its tasks."""
    try:
        v = _workflows.show_run(get_settings(), run_id)
    except NotFound:
        raise _fail(f"no run {run_id}") from None
    out.print(
        f"[bold]{v['id']}[/bold]  {v['status']}  workflow {v['workflow_id']}  "
        f"{v['percentage_complete']:g}%",
        highlight=False,
    )
    if v["message"]:
        out.print(v["message"], highlight=False)
    table = Table()
    for col in ("node", "type", "status", "start", "end", "outputs / error"):
        table.add_column(col, overflow="fold")
    for t in v["tasks"]:
        detail = t["error"] if t["error"] else orjson.dumps(t["outputs"]).decode()
        table.add_row(
            t["node_id"],
            t["node_type"],
            t["status"],
            t["start_time"].isoformat(timespec="milliseconds") if t["start_time"] else "",
            t["end_time"].isoformat(timespec="milliseconds") if t["end_time"] else "",
            detail[:200],
        )
    out.print(table)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""
    from spurline.store.db import Database

    settings = get_settings()
    db = Database(settings.resolved_database_url())
    try:
        db.upgrade()
    finally:
        db.close()
    out.print(f"store at {settings.resolved_database_url()} is up to date", highlight=False)
