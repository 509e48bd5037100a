"""Logs, attempts and the Server-Sent Events streams (docs/observability.md)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent

from spurline.api._http import OrjsonResponse, SlashRouter, page_headers
from spurline.api.deps import PageDep, RuntimeDep
from spurline.api.schemas import AttemptResponseSchema, ErrorResponse, LogLineResponseSchema
from spurline.engine.states import RUN_ACTIVE, RunStatus
from spurline.exceptions import NotFound
from spurline.runtime import Runtime
from spurline.services.events import EventHub
from spurline.store import events as ev
from spurline.store import runs as run_q

router = SlashRouter(tags=["observability"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Run or task not found"}
}
SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {}},
        "description": "Server-Sent Events; see docs/observability.md for names and data",
    },
    422: {"model": ErrorResponse, "description": "Malformed or future Last-Event-ID"},
}
LogPageSizeDep = Annotated[int, Query(ge=1, le=1000, description="Lines per page, 1 to 1000")]
# seconds between keep-alive comments (they also detect a client that went away)
PING_S = 15


@router.get("/run/{run_id}/logs/", response_model=list[LogLineResponseSchema], responses=NOT_FOUND)
async def get_run_logs(
    request: Request,
    run_id: str,
    rt: RuntimeDep,
    node: Annotated[str | None, Query(description="only this node id")] = None,
    attempt: Annotated[
        int | None, Query(ge=1, le=1_000_000, description="only this attempt number")
    ] = None,
    page: PageDep = 1,
    page_size: LogPageSizeDep = 100,
) -> Response:
    """A run's captured log lines, oldest first, paged (``X-Total-Count``, ``Link``)."""

    def read(conn: Any) -> tuple[list[dict[str, Any]], int]:
        run_q.get_status(conn, run_id)  # NotFound for an unknown run
        total = ev.count_logs(conn, run_id, node, attempt)
        lines = ev.read_logs(conn, run_id, node, attempt, page, page_size)
        return [log_line(e) for e in lines], total

    lines, total = await rt.read(read)
    return OrjsonResponse(lines, headers=page_headers(request, page, page_size, total))


def log_line(e: ev.Event) -> dict[str, Any]:
    """LogLineResponseSchema of a log event."""
    return {
        "id": e.id,
        "task_id": e.task_id,
        "node_id": e.node_id,
        "attempt": e.attempt,
        "time": e.time,
        "stream": e.data.get("stream"),
        "level": e.data.get("level"),
        "line": e.data.get("line"),
    }


@router.get(
    "/run/{run_id}/tasks/{task_id}/attempts/",
    response_model=list[AttemptResponseSchema],
    responses=NOT_FOUND,
)
async def get_task_attempts(run_id: str, task_id: str, rt: RuntimeDep) -> Response:
    """Every try of a task, oldest first; a RUNNING task's current try comes last."""

    def read(conn: Any) -> list[dict[str, Any]]:
        tasks = {t.id: t for t in run_q.get_tasks(conn, run_id)}
        task = tasks.get(task_id)
        if task is None:
            raise NotFound("Task", task_id)
        out = [ev.attempt_data(a) for a in ev.attempts_of(conn, task_id)]
        if task.status.value == "RUNNING" and all(a["number"] != task.attempts for a in out):
            out.append(ev.running_attempt_view(task))
        return out

    return OrjsonResponse(await rt.read(read))


def _last_event_id(header: str | None, query: str | None) -> int:
    raw = header if header is not None else query
    if raw is None or raw == "":
        return 0
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        where = ["header", "Last-Event-ID"] if header is not None else ["query", "last_event_id"]
        msg = f"Last-Event-ID {raw[:40]!r} is not an event id (a non-negative integer)"
        raise RequestValidationError([{"loc": where, "msg": msg, "type": "value_error"}])
    return int(raw)


async def _check_not_future(hub: EventHub, after: int, header: str | None) -> None:
    newest = await hub.newest()
    if after > newest:
        where = ["header", "Last-Event-ID"] if header is not None else ["query", "last_event_id"]
        msg = f"Last-Event-ID {after} is ahead of the newest event ({newest})"
        raise RequestValidationError([{"loc": where, "msg": msg, "type": "value_error"}])


