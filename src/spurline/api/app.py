"""The FastAPI application: routes, the body limit, and the one place where domain
errors become HTTP statuses (docs/runs-api.md#errors, docs/architecture.md#errors).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from spurline._version import __version__
from spurline.api import web
from spurline.api._dialect import DialectMiddleware
from spurline.api._http import BodyLimitMiddleware, NulGuardMiddleware, OrjsonResponse
from spurline.api.access import required_role
from spurline.api.routes import (
    auth,
    batch,
    control,
    datasets,
    env,
    events,
    files,
    metrics,
    nodes,
    notifications,
    runs,
    schedules,
    secrets,
    templates,
    triggers,
    ui_data,
    workflows,
)
from spurline.api.security import SecurityMiddleware
from spurline.exceptions import (
    Conflict,
    DefinitionError,
    DefinitionInvalid,
    Forbidden,
    LinkExpired,
    LinkInvalid,
    NotAuthenticated,
    NotFound,
    SecretsUnavailable,
    StoreDamaged,
    StoreFull,
    StoreUnavailable,
    TooManyAttempts,
)
from spurline.runtime import Runtime
from spurline.settings import Settings, get_settings
from spurline.store import transient

log = logging.getLogger(__name__)

# Objects allocated between two youngest-generation collections (CPython's default: 700).
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Collect the youngest generation every :data:`GC_YOUNG_THRESHOLD` allocations
    instead of every 700 (docs/deployment.md#one-process).

    A run of n nodes keeps O(n) records alive until it ends; at CPython's default
    those survive enough young collections to reach the old generation, whose full
    scans then grow with the run, so a 5,000-node run paid more per node than a
    1,000-node one. Reference counting still frees every acyclic object
    at once; only cyclic garbage waits longer.
    """
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(GC_YOUNG_THRESHOLD, young), middle, old)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app. Without ``runtime`` one is created (and closed) by the lifespan.

    ``settings.auth`` unset means off: ``spurline serve`` resolves it from the address
    it binds (docs/security.md §2) before calling this.
    """
    settings = settings or get_settings()
    mode = settings.auth or "off"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tune_gc()
        try:
            rt = runtime or Runtime(settings)
            app.state.runtime = rt
            await rt.start(schedules=True)  # every API server fires schedules
        except StoreDamaged as exc:
            stop = getattr(app.state, "on_startup_error", None)
            if stop is None:
                raise
            # The launcher reports it in one line and exits non-zero; a traceback from
            # the server's start-up would bury it (docs/reliability.md#a-damaged-store).
            app.state.startup_error = exc
            stop()
            yield
            if runtime is None and getattr(app.state, "runtime", None) is not None:
                await app.state.runtime.close()
            return
        try:
            yield
        finally:
            if runtime is None:
                # runs still executing are handed over to another process at once
                # (docs/reliability.md#clean-shutdown)
                await rt.shutdown()

    app = FastAPI(
        title="Spurline",
        version=__version__,
        description="Workflow runs with a PySpur-compatible Runs API.",
        lifespan=lifespan,
        default_response_class=OrjsonResponse,
        redirect_slashes=False,
        # /docs and /redoc are served by spurline.api.web from packaged assets (no CDN).
        docs_url=None,
        redoc_url=None,
    )
    app.state.templates_dir = settings.templates_dir
    app.state.auth_mode = mode
    app.add_middleware(StorePatienceMiddleware, patience=settings.store_request_retry_s)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(NulGuardMiddleware)
    app.add_middleware(DialectMiddleware)
    app.add_middleware(SecurityMiddleware, mode=mode, cors_origins=settings.cors_origin_list())
    if settings.cors_origin_list():
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list(),
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token"],
            expose_headers=["Location", "X-Total-Count", "Link"],
        )
    # The router tries routes in order, so the most requested ones (runs) come first;
    # control and schedules come before workflows: /wf/paused_workflows/ and
    # /wf/schedules/ must win over /wf/{workflow_id}/. Starting runs comes right before
    # the other workflow routes (no path matches both).
    routers = [
        m.router
        for m in (
            runs,
            control,
            schedules,
            triggers,
        )
    ]
    routers += [workflows.run_router]
    routers += [
        m.router
        for m in (
            workflows,
            batch,
            datasets,
            files,
            events,
            nodes,
            env,
            templates,
            ui_data,
            metrics,
            auth,
            secrets,
        )
    ]
    # notifications: admin_router manages webhooks; public_router's links are signed
    routers += [notifications.admin_router, notifications.public_router]
    # PySpur's /api paths reach the same routes (DialectMiddleware)
    for router in routers:
        app.include_router(router)
    _install_error_handlers(app)
    web.install(app)
    _document_security(app, mode)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str | int]:
        # The body limit lets a client explain a refused upload (docs/client.md).
        return {"status": "ok", "max_body_bytes": settings.max_body_bytes}

    return app


def _document_security(app: FastAPI, mode: str) -> None:
    """Add the bearer scheme and each operation's 401/403/429 to the OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = build()
        components = doc.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "a token from 'spurline tokens create' (docs/security.md)",
        }
        error = {"$ref": "#/components/schemas/ErrorResponse"}
        for path, operations in doc.get("paths", {}).items():
            for method, op in operations.items():
                role = required_role(method.upper(), path)
                responses = op.setdefault("responses", {})
                if mode == "off":
                    responses.setdefault(
                        "403",
                        {
                            "description": "Refused browser request: a Host header that is not "
                            "loopback, or a cross-origin write (docs/security.md §2)",
                            "content": {"application/json": {"schema": error}},
                        },
                    )
                    continue
                if role is None:
                    continue
                op["security"] = [{"bearer": []}]
                op["x-role"] = role.value
                for code, text in (
                    ("401", "No valid token or session"),
                    ("403", f"The token's role is weaker than {role.value}, or a CSRF failure"),
                    ("429", "Too many failed authentications from this client"),
                ):
                    responses.setdefault(
                        code,
                        {"description": text, "content": {"application/json": {"schema": error}}},
                    )
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


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


