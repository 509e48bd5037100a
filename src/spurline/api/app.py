"""The FastAPI application: routes, the body limit, and the one place where domain
errors become HTTP statuses (docs/runs-api.md#errors, docs/architecture.md#errors).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from spurline._version import __version__
from spurline.api._http import BodyLimitMiddleware, NulGuardMiddleware, OrjsonResponse
from spurline.api.routes import (
    batch,
    control,
    datasets,
    events,
    files,
    runs,
    schedules,
    triggers,
    workflows,
)
from spurline.exceptions import (
    Conflict,
    DefinitionError,
    DefinitionInvalid,
    NotFound,
)
from spurline.runtime import Runtime
from spurline.settings import Settings, get_settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app. Without ``runtime`` one is created (and closed) by the lifespan."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime(settings)
        app.state.runtime = rt
        await rt.start(schedules=True)  # every API server fires schedules
        try:
            yield
        finally:
            if runtime is None:
                await rt.close()

    app = FastAPI(
        title="Spurline",
        version=__version__,
        description="Workflow runs with a PySpur-compatible Runs API.",
        lifespan=lifespan,
        default_response_class=OrjsonResponse,
        redirect_slashes=False,
    )
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(NulGuardMiddleware)
    # control and schedules first: /wf/paused_workflows/ and /wf/schedules/ must win
    # over /wf/{workflow_id}/
    for module in (control, schedules, triggers, runs, workflows, batch, datasets, files, events):
        app.include_router(module.router)
        app.include_router(module.router, prefix="/api", include_in_schema=False)
    _install_error_handlers(app)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def http_problems(exc: DefinitionError) -> list[dict[str, Any]]:
    """The 422 ``detail`` of a domain error: each problem's field path becomes a
    FastAPI-style ``loc`` in the place of ``path`` (key order kept).

    Request fields (inputs, dataset ids, files) sit in the body: ``["body", *path]``.
    A workflow definition's problems keep their path from ``"definition"``, the
    form clients have been given since the first release (see docs/runs-api.md,
    "Errors").
    """
    prefix: list[str | int] = [] if isinstance(exc, DefinitionInvalid) else ["body"]
    return [
        {("loc" if k == "path" else k): ([*prefix, *v] if k == "path" else v) for k, v in p.items()}
        for p in exc.problems
    ]


_UNPARSABLE_BODY: dict[type[BaseException], str] = {
    UnicodeDecodeError: "request body is not UTF-8 JSON",
    RecursionError: "request body JSON is nested too deeply",
}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> Response:
        return OrjsonResponse({"detail": f"{exc.what} not found"}, status_code=404)

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> Response:
        return OrjsonResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(DefinitionError)
    async def invalid(_: Request, exc: DefinitionError) -> Response:
        return OrjsonResponse({"detail": http_problems(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI turns a body json.loads fails on other than by a syntax error (not
        # UTF-8, nested too deeply) into a bare 400; it is malformed JSON like any other,
        # so it gets the same 422 (docs/runs-api.md#errors).
        msg = _UNPARSABLE_BODY.get(type(exc.__cause__)) if exc.__cause__ else None
        if msg is not None:
            problem = {"loc": ["body"], "msg": msg, "type": "json_invalid"}
            return OrjsonResponse({"detail": [problem]}, status_code=422)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> Response:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return OrjsonResponse({"detail": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return OrjsonResponse({"detail": "Internal server error"}, status_code=500)
