"""Workflow files: reading and checking them, and loading a folder of them into the
store (``serve --load-examples``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from spurline.cli._errors import CliError, problem_lines
from spurline.cli._jsonfile import read_json_object
from spurline.engine.definition import WorkflowDefinition
from spurline.exceptions import DefinitionInvalid
from spurline.nodes.registry import parse_definition

if TYPE_CHECKING:  # the store is imported by the functions that use it (`serve`)
    from spurline.settings import Settings
    from spurline.store.db import Database


class WorkflowFile:
    """A workflow read from a JSON file and validated (docs/runs-api.md#workflow-definitions).

    The file holds a definition ``{nodes, links}`` or ``{name, description, definition}``
    (the form of ``examples/``); the name defaults to the file's stem. A top-level
    ``"id"`` (and ``"name"``, ``"description"``) count in either form.

    Raises:
        CliError: unreadable file, malformed JSON, not an object, or an invalid
            definition (every problem listed).
    """

    def __init__(self, path: Path, data: dict[str, Any] | None = None) -> None:
        self.path = path
        if data is None:
            data = read_json_object(path, "workflow")
        raw: Any = data
        self.name = path.stem
        self.description: str | None = None
        #: The workflow this file belongs to (top-level ``"id"``), if it names one.
        self.workflow_id: str | None = None
        if "definition" in data:
            raw, name, description = data["definition"], data.get("name"), data.get("description")
            self.name = str(name or path.stem)
            self.description = None if description is None else str(description)
            self.workflow_id = str(data["id"]) if data.get("id") else None
        else:  # a bare definition: what names the workflow is not part of it
            raw = {k: v for k, v in data.items() if k not in ("id", "name", "description")}
            if isinstance(data.get("name"), str) and data["name"]:
                self.name = data["name"]
            if isinstance(data.get("description"), str):
                self.description = data["description"]
            self.workflow_id = str(data["id"]) if data.get("id") else None
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
    """The id of the workflow called ``name``, created or given a new version as needed
    (``serve --load-examples``: the examples folder owns those workflows)."""
    from spurline.store import workflows as wf_q

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
    from spurline.store.db import Database

    workflows = [read_file(path) for path in sorted(folder.glob("*.json"))]
    db = Database(settings.resolved_database_url())
    try:
        db.upgrade()
        return [(name, upsert_workflow(db, name, desc, d)) for name, desc, d in workflows]
    finally:
        db.close()
