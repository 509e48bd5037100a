"""Workflows and their versions (docs/runs-api.md#running): create, read, replace (new version),
delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select, update

from spurline.engine.clock import new_id, now
from spurline.engine.definition import definition_hash
from spurline.engine.records import VersionRecord
from spurline.engine.references import Loaded, reference_cycle
from spurline.engine.states import RunStatus
from spurline.exceptions import Conflict, DefinitionInvalid, NotFound
from spurline.store._raw import fetchall, placeholders
from spurline.store._rows import VERSION_COLS, version_record
from spurline.store.orm import RUNS, VERSIONS, WORKFLOWS
from spurline.store.versions import versions


@dataclass
class WorkflowRecord:
    """A workflow as served: ``{id, name, description, definition, created_at, updated_at}``."""

    id: str
    name: str
    description: str | None
    definition: dict[str, Any]
    current_version_id: str | None
    created_at: datetime
    updated_at: datetime


_WF_COLS = list(WORKFLOWS.c)
# read by every run start: built once (see store.runs for why)
_WF_BY_ID = select(*_WF_COLS).where(WORKFLOWS.c.id == bindparam("b_wf_id"))


def _workflow(row: Any) -> WorkflowRecord:
    return WorkflowRecord(**row._asdict())


def _new_version(
    conn: Connection,
    wf_id: str,
    number: int,
    name: str,
    description: str | None,
    definition: dict[str, Any],
    at: datetime,
) -> str:
    vid = new_id("V")
    conn.execute(
        VERSIONS.insert(),
        [
            {
                "id": vid,
                "workflow_id": wf_id,
                "version": number,
                "name": name,
                "description": description,
                "definition": definition,
                "definition_hash": definition_hash(definition),
                "created_at": at,
                "updated_at": at,
            }
        ],
    )
    return vid


def check_references(conn: Connection, wf_id: str, name: str, definition: dict[str, Any]) -> None:
    """Refuse a save whose sub-workflow references reach a loop
    (docs/reliability.md#bounded-nesting). Runs in the saving transaction; two saves
    racing on PostgreSQL may still close a loop together, which the run-time depth
    limit then stops.

    Raises:
        DefinitionInvalid: naming the path of references, at the ``workflow_id`` of
            the saved definition that starts it.
    """

    def load(target: str) -> Loaded:
        row = conn.execute(
            select(WORKFLOWS.c.name, WORKFLOWS.c.definition).where(WORKFLOWS.c.id == target)
        ).first()
        return None if row is None else (row.name, row.definition)

    cycle = reference_cycle(wf_id, name, definition, load)
    if cycle is not None:
        problem = {
            "path": ("definition", *cycle.path),
            "msg": cycle.message(),
            "type": "reference_cycle",
        }
        raise DefinitionInvalid([problem])


def create_workflow(
    conn: Connection, name: str, description: str | None, definition: dict[str, Any]
) -> WorkflowRecord:
    """Insert a workflow and its version 1 (the definition must be validated already).

    Raises:
        DefinitionInvalid: its sub-workflow references reach a loop (see
            :func:`check_references`).
    """
    at = now()
    wf_id = new_id("W")
    check_references(conn, wf_id, name, definition)
    conn.execute(
        WORKFLOWS.insert(),
        [
            {
                "id": wf_id,
                "name": name,
                "description": description,
                "definition": definition,
                "current_version_id": None,
                "created_at": at,
                "updated_at": at,
            }
        ],
    )
    vid = _new_version(conn, wf_id, 1, name, description, definition, at)
    conn.execute(update(WORKFLOWS).where(WORKFLOWS.c.id == wf_id).values(current_version_id=vid))
    return get_workflow(conn, wf_id)


def get_workflow(conn: Connection, wf_id: str) -> WorkflowRecord:
    """One workflow; NotFound when absent."""
    row = conn.execute(_WF_BY_ID, {"b_wf_id": wf_id}).first()
    if row is None:
        raise NotFound("Workflow", wf_id)
    return _workflow(row)


_CURRENT_VERSION = select(WORKFLOWS.c.current_version_id).where(
    WORKFLOWS.c.id == bindparam("b_wf_id")
)


def current_version_id(conn: Connection, wf_id: str) -> str | None:
    """The id of a workflow's current version; NotFound when absent. Every run start
    asks: the definition (possibly megabytes of JSON) is not read."""
    row = conn.execute(_CURRENT_VERSION, {"b_wf_id": wf_id}).first()
    if row is None:
        raise NotFound("Workflow", wf_id)
    return None if row[0] is None else str(row[0])


def is_current(conn: Connection, wf_id: str, version_id: str) -> bool:
    """Whether ``version_id`` is the current version of workflow ``wf_id`` (False for no
    such workflow); on the driver's cursor: a run start asks it in its insert."""
    pg = conn.dialect.name == "postgresql"
    rows = fetchall(conn, placeholders(_IS_CURRENT, pg), (wf_id,))
    return bool(rows) and rows[0][0] == version_id


_IS_CURRENT = "SELECT current_version_id FROM workflows WHERE id = {}"


def find_workflow_by_name(conn: Connection, name: str) -> WorkflowRecord | None:
    """The newest workflow called ``name``, or None."""
    row = conn.execute(
        select(*_WF_COLS).where(WORKFLOWS.c.name == name).order_by(WORKFLOWS.c.created_at.desc())
    ).first()
    return _workflow(row) if row else None


def list_workflows(conn: Connection, page: int, page_size: int) -> tuple[list[WorkflowRecord], int]:
    """A page of workflows, newest first, and the total count."""
    total = conn.execute(select(func.count()).select_from(WORKFLOWS)).scalar_one()
    rows = conn.execute(
        select(*_WF_COLS)
        .order_by(WORKFLOWS.c.created_at.desc(), WORKFLOWS.c.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return [_workflow(r) for r in rows], total


def update_workflow(
    conn: Connection, wf_id: str, name: str, description: str | None, definition: dict[str, Any]
) -> WorkflowRecord:
    """Replace a workflow; a changed definition, name or description makes a new version.

    The workflow row is locked first (PostgreSQL; SQLite writers are serialised), so
    concurrent replacements from several API processes number their versions in turn.

    Raises:
        NotFound: unknown workflow.
        DefinitionInvalid: its sub-workflow references would reach a loop (see
            :func:`check_references`).
    """
    conn.execute(select(WORKFLOWS.c.id).where(WORKFLOWS.c.id == wf_id).with_for_update())
    wf = get_workflow(conn, wf_id)
    check_references(conn, wf_id, name, definition)
    at = now()
    changed = (
        definition_hash(definition) != definition_hash(wf.definition)
        or name != wf.name
        or description != wf.description
    )
    vid = wf.current_version_id
    if changed:
        number = conn.execute(
            select(func.max(VERSIONS.c.version)).where(VERSIONS.c.workflow_id == wf_id)
        ).scalar_one()
        vid = _new_version(conn, wf_id, (number or 0) + 1, name, description, definition, at)
    conn.execute(
        update(WORKFLOWS)
        .where(WORKFLOWS.c.id == wf_id)
        .values(
            name=name,
            description=description,
            definition=definition,
            current_version_id=vid,
            updated_at=at,
        )
    )
    return get_workflow(conn, wf_id)


def delete_workflow(conn: Connection, wf_id: str) -> None:
    """Delete a workflow with its versions and runs.

    Raises:
        NotFound: unknown workflow.
        Conflict: a run of it is PENDING, RUNNING or PAUSED.
    """
    get_workflow(conn, wf_id)
    active = conn.execute(
        select(func.count())
        .select_from(RUNS)
        .where(
            RUNS.c.workflow_id == wf_id,
            RUNS.c.status.in_([RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED]),
        )
    ).scalar_one()
    if active:
        raise Conflict(f"Workflow {wf_id} has {active} active run(s); cancel them first")
    vids = [
        r[0] for r in conn.execute(select(VERSIONS.c.id).where(VERSIONS.c.workflow_id == wf_id))
    ]
    conn.execute(delete(RUNS).where(RUNS.c.workflow_id == wf_id, RUNS.c.parent_run_id.is_(None)))
    conn.execute(delete(RUNS).where(RUNS.c.workflow_id == wf_id))
    conn.execute(delete(WORKFLOWS).where(WORKFLOWS.c.id == wf_id))
    versions.forget(vids)


def list_versions(conn: Connection, wf_id: str) -> list[VersionRecord]:
    """Every version of a workflow, newest first; NotFound for an unknown workflow."""
    get_workflow(conn, wf_id)
    rows = conn.execute(
        select(*VERSION_COLS)
        .where(VERSIONS.c.workflow_id == wf_id)
        .order_by(VERSIONS.c.version.desc())
    )
    return [version_record(r) for r in rows]
