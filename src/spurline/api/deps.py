"""Dependencies shared by routes: the runtime, paging parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import Field

from spurline.api.schemas import StartOptionsFields
from spurline.engine.records import StartOptions
from spurline.exceptions import InputsInvalid, NotAuthenticated
from spurline.runtime import Runtime
from spurline.services.auth import Principal


async def get_runtime(request: Request) -> Runtime:
    """The process's :class:`Runtime`, created by the app's lifespan.

    A coroutine on purpose: FastAPI runs a plain ``def`` dependency in a worker
    thread, which cost every request a thread hand-off.
    """
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
PageDep = Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1")]
PageSizeDep = Annotated[int, Query(ge=1, le=100, description="Items per page, 1 to 100")]
# The filters of docs/operations.md#finding-runs, shared by GET /run/ and the web UI's
# reads. Bounded (10 values of 200 / 400 characters) so that a query stays well under
# the 64 KiB request line the server accepts.
TagQuery = Annotated[
    list[Annotated[str, Field(max_length=200)]] | None,
    Query(max_length=10, description="Runs with this tag (every one given, up to 10)"),
]
MetadataQuery = Annotated[
    list[Annotated[str, Field(max_length=400)]] | None,
    Query(max_length=10, description="key=value (every one given, up to 10)"),
]
ScheduleIdQuery = Annotated[str | None, Query(max_length=40)]


def metadata_pairs(values: list[str] | None) -> tuple[tuple[str, str], ...]:
    """``key=value`` query values as ``(key, value)`` pairs (docs/operations.md#finding-runs).

    Raises:
        RequestValidationError: a value without ``=`` or with an empty key (422).
    """
    pairs = []
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            msg = f"metadata filter {item!r} is not key=value"
            raise RequestValidationError(
                [{"loc": ("query", "metadata"), "msg": msg, "type": "value_error"}]
            )
        pairs.append((key, value))
    return tuple(pairs)


async def get_principal(request: Request) -> Principal:
    """Who the request acts as (set by the security middleware, docs/security.md §1).

    Raises:
        NotAuthenticated: a public route reached without a token or session.
    """
    who: Principal | None = request.scope.get("state", {}).get("principal")
    if who is None:
        raise NotAuthenticated("not signed in: send a Bearer token or sign in at /auth/session")
    return who


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_actor(request: Request) -> str | None:
    """The actor recorded on what the request does: the token's name when auth is on,
    None when it is off (docs/security.md §4)."""
    if request.app.state.auth_mode == "off":
        return None
    return (await get_principal(request)).name


ActorDep = Annotated[str | None, Depends(get_actor)]
IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="The same key within 24 h returns the first run (docs/operations.md)",
    ),
]


def start_options(
    body: StartOptionsFields | None,
    header: str | None,
    run_type: str = "interactive",
    actor: str | None = None,
) -> StartOptions:
    """The :class:`StartOptions` of a request: tags and metadata from the body, the
    idempotency key from the ``Idempotency-Key`` header or the body, and the ``actor``
    who starts the run (docs/security.md §4).

    Raises:
        InputsInvalid: the header and the body name different keys.
    """
    key = body.idempotency_key if body is not None else None
    if header is not None and key is not None and header != key:
        msg = "the Idempotency-Key header and the body's idempotency_key differ"
        raise InputsInvalid([{"path": ("idempotency_key",), "msg": msg, "type": "value"}])
    return StartOptions(
        tags=tuple(body.tags or ()) if body is not None else (),
        metadata=body.metadata if body is not None else None,
        idempotency_key=header or key,
        run_type=run_type,
        actor=actor,
    )
