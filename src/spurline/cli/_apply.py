"""Which stored workflow a workflow file goes to (``spurline run``, ``workflows apply``).

A file never replaces a workflow because of its name (see docs/client.md): it goes to
the workflow given with ``--workflow ID`` or named by the file's top-level ``"id"``
(replaced there, a new version when the definition changed); otherwise to a stored
workflow with the same name and an identical definition; otherwise to a new workflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from spurline.cli._errors import CliError, problem_lines

if TYPE_CHECKING:
    from spurline.cli._workflows import WorkflowFile
    from spurline.client import AsyncClient, Workflow

#: Workflows read per request while looking for an identical one.
SCAN_PAGE_SIZE = 100


def canonical(definition: dict[str, Any]) -> str:
    """A definition as canonical JSON (sorted keys, indented): equal definitions give
    equal text whatever the key order the store kept (PostgreSQL's JSONB sorts)."""
    options = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2
    return orjson.dumps(definition, option=options).decode()


@dataclass
class Applied:
    """Where a file went.

    Attributes:
        workflow: the stored workflow now holding the file's definition.
        outcome: ``created``, ``updated`` (a new version) or ``unchanged``.
        namesakes: ids of other workflows with the same name (left as they are).
    """

    workflow: Workflow
    outcome: str
    namesakes: list[str] = field(default_factory=list)


async def _scan(client: AsyncClient, name: str, text: str) -> tuple[Workflow | None, list[str]]:
    """The stored workflow called ``name`` whose definition is ``text``, and the ids of
    the others called ``name``."""
    namesakes: list[str] = []
    page = 1
    while True:
        found = await client.list_workflows(page=page, page_size=SCAN_PAGE_SIZE)
        for wf in found.items:
            if wf["name"] != name:
                continue
            if canonical(wf["definition"]) == text:
                return wf, namesakes
            namesakes.append(wf["id"])
        if page * SCAN_PAGE_SIZE >= found.total or not found.items:
            return None, namesakes
        page += 1


async def apply(client: AsyncClient, wf: WorkflowFile, workflow_id: str | None) -> Applied:
    """Store ``wf`` by the rule above; ``workflow_id`` is ``--workflow``.

    Raises:
        CliError: the server rejected the definition (every problem listed).
        NotFound: the workflow given by id does not exist.
    """
    from spurline.client import Invalid

    definition = wf.definition.dump()
    text = canonical(definition)
    target = workflow_id or wf.workflow_id
    try:
        if target:
            stored = await client.get_workflow(target)
            same = (stored["name"], stored["description"]) == (wf.name, wf.description)
            if same and canonical(stored["definition"]) == text:
                return Applied(stored, "unchanged")
            new = await client.replace_workflow(target, wf.name, definition, wf.description)
            return Applied(new, "updated")
        stored_same, namesakes = await _scan(client, wf.name, text)
        if stored_same is not None:
            return Applied(stored_same, "unchanged")
        created = await client.create_workflow(wf.name, definition, wf.description)
        return Applied(created, "created", namesakes)
    except Invalid as exc:
        raise CliError(f"workflow {wf.path} is not valid", problem_lines(exc.problems)) from None
