"""``spurline tokens`` and ``spurline secrets``: admin tasks (docs/security.md §1, §6).

With ``--server`` they go through the client to that server (an admin token). Without,
they work on the store this machine reaches (``SPURLINE_DATABASE_URL`` /
``SPURLINE_HOME``) directly, not through the API: that is how the first admin token
is made, before any token exists to call the API with.

A token is printed once, by ``tokens create``; a secret's value never. Heavy modules
are imported inside the commands (see ``cli.main``).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from spurline.cli._connect import Target, call
from spurline.cli._errors import CliError

if TYPE_CHECKING:
    from spurline.client import AsyncClient
    from spurline.services.auth import AuthService
    from spurline.services.secrets import SecretService

T = TypeVar("T")

out = Console()
err = Console(stderr=True, soft_wrap=True)
tokens_app = typer.Typer(
    help="Create, list and revoke API tokens: on --server with an admin token, else in the "
    "local store directly (how the first admin token is made).",
    no_args_is_help=True,
)
secrets_app = typer.Typer(
    help="Set, list and delete secrets: on --server with an admin token, else in the local "
    "store (SPURLINE_SECRET_KEY needed here).",
    no_args_is_help=True,
)


_ROLES = ("viewer", "operator", "admin")


def register(app: typer.Typer) -> None:
    """Add ``tokens`` and ``secrets`` to the ``spurline`` command."""
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(secrets_app, name="secrets")


@contextmanager
def _services() -> Iterator[tuple[AuthService, SecretService]]:
    """The services on the local store, created (migrated) if need be: ``tokens create``
    is a store's first step when auth is on."""
    from spurline.services.auth import AuthService
    from spurline.services.secrets import SecretService
    from spurline.settings import get_settings
    from spurline.store.db import Database

    settings = get_settings()
    db = Database(settings.resolved_database_url())
    try:
        db.upgrade()
        yield AuthService(db, settings), SecretService(db, settings)
    finally:
        db.close()


def _either(
    ctx: typer.Context,
    remote: Callable[[AsyncClient], Awaitable[T]],
    local: Callable[[AuthService, SecretService], T],
) -> T:
    """``remote`` through the client when ``--server`` is given, else ``local`` on the
    local store's services.

    Raises:
        CliError: the local store refused (a name taken, a token revoked already).
    """
    target: Target = ctx.obj
    if target.server is not None:
        return call(target, remote)
    from spurline.exceptions import Conflict

    with _services() as (auth, secrets):
        try:
            return local(auth, secrets)
        except Conflict as exc:
            raise CliError(str(exc)) from None


@tokens_app.command("create")
def tokens_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who holds it: the actor recorded on runs.")],
    role: Annotated[str, typer.Option(help="viewer, operator or admin.")] = "viewer",
) -> None:
    """Create a token and print it (the only time it is shown). Without --server, in the
    local store directly: the way to make the first admin token."""
    if role not in _ROLES:
        raise CliError(f"--role must be viewer, operator or admin, not {role!r}")

    def local(auth: AuthService, _: SecretService) -> tuple[str, str, str]:
        from spurline.services.auth import Role

        record, token = auth.create_token(name, Role(role))
        return str(record.role), record.name, token

    async def remote(client: AsyncClient) -> tuple[str, str, str]:
        made = await client.create_token(name, role)
        return made["role"], made["name"], made["token"]

    made_role, made_name, token = _either(ctx, remote, local)
    err.print(
        f"created {made_role} token {escape(made_name)!s}; it is shown once, store it now:",
        highlight=False,
    )
    out.print(token, highlight=False, soft_wrap=True)


@tokens_app.command("list")
def tokens_list(ctx: typer.Context) -> None:
    """List tokens: name, role, first characters, created, revoked (never the token)."""

    async def remote(client: AsyncClient) -> list[tuple[str, ...]]:
        return [
            (t["name"], t["role"], t["prefix"], _when(t["created_at"]), _when(t["revoked_at"]))
            for t in await client.list_tokens()
        ]

    def local(auth: AuthService, _: SecretService) -> list[tuple[str, ...]]:
        return [
            (r.name, str(r.role), r.prefix, _when(r.created_at), _when(r.revoked_at))
            for r in auth.list_tokens()
        ]

    rows = _either(ctx, remote, local)
    table = Table("name", "role", "prefix", "created", "revoked")
    for name, role, prefix, created, revoked in rows:
        table.add_row(escape(name), role, prefix + "…", created, revoked)
    out.print(table)


def _when(value: datetime | str | None) -> str:
    """A time to the second; the API's are ISO 8601 text."""
    if value is None:
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.isoformat(timespec="seconds")


@tokens_app.command("revoke")
def tokens_revoke(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The token's name.")]
) -> None:
    """Revoke a token: requests with it get 401, its browser sessions end."""
    _either(ctx, lambda c: c.revoke_token(name), lambda auth, _: auth.revoke_token(name))
    out.print(f"revoked token {escape(name)}", highlight=False)


@secrets_app.command("generate-key")
def secrets_generate_key() -> None:
    """Print a new key for SPURLINE_SECRET_KEY (keep it as safe as the secrets)."""
    from spurline.services.secrets import generate_key

    out.print(generate_key(), highlight=False, soft_wrap=True)


@secrets_app.command("set")
def secrets_set(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The secret's name, e.g. OPENAI_API_KEY.")],
    value: Annotated[
        str | None,
        typer.Option(
            help="The value; without it, read from standard input (safer: no shell history)."
        ),
    ] = None,
) -> None:
    """Store a secret, encrypted with SPURLINE_SECRET_KEY."""
    if value is None:
        value = (
            sys.stdin.readline().rstrip("\r\n")
            if not sys.stdin.isatty()
            else typer.prompt(f"value of {name}", hide_input=True)
        )
    text = value

    async def remote(client: AsyncClient) -> str:
        await client.set_secret(name, text)
        return "stored"  # the API does not say whether it was there before

    def local(_: AuthService, secrets: SecretService) -> str:
        return "created" if secrets.set(name, text) else "replaced"

    out.print(f"{_either(ctx, remote, local)} secret {escape(name)}", highlight=False)


@secrets_app.command("list")
def secrets_list(ctx: typer.Context) -> None:
    """List secrets: names and dates, never values."""

    async def remote(client: AsyncClient) -> list[tuple[str, ...]]:
        found = await client.list_secrets()
        return [(i["name"], _when(i["created_at"]), _when(i["updated_at"])) for i in found]

    def local(_: AuthService, secrets: SecretService) -> list[tuple[str, ...]]:
        return [(i.name, _when(i.created_at), _when(i.updated_at)) for i in secrets.list()]

    rows = _either(ctx, remote, local)
    table = Table("name", "created", "updated")
    for name, created, updated in rows:
        table.add_row(escape(name), created, updated)
    out.print(table)


@secrets_app.command("delete")
def secrets_delete(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The secret's name.")]
) -> None:
    """Delete a secret."""
    _either(ctx, lambda c: c.delete_secret(name), lambda _, secrets: secrets.delete(name))
    out.print(f"deleted secret {escape(name)}", highlight=False)
