"""What the CLI does with files and the store, kept out of the command functions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import typer

from spurline.engine.definition import parse_definition
from spurline.engine.states import RunStatus
from spurline.runtime import Runtime
from spurline.settings import Settings
from spurline.store import runs as run_q
from spurline.store import workflows as wf_q
from spurline.store.db import Database


def read_file(path: Path) -> tuple[str, str | None, dict[str, Any]]:
    """``(name, description, definition)`` from a workflow JSON file.

    The file holds a definition ``{nodes, links}`` or ``{name, description, definition}``;
    the name defaults to the file's stem. Exits with status 2 on an unreadable file.
    """
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        typer.echo(f"error: cannot read workflow {path}: {exc}", err=True)
        raise typer.Exit(2) from None
    if not isinstance(data, dict):
        typer.echo(f"error: {path} must hold a JSON object", err=True)
        raise typer.Exit(2)
    if "definition" in data:
        return str(data.get("name") or path.stem), data.get("description"), data["definition"]
    return path.stem, None, data


def upsert_workflow(
    db: Database, name: str, description: str | None, definition: dict[str, Any]
) -> str:
    """The id of the workflow called ``name``, created or given a new version as needed."""
    clean = parse_definition(definition).dump()

    def op(conn: Any) -> str:
        found = wf_q.find_workflow_by_name(conn, name)
        if found is None:
            return wf_q.create_workflow(conn, name, description, clean).id
        return wf_q.update_workflow(conn, found.id, name, description, clean).id

    return db.writer.run(op)


def load_folder(settings: Settings, folder: Path) -> list[tuple[str, str]]:
    """Load every ``*.json`` workflow in ``folder``; returns ``[(name, workflow_id)]``."""
    db = Database(settings.resolved_database_url())
    try:
        db.upgrade()
        return [
            (name, upsert_workflow(db, name, description, definition))
            for name, description, definition in map(read_file, sorted(folder.glob("*.json")))
        ]
    finally:
        db.close()


async def run_once(
    settings: Settings,
    name: str,
    description: str | None,
    definition: dict[str, Any],
    initial_inputs: dict[str, Any],
) -> tuple[RunStatus, dict[str, Any]]:
    """Record the workflow, execute one run in this process, return its status and view."""
    rt = Runtime(settings)
    try:
        await rt.start(recover=False)
        wf_id = upsert_workflow(rt.db, name, description, definition)
        run, _ = await rt.start_run(wf_id, initial_inputs)
        status = await rt.wait(run.id, timeout=math.inf)
        snap = await rt.snapshot(run.id)
        return status or snap.run.status, rt.view(snap)
    finally:
        await rt.close()


def list_runs(
    settings: Settings, page: int, page_size: int, statuses: list[RunStatus]
) -> tuple[list[dict[str, Any]], int]:
    """A page of run views, newest first, and the total."""
    rt = Runtime(settings)
    try:
        flt = run_q.RunFilter(tuple(statuses))
        snaps, total = rt.db.read(lambda c: run_q.list_runs(c, page, page_size, flt))
        return [rt.view(s) for s in snaps], total
    finally:
        rt.db.close()


def show_run(settings: Settings, run_id: str) -> dict[str, Any]:
    """One run's view; NotFound when absent."""
    rt = Runtime(settings)
    try:
        return rt.view(rt.db.read(lambda c: run_q.get_snapshot(c, run_id)))
    finally:
        rt.db.close()