#: Domain errors answered as ``{"detail": str(exc)}`` with this status; a subclass takes
#: its nearest listed ancestor's (docs/runs-api.md#errors).
_PLAIN_STATUS: dict[type[Exception], int] = {
    Conflict: 409,
    LinkInvalid: 403,
    LinkExpired: 410,
    Forbidden: 403,
    SecretsUnavailable: 409,
    # a damaged page is no fault of the request: the store needs restoring
    # (docs/reliability.md#a-damaged-store)
    StoreDamaged: 503,
}


async def _plain_error(_: Request, exc: Exception) -> Response:
    status = next(_PLAIN_STATUS[c] for c in type(exc).__mro__ if c in _PLAIN_STATUS)
    return OrjsonResponse({"detail": str(exc)}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    for error in _PLAIN_STATUS:
        app.add_exception_handler(error, _plain_error)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> Response:
        return OrjsonResponse({"detail": f"{exc.what} not found"}, status_code=404)

    @app.exception_handler(DefinitionError)
    async def invalid(_: Request, exc: DefinitionError) -> Response:
        return OrjsonResponse({"detail": http_problems(exc)}, status_code=422)

    @app.exception_handler(NotAuthenticated)
    async def unauthenticated(_: Request, exc: NotAuthenticated) -> Response:
        headers = {"WWW-Authenticate": "Bearer"}
        return OrjsonResponse({"detail": str(exc)}, status_code=401, headers=headers)

    @app.exception_handler(TooManyAttempts)
    async def too_many(_: Request, exc: TooManyAttempts) -> Response:
        headers = {"Retry-After": str(exc.retry_after)}
        return OrjsonResponse({"detail": str(exc)}, status_code=429, headers=headers)

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

    app.add_exception_handler(RequestValidationError, _bad_request)
    app.add_exception_handler(StoreUnavailable, _store_down)
    for error in transient.STORE_ERRORS:
        app.add_exception_handler(error, _store_error)
    app.add_exception_handler(Exception, _crash)


def _say_content_type(request: Request, errors: list[dict[str, Any]]) -> None:
    """FastAPI reads a JSON body only when it is labelled so: without the header the
    body is "not an object", which does not say what to change; say it."""
    kind = request.headers.get("content-type", "")
    # a form's Content-Type included: curl --data sends one, and only a body that
    # had to be a whole JSON object (loc "body") gets the hint
    if "json" in kind:
        return
    label = f"the Content-Type is {kind!r}" if kind else "no Content-Type"
    for e in errors:
        if tuple(e["loc"]) == ("body",):
            e["msg"] += f" ({label}: send the JSON body with Content-Type: application/json)"


async def _bad_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
    _say_content_type(request, errors)
    return OrjsonResponse({"detail": errors}, status_code=422)


async def _crash(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return OrjsonResponse({"detail": "Internal server error"}, status_code=500)


async def _store_down(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StoreUnavailable)
    return store_unavailable(exc)


async def _store_error(request: Request, exc: Exception) -> Response:
    # a database or file error met outside the retrying calls: transient ones and a
    # full disk are the store's state, not a bug
    if transient.is_transient(exc):
        return store_unavailable(transient.unavailable(exc))
    return await _crash(request, exc)


def store_unavailable(exc: StoreUnavailable) -> Response:
    """503 with ``Retry-After`` while the store is down, 507 when its disk is full
    (docs/reliability.md#transient-store-errors, docs/reliability.md#disk-full)."""
    status = 507 if isinstance(exc, StoreFull) else 503
    headers = {"Retry-After": str(exc.retry_after)}
    return OrjsonResponse({"detail": str(exc)}, status_code=status, headers=headers)


class StorePatienceMiddleware:
    """Gives each request the short store patience (``SPURLINE_STORE_REQUEST_RETRY_S``):
    a client gets its 503 quickly rather than hanging through an outage
    (docs/reliability.md#transient-store-errors)."""

    def __init__(self, app: ASGIApp, patience: float) -> None:
        self.app = app
        self.patience = patience

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # the lifespan starts background loops
            await self.app(scope, receive, send)
            return
        token = transient.request_patience.set(self.patience)
        try:
            await self.app(scope, receive, send)
        finally:
            transient.request_patience.reset(token)
