"""Secrets over HTTP, admin only: set, list, delete; never read (docs/security.md §6)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from fastapi import Response

from spurline.api._http import OrjsonResponse, SlashRouter
from spurline.api.deps import RuntimeDep
from spurline.api.schemas import ErrorResponse
from spurline.api.schemas_security import SecretResponse, SecretSetRequest
from spurline.services.secrets import check_secret_name

router = SlashRouter(prefix="/secrets", tags=["secrets"])
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "No usable SPURLINE_SECRET_KEY"}
}


@router.get("/", response_model=list[SecretResponse], responses=UNAVAILABLE)
async def list_secrets(rt: RuntimeDep) -> Response:
    """Names and dates of every secret; never a value."""
    infos = await asyncio.to_thread(rt.secrets.list)
    return OrjsonResponse([asdict(i) for i in infos])


@router.put("/{name}/", status_code=204, response_class=Response, responses=UNAVAILABLE)
async def set_secret(name: str, body: SecretSetRequest, rt: RuntimeDep) -> Response:
    """Create or replace a secret (stored encrypted)."""
    await asyncio.to_thread(rt.secrets.set, name, body.value)
    return Response(status_code=204)


@router.delete(
    "/{name}/",
    status_code=204,
    response_class=Response,
    responses={404: {"model": ErrorResponse, "description": "Secret not found"}},
)
async def delete_secret(name: str, rt: RuntimeDep) -> Response:
    """Delete a secret."""
    check_secret_name(name)
    await asyncio.to_thread(rt.secrets.delete, name)
    return Response(status_code=204)
