"""Dependencies shared by routes: the runtime, paging parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from spurline.exceptions import NotAuthenticated
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
