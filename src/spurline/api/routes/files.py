"""Output files of runs (docs/child-runs-and-batches.md): metadata and download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Response
from fastapi.responses import FileResponse

from spurline.api._http import OrjsonResponse, SlashRouter
from spurline.api.deps import RuntimeDep
from spurline.api.schemas import ErrorResponse, OutputFileResponseSchema
from spurline.exceptions import NotFound
from spurline.store import files as file_q

router = SlashRouter(prefix="/of", tags=["output files"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Output file not found"}
}


@router.get("/{file_id}/", response_model=OutputFileResponseSchema, responses=NOT_FOUND)
async def get_output_file(file_id: str, rt: RuntimeDep) -> Response:
    """An output file's metadata."""
    f = await rt.read(lambda c: file_q.get_output_file(c, file_id))
    return OrjsonResponse(
        {
            "id": f.id,
            "run_id": f.run_id,
            "file_name": f.file_name,
            "created_at": f.created_at,
            "updated_at": f.updated_at,
        }
    )


@router.get(
    "/{file_id}/download/",
    response_class=FileResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}, **NOT_FOUND},
)
async def download_output_file(file_id: str, rt: RuntimeDep) -> Response:
    """The file's bytes (a batch's JSONL results); 404 until it is written."""
    f = await rt.read(lambda c: file_q.get_output_file(c, file_id))
    if not Path(f.file_path).is_file():
        raise NotFound("Output file", file_id)
    return FileResponse(f.file_path, media_type="application/x-ndjson", filename=f.file_name)
