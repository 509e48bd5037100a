"""Dependencies shared by routes: the runtime, paging parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from spurline.runtime import Runtime


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
