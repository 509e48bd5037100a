"""The node catalogue (see docs/nodes.md)."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from spurline.api._http import OrjsonResponse, SlashRouter
from spurline.nodes.catalogue import catalogue

router = SlashRouter(prefix="/node", tags=["nodes"])


@router.get("/supported_types/", response_model=dict[str, list[dict[str, Any]]])
async def supported_types() -> Response:
    """Every node type by category, with its config JSON Schema (PySpur's shape)."""
    return OrjsonResponse(catalogue())
