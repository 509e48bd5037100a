"""Where the CLI's commands go: a server (``--server`` / ``SPURLINE_URL``) or the local
store, through the same :class:`spurline.client.AsyncClient` (see docs/client.md).

For the local store the command serves the API app in its own process, over
``cli._asgi`` (event streams flow as they are sent): every command then has one code
path (the client), the local store answers exactly as a server would, and runs the
command starts or resumes execute here, as ``spurline run`` always did. Only the
local path imports the app, the store and the engine; a command against a server
imports httpx and nothing of the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from spurline.cli._errors import CliError

if TYPE_CHECKING:
    from spurline.client import AsyncClient
    from spurline.settings import Settings

T = TypeVar("T")
#: The base URL of the in-process app (never resolved: the transport answers). A
#: loopback name, as the app serves only those when auth is off (docs/security.md).
LOCAL_URL = "http://localhost"


@dataclass(frozen=True)
class Target:
    """What ``--server`` and ``--token`` chose: a server URL, or None for the local store."""

    server: str | None = None
    token: str | None = None


def missing_store(settings: Settings) -> str | None:
    """Why the local store cannot be used, or None when it exists.

    Only an SQLite store can be missing: a database URL names a server that is
    checked when the command connects.
    """
    path = settings.sqlite_path()
    if path is None or path.is_file():
        return None
    if settings.home_given:
        return (
            f"no Spurline store at {path} (SPURLINE_HOME is {settings.home}); create it with "
            "'spurline init', point SPURLINE_HOME or SPURLINE_DATABASE_URL at another, "
            "or pass --server URL"
        )
    return (
        f"no Spurline store at {path} (looked for {settings.home.name}/ in "
        f"{settings.home.parent} and its parents); create one here with 'spurline init', "
        "set SPURLINE_HOME or SPURLINE_DATABASE_URL, or pass --server URL"
    )


def may_create(settings: Settings) -> bool:
    """Whether ``spurline run`` may create the store: only where it was named
    (``SPURLINE_HOME``, ``SPURLINE_DATABASE_URL``), never the ``./.spurline`` of
    whatever folder the command happens to run in (docs/client.md)."""
    return settings.home_given or settings.database_url is not None


@asynccontextmanager
async def local_client(
    settings: Settings, *, create: bool, token: str | None = None
) -> AsyncIterator[AsyncClient]:
    """A client of the API served in this process over ``settings``' store.

    Args:
        create: make (and migrate) the store when it does not exist and its place
            was named (:func:`may_create`); otherwise a missing store is an error.
        token: sent as a Bearer token (when ``SPURLINE_AUTH=required`` applies here too).

    Raises:
        CliError: the store does not exist and ``create`` is false.
    """
    problem = None if create and may_create(settings) else missing_store(settings)
    if problem:
        raise CliError(problem)
    from spurline.api.app import create_app
    from spurline.cli._asgi import StreamingASGITransport
    from spurline.client import AsyncClient
    from spurline.nodes._sandbox import shutdown_default_pool
    from spurline.runtime import Runtime

    rt = Runtime(settings)
    try:
        # No take-over of other processes' runs: this process lives for one command.
        await rt.start(recover=False)
        app = create_app(settings, runtime=rt)
        app.state.runtime = rt  # the lifespan would; ASGITransport sends no lifespan events
        transport = StreamingASGITransport(app)
        async with AsyncClient(LOCAL_URL, token=token, transport=transport) as client:
            yield client
    finally:
        await rt.close()
        # Stop the code workers before the process exits: a worker replaced after a
        # cancel or timeout may still be starting, and would fail noisily on exit.
        shutdown_default_pool()


@asynccontextmanager
async def connect(target: Target, *, create: bool = False) -> AsyncIterator[AsyncClient]:
    """The client a command uses: the server of ``target``, else the local store."""
    if target.server is None:
        from spurline.settings import get_settings

        async with local_client(get_settings(), create=create, token=target.token) as client:
            yield client
        return
    from spurline.client import AsyncClient

    async with AsyncClient(target.server, token=target.token) as client:
        yield client


def call(target: Target, body: Callable[[AsyncClient], Awaitable[T]], *, create: bool = False) -> T:
    """Run ``body`` with the command's client and return its result."""

    async def main() -> T:
        async with connect(target, create=create) as client:
            return await body(client)

    return asyncio.run(main())