LastEventIdHeader = Annotated[
    str | None,
    Header(alias="Last-Event-ID", description="resume after this event id"),
]
LastEventIdQuery = Annotated[
    str | None,
    Query(description="resume after this event id (for clients that cannot set headers)"),
]


@router.get("/run/{run_id}/events/", responses={**SSE_RESPONSES, **NOT_FOUND})
async def run_events(
    run_id: str,
    rt: RuntimeDep,
    last_event_id: LastEventIdHeader = None,
    after: Annotated[str | None, Query(alias="last_event_id")] = None,
) -> EventSourceResponse:
    """Server-Sent Events of one run (its state, its tasks' states and attempts, log
    lines, batch progress) from the start or after ``Last-Event-ID``; an ``end``
    event closes the stream when the run has ended.
    """
    since = _last_event_id(last_event_id, after)
    await rt.read(lambda c: run_q.get_status(c, run_id))  # 404 before streaming
    await _check_not_future(rt.hub, since, last_event_id)
    return EventSourceResponse(_run_stream(rt, run_id, since), ping=PING_S)


@router.get("/events/", responses=SSE_RESPONSES)
async def all_events(
    rt: RuntimeDep,
    workflow_id: Annotated[str | None, Query(description="only runs of this workflow")] = None,
    last_event_id: LastEventIdHeader = None,
    after: Annotated[str | None, Query(alias="last_event_id")] = None,
) -> EventSourceResponse:
    """Server-Sent Events of every run (or of one workflow's runs), live, or after
    ``Last-Event-ID``; it does not end.
    """
    since = _last_event_id(last_event_id, after)
    await _check_not_future(rt.hub, since, last_event_id)
    return EventSourceResponse(_stream(rt.hub, since, workflow_id=workflow_id), ping=PING_S)


# An event goes to every subscriber: it is encoded once (the last few thousand kept).
# Keyed by run id too: ids restart in each store, run ids are unique.
_encoded: OrderedDict[tuple[str, int], bytes] = OrderedDict()


def _sse(e: ev.Event) -> bytes:
    """The SSE text of one event (see docs/observability.md for its fields)."""
    key = (e.run_id, e.id)
    out = _encoded.get(key)
    if out is None:
        data = {**e.data, "workflow_id": e.workflow_id, "time": e.time.isoformat()}
        out = ServerSentEvent(data=orjson.dumps(data).decode(), event=e.kind, id=str(e.id)).encode()
        _encoded[key] = out
        if len(_encoded) > 4096:
            _encoded.popitem(last=False)
    return out


async def _stream(
    hub: EventHub, after: int, *, workflow_id: str | None = None
) -> AsyncIterator[bytes]:
    async with hub.subscribe(workflow_id=workflow_id) as sub:
        async for batch in hub.stream(sub, after):
            # one write per batch, not per event
            yield b"".join(_sse(e) for e in batch)


async def _run_stream(rt: Runtime, run_id: str, after: int) -> AsyncIterator[bytes]:
    async with rt.hub.subscribe(run_id=run_id) as sub:
        status = await rt.read(lambda c: run_q.get_status(c, run_id))
        if status not in RUN_ACTIVE and status is not RunStatus.PAUSED:
            # ended before we subscribed: its events are all stored
            async for batch in rt.hub.stored(sub, after):
                yield b"".join(_sse(e) for e in batch)
            yield _end(run_id, status)
            return
        async for batch in rt.hub.stream(sub, after):
            chunk = []
            for e in batch:
                chunk.append(_sse(e))
                status_text = e.data.get("status")
                if e.kind == ev.RUN and status_text in _ENDED:
                    chunk.append(_end(run_id, RunStatus(status_text)))
                    yield b"".join(chunk)
                    return
            yield b"".join(chunk)


_ENDED = {RunStatus.COMPLETED.value, RunStatus.FAILED.value, RunStatus.CANCELED.value}


def _end(run_id: str, status: RunStatus) -> bytes:
    data = orjson.dumps({"run_id": run_id, "status": status.value}).decode()
    return ServerSentEvent(data=data, event="end").encode()
