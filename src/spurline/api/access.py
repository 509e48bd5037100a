"""Which role each route needs: the one place routes declare it (docs/security.md §1).

Keys are ``"METHOD /path/"`` with the path template as routes are declared, without
the ``/api`` prefix (the same table serves both). A request that matches no entry
needs ``admin`` (fail closed); a test lists every route of the app and fails on one
missing here. ``None`` marks a public route (no token needed).
"""

from __future__ import annotations

import re
from functools import lru_cache

from spurline.services.auth import Role

V, OP, A = Role.VIEWER, Role.OPERATOR, Role.ADMIN

ROUTE_ROLES: dict[str, Role | None] = {
    # public: liveness, the API's own description, signing in (docs/security.md §3)
    "GET /health": None,
    "GET /openapi.json": None,
    "GET /docs": None,
    "GET /docs/oauth2-redirect": None,
    "GET /redoc": None,
    "GET /auth/session/": None,
    "POST /auth/session/": None,
    "DELETE /auth/session/": None,
    # the web UI's page shells and assets hold no run data; the pages then call the API
    # with the signed-in session (docs/ui.md)
    "GET /": None,
    "GET /ui/": None,
    "GET /ui/{page}": None,
    "GET /ui/runs/{run_id}": None,
    "GET /ui/workflows/{workflow_id}": None,
    "GET /ui/static/{path:path}": None,
    "GET /ui/vendor/dagre/{path:path}": None,
    "GET /ui/vendor/apidocs/{path:path}": None,
    "GET /ui/vendor/redoc.standalone.js": None,
    # the web UI's own reads (docs/ui.md)
    "GET /run_summaries/": V,
    "GET /run_counts/": V,
    "GET /run/{run_id}/children_by_task/": V,
    "GET /run/{run_id}/batch_rows/": V,
    "GET /ds/{dataset_id}/preview/": V,
    "GET /wf/{workflow_id}/version_diff/": V,
    # PySpur's editor (docs/pyspur.md)
    "GET /run/{run_id}/llm_calls/": V,
    "POST /wf/{workflow_id}/duplicate/": A,
    "GET /wf/{workflow_id}/output_variables/": V,
    "POST /wf/{workflow_id}/run_partial/": OP,
    "GET /node/supported_types/": V,
    "GET /templates/": V,
    "POST /templates/instantiate/": A,
    # provider keys are secrets: only admins see (masked) or change them (docs/pyspur.md)
    "GET /env-mgmt/providers/": V,
    "GET /env-mgmt/anon-data/": V,
    "GET /env-mgmt/embedding-models/": V,
    "GET /env-mgmt/vector-stores/": V,
    "GET /env-mgmt/": A,
    "POST /env-mgmt/": A,
    "GET /env-mgmt/{name}/": A,
    "DELETE /env-mgmt/{name}/": A,
    # operations (docs/operations.md): metrics for a scraper with a viewer token;
    # schedules and webhook triggers (docs/operations.md): anyone may read schedules;
    # admins manage schedules and triggers (a trigger list is admin like the webhook
    # list); a trigger's own secret authenticates its POST, so that route is public
    "GET /wf/schedules/": V,
    "GET /wf/schedules/{schedule_id}/": V,
    "POST /wf/schedules/": A,
    "PUT /wf/schedules/{schedule_id}/": A,
    "DELETE /wf/schedules/{schedule_id}/": A,
    "POST /wf/schedules/{schedule_id}/toggle/": A,
    "GET /wf/{workflow_id}/triggers/": A,
    "POST /wf/{workflow_id}/triggers/": A,
    "DELETE /trigger/{trigger_id}/": A,
    "POST /trigger/{trigger_id}/": None,
    "POST /run/{run_id}/rerun/": OP,
    # retention deletes runs in bulk: admin, like deleting one run
    "POST /run/prune/": A,
    # webhooks are admin; a signed pause link is its own authority
    "GET /metrics": V,
    "GET /notifications/webhooks/": A,
    "POST /notifications/webhooks/": A,
    "GET /notifications/webhooks/{webhook_id}/": A,
    "PATCH /notifications/webhooks/{webhook_id}/": A,
    "DELETE /notifications/webhooks/{webhook_id}/": A,
    "GET /notifications/webhooks/{webhook_id}/deliveries/": A,
    "POST /notifications/links/{webhook_id}/{token}/": None,
    # runs (docs/runs-api.md)
    "GET /run/": V,
    "GET /run/{run_id}/": V,
    "GET /run/{run_id}/status/": V,
    "GET /run/{run_id}/tasks/": V,
    "GET /run/{run_id}/children/": V,
    "DELETE /run/{run_id}/": A,
    "POST /run/{run_id}/retry/": OP,
    # observability (docs/observability.md)
    "GET /run/{run_id}/logs/": V,
    "GET /run/{run_id}/tasks/{task_id}/attempts/": V,
    "GET /run/{run_id}/events/": V,
    "GET /events/": V,
    # workflows and starting runs (docs/runs-api.md)
    "GET /wf/": V,
    "POST /wf/": A,
    "GET /wf/{workflow_id}/": V,
    "PUT /wf/{workflow_id}/": A,
    "DELETE /wf/{workflow_id}/": A,
    "GET /wf/{workflow_id}/versions/": V,
    "GET /wf/{workflow_id}/runs/": V,
    "POST /wf/{workflow_id}/start_run/": OP,
    "POST /wf/{workflow_id}/run/": OP,
    "POST /wf/{workflow_id}/start_batch_run/": OP,
    # pauses and control (docs/runs-api.md)
    "POST /wf/process_pause_action/{run_id}/": OP,
    "GET /wf/pause_history/{run_id}/": V,
    "GET /wf/paused_workflows/": V,
    "POST /wf/cancel_workflow/{run_id}/": OP,
    # datasets and output files (docs/child-runs-and-batches.md)
    "GET /ds/": V,
    "POST /ds/": A,
    "GET /ds/{dataset_id}/": V,
    "DELETE /ds/{dataset_id}/": A,
    "GET /of/{file_id}/": V,
    "GET /of/{file_id}/download/": V,
    # tokens and secrets (docs/security.md §1, §6)
    "GET /tokens/": A,
    "POST /tokens/": A,
    "DELETE /tokens/{name}/": A,
    "GET /secrets/": A,
    "PUT /secrets/{name}/": A,
    "DELETE /secrets/{name}/": A,
}

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(:path)?\}")


