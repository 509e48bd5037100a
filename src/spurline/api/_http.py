"""HTTP plumbing: orjson responses, a router that serves paths with and without the
trailing slash (docs/runs-api.md#endpoints-and-paging), the request body limit
(docs/runs-api.md#errors) and pagination links.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spurline.api._dialect import is_pyspur
from spurline.api._dialect import render as render_pyspur


def render_json(content: Any) -> bytes:
    """``content`` as the JSON body :class:`OrjsonResponse` sends (the PySpur dialect
    under ``/api``); safe to call in a worker thread, which keeps big bodies off the
    event loop (docs/reliability.md#orphans-and-hogging)."""
    if is_pyspur():
        return render_pyspur(content)
    # OPT_NON_STR_KEYS makes orjson check every key (3.4x slower on a 1,000-task
    # run); it is needed only when a payload has non-string keys, which is rare.
    try:
        return orjson.dumps(content)
    except TypeError:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class OrjsonResponse(JSONResponse):
    """JSON via orjson: datetimes as RFC 3339, several times faster than json."""

    def render(self, content: Any) -> bytes:
        return render_json(content)


def json_bytes_response(body: bytes, headers: dict[str, str] | None = None) -> Response:
    """A 200 whose JSON ``body`` is already rendered (see :func:`render_json`)."""
    return Response(body, media_type="application/json", headers=headers)


class SlashRouter(APIRouter):
    """Registers each route at ``/path/`` and ``/path`` so neither redirects.

    A request whose path none of the router's routes matches is turned away with one
    regular expression (the routes' own, joined) instead of being tried on each
    route: FastAPI tries every route of every router in turn, and a blocking run's
    request was tried on 78 routes (0.2-0.4 ms of CPU). The routers are included
    without a prefix of their own (``api/app.py``), so the routes' paths are the
    paths they match.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (number of routes it was built for, the joined pattern or None: no shortcut)
        self._any_route: tuple[int, re.Pattern[str] | None] = (-1, None)

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, endpoint, **kwargs)
        alt = path[:-1] if path.endswith("/") else f"{path}/"
        # "/" under a prefix has the twin "" (e.g. "/run/" and "/run").
        if alt != path and (alt or self.prefix):
            kwargs = {**kwargs, "include_in_schema": False}
            if kwargs.get("operation_id"):
                kwargs["operation_id"] = f"{kwargs['operation_id']}_alt"
            super().add_api_route(alt, endpoint, **kwargs)

    def _joined(self) -> re.Pattern[str] | None:
        count, joined = self._any_route
        if count != len(self.routes):
            patterns = [getattr(r, "path_regex", None) for r in self.routes]
            joined = None
            if all(isinstance(p, re.Pattern) for p in patterns):
                # group names repeat across routes; only whether one matches counts
                alternatives = "|".join(
                    f"(?:{_NAMED_GROUP.sub('(?:', p.pattern)})"
                    for p in patterns
                    if isinstance(p, re.Pattern)
                )
                joined = re.compile(alternatives or "(?!)")
            self._any_route = (len(self.routes), joined)
        return joined

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        joined = self._joined()
        http = scope["type"] == "http"
        if joined is not None and http and joined.match(_route_path(scope)) is None:
            return Match.NONE, {}
        return super().matches(scope)


_NAMED_GROUP = re.compile(r"\(\?P<\w+>")


def _route_path(scope: Scope) -> str:
    """The request path below the app's mount point (``root_path``): what the route
    patterns match, as the router itself matches them."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :]
    return path


class _BodyTooLarge(Exception):
    pass


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


def _chunked(scope: Scope) -> bool:
    return any(name == b"transfer-encoding" for name, _ in scope.get("headers", []))


class BodyLimitMiddleware:
    """413 for request bodies over ``limit`` bytes, by header or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _declared_length(scope)
        if length is not None and length > self.limit:
            await self._reject(send)
            return
        if length is not None or not _chunked(scope):
            # Content-Length: the server delivers exactly that many bytes, nothing to
            # count; neither header: HTTP/1.1 says there is no body (a GET, an event
            # stream). Either way no wrapper on every message of the response.
            await self.app(scope, receive, send)
            return
        seen = 0
        started = too_large = False

        async def limited_receive() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            # FastAPI catches the error raised while it reads the body and answers 400;
            # that answer is dropped and replaced by the 413 below.
            if too_large and not started:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, limited_receive, tracking_send)
        if too_large and not started:
            await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = orjson.dumps(
            {"detail": f"request body is larger than the limit of {self.limit} bytes"}
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class NulGuardMiddleware:
    """422 for a path or query string holding a NUL character (``%00``).

    No id or filter value can contain one, and PostgreSQL rejects NUL in any text
    it is given, so such a request would otherwise end in a 500 (docs/runs-api.md#errors).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            where = None
            if "\x00" in scope.get("path", ""):
                where = "path"
            elif b"%00" in scope.get("query_string", b""):
                where = "query"
            if where is not None:
                problem = {
                    "loc": [where],
                    "msg": "must not contain NUL (%00)",
                    "type": "value_error",
                }
                await _send_json(send, 422, {"detail": [problem]})
                return
        await self.app(scope, receive, send)


async def _send_json(send: Send, status: int, content: Any) -> None:
    body = orjson.dumps(content)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def page_headers(request: Request, page: int, page_size: int, total: int) -> dict[str, str]:
    """``X-Total-Count`` and an RFC 8288 ``Link`` header with rel=next/prev
    (docs/runs-api.md#endpoints-and-paging)."""
    links = []
    if page * page_size < total:
        nxt = request.url.include_query_params(page=page + 1, page_size=page_size)
        links.append(f'<{nxt}>; rel="next"')
    if page > 1:
        last = max((total + page_size - 1) // page_size, 1)
        prev = request.url.include_query_params(page=min(page - 1, last), page_size=page_size)
        links.append(f'<{prev}>; rel="prev"')
    headers = {"X-Total-Count": str(total)}
    if links:
        headers["Link"] = ", ".join(links)
    return headers
