"""Datasets (docs/child-runs-and-batches.md): upload (multipart field ``file``), list, get,
delete."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from starlette.datastructures import UploadFile

from spurline.api._http import OrjsonResponse, SlashRouter, page_headers
from spurline.api.deps import PageDep, PageSizeDep, RuntimeDep
from spurline.api.schemas import DatasetResponseSchema, ErrorResponse
from spurline.exceptions import DatasetInvalid
from spurline.store import datasets as ds_q
from spurline.store.datasets import DatasetRecord

router = SlashRouter(prefix="/ds", tags=["datasets"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Dataset not found"}
}


def dataset_view(ds: DatasetRecord) -> dict[str, Any]:
    """A dataset as served: ``{id, name, description, columns, row_count, uploaded_at}``."""
    return {
        "id": ds.id,
        "name": ds.name,
        "description": ds.description,
        "columns": ds.columns,
        "row_count": ds.row_count,
        "uploaded_at": ds.uploaded_at,
    }


def _field(form: Any, request: Request, name: str) -> str | None:
    value = form.get(name)
    if isinstance(value, str):
        return value
    return request.query_params.get(name)


@router.post(
    "/",
    response_model=DatasetResponseSchema,
    responses={413: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)
async def upload_dataset(request: Request, rt: RuntimeDep) -> Response:
    """Upload a CSV (with header), JSON lines or a JSON array of objects as field ``file``;
    ``name`` and ``description`` as form fields or query parameters."""
    form = await request.form()
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            msg = "send the dataset as a multipart form field named 'file'"
            raise DatasetInvalid([{"path": ("file",), "msg": msg, "type": "missing"}])
        filename = upload.filename or "dataset"
        name = _field(form, request, "name") or Path(filename).stem or "dataset"
        description = _field(form, request, "description")
        ds = await rt.datasets.add(upload.file, filename, name, description)
    finally:
        await form.close()
    return OrjsonResponse(dataset_view(ds))


@router.get("/", response_model=list[DatasetResponseSchema])
async def list_datasets(
    request: Request, rt: RuntimeDep, page: PageDep = 1, page_size: PageSizeDep = 10
) -> Response:
    """Datasets, newest first."""
    found, total = await rt.read(lambda c: ds_q.list_datasets(c, page, page_size))
    return OrjsonResponse(
        [dataset_view(d) for d in found], headers=page_headers(request, page, page_size, total)
    )


@router.get("/{dataset_id}/", response_model=DatasetResponseSchema, responses=NOT_FOUND)
async def get_dataset(dataset_id: str, rt: RuntimeDep) -> Response:
    """One dataset."""
    return OrjsonResponse(dataset_view(await rt.read(lambda c: ds_q.get_dataset(c, dataset_id))))


@router.delete(
    "/{dataset_id}/",
    status_code=204,
    response_class=Response,
    responses={**NOT_FOUND, 409: {"model": ErrorResponse, "description": "A batch reads it"}},
)
async def delete_dataset(dataset_id: str, rt: RuntimeDep) -> Response:
    """Delete a dataset and its file."""
    path = await rt.write(lambda c: ds_q.delete_dataset(c, dataset_id))
    await asyncio.to_thread(Path(path).unlink, missing_ok=True)
    return Response(status_code=204)
