"""What the CLI does with workflow files and the store, kept out of the command functions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from spurline.cli._errors import CliError, problem_lines
from spurline.cli._jsonfile import read_json_object
from spurline.engine.definition import WorkflowDefinition
from spurline.engine.records import StartOptions
from spurline.engine.states import RunStatus
from spurline.exceptions import DefinitionInvalid
from spurline.nodes._sandbox import shutdown_default_pool
from spurline.nodes.registry import parse_definition
from spurline.runtime import Runtime
from spurline.settings import Settings
from spurline.store import runs as run_q
from spurline.store import workflows as wf_q
from spurline.store.db import Database


class WorkflowFile:
    """A workflow read from a JSON file and validated (docs/runs-api.md#workflow-definitions).

    The file holds a definition ``{nodes, links}`` or ``{name, description, definition}``
    (the form of ``examples/``); the name defaults to the file's stem.

    Raises:
        CliError: unreadable file, malformed JSON, not an object, or an invalid
            definition (every problem listed).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        data = read_json_object(path, "workflow")
        raw: Any = data
        self.name = path.stem
        self.description: str | None = None
        if "definition" in data:
            raw, name, description = data["definition"], data.get("name"), data.get("description")
            self.name = str(name or path.stem)
            self.description = None if description is None else str(description)
        try:
            self.definition: WorkflowDefinition = parse_definition(raw)
        except DefinitionInvalid as exc:
            lines = problem_lines(exc.problems)
            raise CliError(f"workflow {path} is not valid", lines) from None

    def output_node_id(self) -> str | None:
        """The id of the top-level OutputNode, if the workflow has one."""
        return next(
            (
                n.id
                for n in self.definition.nodes
                if n.node_type == "OutputNode" and n.parent_id is None
            ),
            None,
        )


def read_file(path: Path) -> tuple[str, str | None, dict[str, Any]]:
    """``(name, description, definition)`` of a valid workflow file; see :class:`WorkflowFile`."""
    wf = WorkflowFile(path)
    return wf.name, wf.description, wf.definition.dump()


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
    """Load every ``*.json`` workflow in ``folder``; returns ``[(name, workflow_id)]``.

    Every file is checked before any is stored, so one bad file stores nothing.

    Raises:
        CliError: ``folder`` is not a folder, or a file in it is not a valid workflow.
    """
    if not folder.is_dir():
        raise CliError(f"--load-examples {folder}: no such folder")
    workflows = [read_file(path) for path in sorted(folder.glob("*.json"))]
    db = Database(settings.resolved_database_url())
    try:
        db.upgrade()
        return [(name, upsert_workflow(db, name, desc, d)) for name, desc, d in workflows]
    finally:
        db.close()


async def run_once(
    settings: Settings,
    name: str,
    description: str | None,
    definition: dict[str, Any],
    initial_inputs: dict[str, Any],
    options: StartOptions | None = None,
) -> tuple[RunStatus, dict[str, Any]]:
    """Record the workflow, execute one run in this process, return its status and view.

    Raises:
        InputsInvalid: ``initial_inputs`` do not fit the InputNode; no run is created.
    """
    rt = Runtime(settings)
    try:
        await rt.start(recover=False)
        wf_id = upsert_workflow(rt.db, name, description, definition)
        run, _ = await rt.start_run(wf_id, initial_inputs, options=options)
        status = await rt.wait(run.id, timeout=math.inf)
        snap = await rt.snapshot(run.id)
        return status or snap.run.status, rt.view(snap)
    finally:
        await rt.close()
        # Stop the code workers before the process exits: a worker replaced after a
        # cancel or timeout may still be starting, and would fail noisily on exit.
        shutdown_default_pool()


def list_runs(
    settings: Settings, page: int, page_size: int, flt: run_q.RunFilter
) -> tuple[list[dict[str, Any]], int]:
    """A page of run views, newest first, and the total."""
    rt = Runtime(settings)
    try:
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


def run_attempts(settings: Settings, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every stored attempt of a run's tasks, by task id (docs/observability.md)."""
    from spurline.store import events
    from spurline.store.db import Database

    db = Database(settings.resolved_database_url())
    try:
        return db.read(lambda c: events.attempts_by_task(c, run_id))
    finally:
        db.close()
