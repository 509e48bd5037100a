"""PySpur's dialect under ``/api`` (see docs/pyspur.md).

Every route is also served under ``/api``, where the answers are PySpur's where the two
differ: datetimes are naive UTC strings (PySpur's UI appends ``Z`` itself),
definitions are normalised as PySpur returns them, a new empty workflow gets
PySpur's default graph, and saves of half-built graphs are kept as drafts (they
are validated when a run starts). :class:`DialectMiddleware` marks a request as
PySpur's; the routes and :func:`render` ask :func:`is_pyspur`.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = "/api"
_PYSPUR: ContextVar[bool] = ContextVar("spurline_pyspur_dialect", default=False)


class DialectMiddleware:
    """Marks requests under ``/api`` as speaking PySpur's dialect."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope.get("path", "")
            root: str = scope.get("root_path", "")
            pyspur = path.startswith(root + PREFIX + "/") or path == root + PREFIX
            if pyspur:
                # The routes are declared once; ``/api`` is routed as a mount point is
                # (the router matches the path after ``root_path``), so URLs the app
                # builds, redirects included, keep the prefix. Declaring every route
                # twice instead made every request scan twice as many routes.
                scope = {**scope, "root_path": root + PREFIX}
            token = _PYSPUR.set(pyspur)
            try:
                await self.app(scope, receive, send)
            finally:
                _PYSPUR.reset(token)
            return
        await self.app(scope, receive, send)


def is_pyspur() -> bool:
    """Whether the request being answered came in under ``/api``."""
    return _PYSPUR.get()


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat()
    raise TypeError


def render(content: Any) -> bytes:
    """``content`` as PySpur's JSON: naive UTC datetimes, normalised definitions."""
    return orjson.dumps(
        _normalise(content),
        default=_naive_utc,
        option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS,
    )


def _normalise(content: Any) -> Any:
    # Definitions sit in workflows (``definition``) and in runs
    # (``workflow_version.definition``), possibly inside lists and pause records.
    if isinstance(content, list):
        return [_normalise(item) for item in content]
    if isinstance(content, dict):
        out = dict(content)
        definition = out.get("definition")
        if isinstance(definition, dict) and isinstance(definition.get("nodes"), list):
            out["definition"] = normalise_definition(definition)
        for key in ("workflow_version", "workflow", "run"):
            if isinstance(out.get(key), dict):
                out[key] = _normalise(out[key])
        return out
    return content


def normalise_definition(definition: dict[str, Any]) -> dict[str, Any]:
    """A definition as PySpur returns one: every node and link key present,
    ``test_inputs`` and ``spur_type`` filled."""
    nodes = [
        {
            "id": n.get("id"),
            "title": n.get("title") or n.get("id"),
            "parent_id": n.get("parent_id"),
            "node_type": n.get("node_type"),
            "config": n.get("config") or {},
            "coordinates": n.get("coordinates") or {"x": 0.0, "y": 0.0},
            "dimensions": n.get("dimensions"),
            "subworkflow": n.get("subworkflow"),
            **{k: v for k, v in n.items() if k not in _NODE_KEYS},
        }
        for n in definition["nodes"]
        if isinstance(n, dict)
    ]
    links = [
        {
            "source_id": link.get("source_id"),
            "target_id": link.get("target_id"),
            "source_handle": link.get("source_handle"),
            "target_handle": link.get("target_handle"),
            **{k: v for k, v in link.items() if k not in _LINK_KEYS},
        }
        for link in definition.get("links") or []
        if isinstance(link, dict)
    ]
    return {
        **definition,
        "nodes": nodes,
        "links": links,
        "test_inputs": definition.get("test_inputs") or [],
        "spur_type": definition.get("spur_type") or "workflow",
    }


_NODE_KEYS = frozenset(
    {"id", "title", "parent_id", "node_type", "config", "coordinates", "dimensions", "subworkflow"}
)
_LINK_KEYS = frozenset({"source_id", "target_id", "source_handle", "target_handle"})


def default_definition() -> dict[str, Any]:
    """PySpur's graph for a new empty workflow: one InputNode with one text field."""
    schema = {"type": "object", "properties": {"input_1": {"type": "string"}}}
    return {
        "nodes": [
            {
                "id": "input_node",
                "title": "input_node",
                "node_type": "InputNode",
                "config": {
                    "output_schema": {"input_1": "string"},
                    "output_json_schema": orjson.dumps(schema).decode(),
                    "has_fixed_output": False,
                    "enforce_schema": False,
                },
                "coordinates": {"x": 100.0, "y": 100.0},
            }
        ],
        "links": [],
        "test_inputs": [],
        "spur_type": "workflow",
    }


def definition_for_save(raw: dict[str, Any] | None) -> dict[str, Any]:
    """The definition to store for a save (create, replace, import).

    Root paths: validated in full (every rule of docs/nodes.md), required.
    ``/api``: a missing or node-less definition becomes PySpur's default graph
    (keeping its ``spur_type``); anything else is kept as a draft, checked for
    shape only and validated in full when a run starts.

    Run it on a worker thread: it reads the whole definition
    (docs/reliability.md#validation-and-bad-input).

    Raises:
        DefinitionInvalid: listing every problem found.
        FieldInvalid: a value the store cannot hold (NUL, lone surrogate, an integer
            beyond 64 bits, NaN, nesting past 100 levels), at ``("definition",)``.
        InputsInvalid: no definition on a root path.
    """
    from spurline.engine.definition import parse_draft
    from spurline.engine.jsonvalue import json_problem
    from spurline.exceptions import FieldInvalid, InputsInvalid
    from spurline.nodes.registry import parse_definition

    unstorable = json_problem(raw, "definition") if raw is not None else None
    if unstorable:
        # worded as the request's other fields are by pydantic, as it was when this
        # check ran there
        problem = {"path": ("definition",), "msg": f"Value error, {unstorable}"}
        raise FieldInvalid([{**problem, "type": "value_error"}])
    if is_pyspur():
        if raw is None or not raw.get("nodes"):
            extra = {k: v for k, v in (raw or {}).items() if k not in ("nodes", "links")}
            return {**default_definition(), **extra}
        return parse_draft(raw).dump()
    if raw is None:
        problem = {"path": ("definition",), "msg": "Field required", "type": "missing"}
        raise InputsInvalid([problem])
    return parse_definition(raw).dump()
