"""The web UI served by ``spurline serve`` under ``/ui/`` and the offline API docs
(see docs/ui.md).

Pages are Jinja2 shells; everything dynamic is done by ES modules under
``/ui/static/`` that call the JSON API. Third-party assets come from Python
packages: dagre (graph layout) from ``xstatic-dagre``, Swagger UI and ReDoc from
``fastapi-offline``; nothing is fetched from a CDN.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import fastapi_offline
import xstatic.pkg.dagre
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from spurline._version import __version__
from spurline.exceptions import NotFound
from spurline.store import runs as run_q
from spurline.store import workflows as wf_q

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
DAGRE_ASSETS = Path(xstatic.pkg.dagre.BASE_DIR)

#: Page name -> (template, title) of the pages without a path parameter.
PAGES: dict[str, tuple[str, str]] = {
    "": ("runs.html", "Runs"),
    "approvals": ("approvals.html", "Approvals"),
    "workflows": ("workflows.html", "Workflows"),
    "schedules": ("schedules.html", "Schedules"),
    "datasets": ("datasets.html", "Datasets"),
}


#: ReDoc's bundle draws its makers' logo from their CDN; the copy served here draws an
#: empty inline image instead, so the page asks nothing of another host.
REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
REDOC_LOCAL_LOGO = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"


@cache
def redoc_bundle() -> bytes:
    """fastapi-offline's ReDoc bundle with the CDN logo URL replaced (read once)."""
    return (
        (DOCS_ASSETS / "redoc.standalone.js").read_bytes().replace(REDOC_CDN_LOGO, REDOC_LOCAL_LOGO)
    )


def _page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("title", "Spurline")
    return templates.TemplateResponse(
        request,
        template,
        {"version": __version__, **context},
        status_code=status,
    )


def not_found_page(request: Request, what: str, ident: str) -> Response:
    """The UI's 404 page: names what was not found, escaped like every value."""
    return _page(request, "404.html", 404, title="Not found", what=what, ident=ident)


def install(app: FastAPI) -> None:
    """Mount the UI (``/ui/``), its assets, ``/`` → ``/ui/``, and ``/docs`` + ``/redoc``
    served from packaged assets. ``app`` must be created with ``docs_url=None`` and
    ``redoc_url=None``."""
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.mount("/ui/vendor/dagre", StaticFiles(directory=DAGRE_ASSETS), name="ui-dagre")
    app.mount("/ui/vendor/apidocs", StaticFiles(directory=DOCS_ASSETS), name="ui-apidocs")

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/ui/", status_code=307)

    @app.get("/ui", include_in_schema=False)
    async def ui_no_slash() -> Response:
        return RedirectResponse("/ui/", status_code=307)

    _install_api_docs(app)

    @app.get("/ui/runs/{run_id}", include_in_schema=False)
    async def run_page(request: Request, run_id: str) -> Response:
        try:
            run = await request.app.state.runtime.read(lambda c: run_q.get_run(c, run_id))
        except NotFound:
            return not_found_page(request, "Run", run_id)
        return _page(request, "run.html", title=f"Run {run.id}", run_id=run.id)

    @app.get("/ui/workflows/{workflow_id}", include_in_schema=False)
    async def workflow_page(request: Request, workflow_id: str) -> Response:
        try:
            wf = await request.app.state.runtime.read(lambda c: wf_q.get_workflow(c, workflow_id))
        except NotFound:
            return not_found_page(request, "Workflow", workflow_id)
        return _page(request, "workflow.html", title=wf.name, workflow_id=wf.id)

    @app.get("/ui/{page}", include_in_schema=False, response_class=HTMLResponse)
    async def page(request: Request, page: str) -> Response:
        found = PAGES.get(page.strip("/"))
        if found is None:
            return not_found_page(request, "Page", f"/ui/{page}")
        template, title = found
        return _page(request, template, title=title)

    @app.get("/ui/", include_in_schema=False, response_class=HTMLResponse)
    async def runs_page(request: Request) -> Response:
        return _page(request, "runs.html", title="Runs")


def _install_api_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` from packaged assets (docs/ui.md)."""

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> Response:
        return _page(request, "swagger.html", title="Spurline API")

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> Response:
        page = _page(request, "redoc.html", title="Spurline API")
        # images from elsewhere are refused too, should a later bundle add one
        page.headers["Content-Security-Policy"] = "img-src 'self' data:"
        return page

    @app.get("/ui/vendor/redoc.standalone.js", include_in_schema=False)
    async def redoc_js() -> Response:
        return Response(
            redoc_bundle(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=3600"},
        )
