"""``spurline tokens`` and ``spurline secrets``: admin tasks on the store this machine
reaches through ``SPURLINE_DATABASE_URL`` (docs/security.md §1, §6).

A token is printed once, by ``tokens create``; a secret's value never. Heavy modules
are imported inside the commands (see ``cli.main``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from spurline.cli._errors import CliError
from spurline.exceptions import Conflict

if TYPE_CHECKING:
    from spurline.services.auth import AuthService
    from spurline.services.secrets import SecretService

out = Console()
err = Console(stderr=True, soft_wrap=True)
tokens_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
secrets_app = typer.Typer(help="Set, list and delete secrets.", no_args_is_help=True)


_ROLES = ("viewer", "operator", "admin")


def register(app: typer.Typer) -> None:
    """Add ``tokens`` and ``secrets`` to the ``spurline`` command."""
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(secrets_app, name="secrets")


@contextmanager
def _services() -> Iterator[tuple[AuthService, SecretService]]:
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


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="Who holds it: the actor recorded on runs.")],
    role: Annotated[str, typer.Option(help="viewer, operator or admin.")] = "viewer",
) -> None:
    """Create a token and print it (the only time it is shown)."""
    from spurline.services.auth import Role

    if role not in _ROLES:
        raise CliError(f"--role must be viewer, operator or admin, not {role!r}")
    with _services() as (auth, _):
        try:
            record, token = auth.create_token(name, Role(role))
        except Conflict as exc:
            raise CliError(str(exc)) from None
    err.print(
        f"created {record.role} token {escape(record.name)!s}; it is shown once, store it now:",
        highlight=False,
    )
    out.print(token, highlight=False, soft_wrap=True)


@tokens_app.command("list")
def tokens_list() -> None:
    """List tokens: name, role, first characters, created, revoked (never the token)."""
    with _services() as (auth, _):
        records = auth.list_tokens()
    table = Table("name", "role", "prefix", "created", "revoked")
    for r in records:
        revoked = r.revoked_at.isoformat(timespec="seconds") if r.revoked_at else ""
        table.add_row(
            escape(r.name),
            r.role,
            r.prefix + "…",
            r.created_at.isoformat(timespec="seconds"),
            revoked,
        )
    out.print(table)


@tokens_app.command("revoke")
def tokens_revoke(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke a token: requests with it get 401, its browser sessions end."""
    with _services() as (auth, _):
        try:
            auth.revoke_token(name)
        except Conflict as exc:
            raise CliError(str(exc)) from None
    out.print(f"revoked token {escape(name)}", highlight=False)


@secrets_app.command("generate-key")
def secrets_generate_key() -> None:
    """Print a new key for SPURLINE_SECRET_KEY (keep it as safe as the secrets)."""
    from spurline.services.secrets import generate_key

    out.print(generate_key(), highlight=False, soft_wrap=True)


@secrets_app.command("set")
def secrets_set(
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
    with _services() as (_, secrets):
        created = secrets.set(name, value)
    out.print(f"{'created' if created else 'replaced'} secret {escape(name)}", highlight=False)


@secrets_app.command("list")
def secrets_list() -> None:
    """List secrets: names and dates, never values."""
    with _services() as (_, secrets):
        infos = secrets.list()
    table = Table("name", "created", "updated")
    for i in infos:
        table.add_row(
            escape(i.name),
            i.created_at.isoformat(timespec="seconds"),
            i.updated_at.isoformat(timespec="seconds"),
        )
    out.print(table)


@secrets_app.command("delete")
def secrets_delete(name: Annotated[str, typer.Argument(help="The secret's name.")]) -> None:
    """Delete a secret."""
    with _services() as (_, secrets):
        secrets.delete(name)
    out.print(f"deleted secret {escape(name)}", highlight=False)