def _pattern(path: str) -> re.Pattern[str]:
    out, last = [], 0
    for m in _PARAM.finditer(path):
        out.append(re.escape(path[last : m.start()]))
        out.append(".*" if m.group(2) else "[^/]+")
        last = m.end()
    out.append(re.escape(path[last:].rstrip("/")))
    return re.compile("".join(out) + "/?")


@lru_cache(maxsize=1)
def _table() -> dict[str, list[tuple[re.Pattern[str], Role | None]]]:
    """Per method, one combined pattern per role, strongest role first, public last:
    the first that matches is the strongest role any entry asks for."""
    paths: dict[str, dict[Role | None, list[str]]] = {}
    for key, role in ROUTE_ROLES.items():
        method, path = key.split(" ", 1)
        for m in (method, "HEAD") if method == "GET" else (method,):
            paths.setdefault(m, {}).setdefault(role, []).append(_pattern(path).pattern)
    order: list[Role | None] = [Role.ADMIN, Role.OPERATOR, Role.VIEWER, None]
    return {
        method: [
            (re.compile("|".join(f"(?:{p})" for p in by_role[role])), role)
            for role in order
            if role in by_role
        ]
        for method, by_role in paths.items()
    }


def declared(method: str, path: str) -> bool:
    """True when ``ROUTE_ROLES`` has an entry for this route template (any slash form)."""
    path = path.removeprefix("/api") or "/"
    base = path.rstrip("/")
    return f"{method} {base}/" in ROUTE_ROLES or f"{method} {base}" in ROUTE_ROLES


def required_role(method: str, path: str) -> Role | None:
    """The role a request needs; None for a public route; admin when nothing matches.

    When several entries match (``/wf/paused_workflows/`` is also ``/wf/{workflow_id}/``),
    the strongest role wins, so the order of the table never weakens a check.
    """
    if path == "/api" or path.startswith("/api/"):
        path = path[4:] or "/"
    for pattern, role in _table().get(method, ()):
        if pattern.fullmatch(path):
            return role
    return Role.ADMIN
