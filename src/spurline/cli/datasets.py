"""``spurline datasets list|upload|show|delete``: datasets for batch runs, on a server or
in the local store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from spurline.cli._connect import call
from spurline.cli._errors import CliError, problem_lines
from spurline.cli._output import out

if TYPE_CHECKING:
    from spurline.client import AsyncClient, Dataset

app = typer.Typer(help="Datasets for batch runs.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
COLUMNS = ["id", "name", "rows", "columns", "uploaded UTC"]


def _row(ds: Dataset, all_columns: bool = True) -> list[str]:
    # a list page in a narrow terminal keeps one line per dataset: the number of
    # columns; `datasets show` names them
    columns = ", ".join(ds["columns"]) if all_columns else str(len(ds["columns"]))
    uploaded = ds["uploaded_at"][:19] if all_columns else ds["uploaded_at"][:16].replace("T", " ")
    return [ds["id"], ds["name"], str(ds["row_count"]), columns, uploaded]


@app.command("list")
def datasets_list(
    ctx: typer.Context,
    page: Annotated[int, typer.Option(min=1, help="Page number, from 1.")] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=100, help="Items per page.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Datasets, newest first (as GET /ds/)."""
    from spurline.cli import _render

    found = call(ctx.obj, lambda client: client.list_datasets(page, page_size))
    if as_json:
        _render.print_json(out, found.items)
        return
    title = _render.page_title("datasets", page, found.total)
    wide = out.width >= 160
    out.print(_render.table(title, COLUMNS, [_row(d, wide) for d in found.items]))


@app.command("upload")
def datasets_upload(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV with a header, JSON lines, or a JSON array.")],
    name: Annotated[str | None, typer.Option(help="Its name (default: the file's stem).")] = None,
    description: Annotated[str | None, typer.Option(help="What it holds.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Upload a dataset (as POST /ds/)."""
    from spurline.cli import _render
    from spurline.client import Invalid

    try:
        content = file.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read dataset {file}: {exc.strerror or exc}") from None

    async def body(client: AsyncClient) -> Dataset:
        try:
            return await client.upload_dataset(content, file.name, name or file.stem, description)
        except Invalid as exc:
            lines = problem_lines(exc.problems)
            raise CliError(f"{file} is not a dataset", lines) from None

    ds = call(ctx.obj, body)
    if as_json:
        _render.print_json(out, ds)
    else:
        out.print(
            escape(
                f"dataset {ds['id']} ({ds['name']}): {ds['row_count']} rows, columns "
                f"{', '.join(ds['columns'])}"
            ),
            highlight=False,
            soft_wrap=True,
        )


@app.command("show")
def datasets_show(ctx: typer.Context, dataset_id: str, as_json: JsonOpt = False) -> None:
    """One dataset (as GET /ds/{id}/)."""
    from spurline.cli import _render

    ds = call(ctx.obj, lambda client: client.get_dataset(dataset_id))
    if as_json:
        _render.print_json(out, ds)
        return
    out.print(_render.table(f"dataset {dataset_id}", COLUMNS, [_row(ds)]))


@app.command("delete")
def datasets_delete(ctx: typer.Context, dataset_id: str, as_json: JsonOpt = False) -> None:
    """Delete a dataset and its file (refused while a batch reads it)."""
    from spurline.cli import _render

    call(ctx.obj, lambda client: client.delete_dataset(dataset_id))
    _render.deleted(out, "dataset", dataset_id, as_json)
