"""Prometheus metrics of this process and of the store (see docs/operations.md, Metrics)."""

from __future__ import annotations

from fastapi import Response

from spurline.api._http import SlashRouter
from spurline.api.deps import RuntimeDep
from spurline.services import metrics

router = SlashRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def prometheus_metrics(rt: RuntimeDep) -> Response:
    """Metrics in the Prometheus text format; names start with ``spurline_``."""
    body, content_type = await metrics.exposition(rt)
    return Response(body, media_type=content_type)
