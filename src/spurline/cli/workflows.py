"""``spurline workflows list|show|apply|versions|diff|delete``: stored workflows, on a
server or in the local store (see docs/client.md)."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from spurline.cli._connect import call
from spurline.cli._errors import CliError
from spurline.cli._output import out

if TYPE_CHECKING:
    from spurline.cli._apply import Applied
    from spurline.client import AsyncClient, VersionListItem, Workflow

app = typer.Typer(help="Stored workflows and their versions.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]


@app.command("list")
def workflows_list(
    ctx: typer.Context,
    page: Annotated[int, typer.Option(min=1, help="Page number, from 1.")] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=100, help="Items per page.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Workflows, newest first (as GET /wf/)."""
    from spurline.cli import _render

    found = call(ctx.obj, lambda client: client.list_workflows(page, page_size))
    if as_json:
        _render.print_json(out, found.items)
        return
    rows = [
        [w["id"], w["name"], str(len(w["definition"].get("nodes", []))), w["updated_at"][:19]]
        for w in found.items
    ]
    title = _render.page_title("workflows", page, found.total)
    out.print(_render.table(title, ["id", "name", "nodes", "updated UTC"], rows))


@app.command("show")
def workflows_show(ctx: typer.Context, workflow_id: str, as_json: JsonOpt = False) -> None:
    """One workflow with its current definition (as GET /wf/{id}/)."""
    from spurline.cli import _render
    from spurline.cli._apply import canonical

    async def body(client: AsyncClient) -> tuple[Workflow, list[VersionListItem]]:
        return await client.get_workflow(workflow_id), await client.workflow_versions(workflow_id)

    wf, versions = call(ctx.obj, body)
    if as_json:
        _render.print_json(out, wf)
        return
    latest = versions[0]["version"] if versions else "?"
    out.print(
        f"[bold]{escape(wf['name'])}[/bold]  {wf['id']}  version {latest} of {len(versions)}",
        highlight=False,
        soft_wrap=True,
    )
    if wf["description"]:
        out.print(escape(wf["description"]), highlight=False, soft_wrap=True)
    out.print(escape(canonical(wf["definition"])), highlight=False, soft_wrap=True)


def _applied_message(applied: Applied) -> str:
    wf = applied.workflow
    text = f"workflow {wf['id']} ({wf['name']}) {applied.outcome}"
    if applied.namesakes:
        others = ", ".join(applied.namesakes)
        text += (
            f"; other workflows are named {wf['name']!r} ({others}): "
            "pass --workflow ID to replace one of them instead"
        )
    return text


@app.command("apply")
def workflows_apply(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="Workflow JSON: a definition or {name, description, definition}.")
    ],
    workflow_id: Annotated[
        str | None, typer.Option("--workflow", help="Store the file in this workflow.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Store a workflow file: in --workflow ID or the file's "id" (a new version when the
    definition changed), else in a stored workflow with the same name and an identical
    definition, else as a new workflow. Never over a workflow because of its name."""
    from spurline.cli import _render
    from spurline.cli._apply import apply
    from spurline.cli._workflows import WorkflowFile

    wf = WorkflowFile(file)
    applied = call(ctx.obj, lambda client: apply(client, wf, workflow_id))
    if as_json:
        _render.print_json(out, {**applied.workflow, "outcome": applied.outcome})
    else:
        out.print(escape(_applied_message(applied)), highlight=False, soft_wrap=True)


@app.command("versions")
def workflows_versions(ctx: typer.Context, workflow_id: str, as_json: JsonOpt = False) -> None:
    """Every version of a workflow, newest first (as GET /wf/{id}/versions/)."""
    from spurline.cli import _render

    versions = call(ctx.obj, lambda client: client.workflow_versions(workflow_id))
    if as_json:
        _render.print_json(out, versions)
        return
    rows = [
        [str(v["version"]), v["id"], v["name"], v["definition_hash"][:12], v["created_at"][:19]]
        for v in versions
    ]
    title = f"versions of {workflow_id} ({len(versions)})"
    out.print(_render.table(title, ["version", "id", "name", "hash", "created UTC"], rows))


def _pick(versions: list[VersionListItem], number: int | None, default: int) -> VersionListItem:
    if number is None:
        return versions[default]
    for v in versions:
        if v["version"] == number:
            return v
    known = ", ".join(str(v["version"]) for v in reversed(versions))
    raise CliError(f"the workflow has no version {number} (its versions: {known})")


@app.command("diff")
def workflows_diff(
    ctx: typer.Context,
    workflow_id: str,
    old: Annotated[
        int | None, typer.Argument(help="Version (default: the one before new).")
    ] = None,
    new: Annotated[int | None, typer.Argument(help="Version (default: the latest).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """A unified diff of two versions' definitions (canonical JSON: sorted keys)."""
    from spurline.cli import _render
    from spurline.cli._apply import canonical

    versions = call(ctx.obj, lambda client: client.workflow_versions(workflow_id))
    to = _pick(versions, new, 0)
    index = versions.index(to)
    if old is None and index + 1 >= len(versions):
        raise CliError(f"workflow {workflow_id} has no version before {to['version']}")
    frm = _pick(versions, old, index + 1)
    a, b = (canonical(v["definition"]).splitlines(keepends=True) for v in (frm, to))
    lines = list(
        difflib.unified_diff(a, b, f"version {frm['version']}", f"version {to['version']}")
    )
    if as_json:
        body: dict[str, Any] = {
            "workflow_id": workflow_id,
            "from_version": frm["version"],
            "to_version": to["version"],
            "diff": "".join(lines),
        }
        _render.print_json(out, body)
        return
    out.file.write("".join(lines))
    out.file.flush()


@app.command("delete")
def workflows_delete(ctx: typer.Context, workflow_id: str, as_json: JsonOpt = False) -> None:
    """Delete a workflow with its versions and runs (refused while it has active runs)."""
    from spurline.cli import _render

    call(ctx.obj, lambda client: client.delete_workflow(workflow_id))
    _render.deleted(out, "workflow", workflow_id, as_json)
