"""Secrets at rest (docs/security.md §6): names and Fernet ciphertexts, never values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from spurline.exceptions import NotFound
from spurline.store.orm import SECRETS


@dataclass(frozen=True)
class SecretInfo:
    """What may be shown of a secret: its name and dates."""

    name: str
    created_at: datetime
    updated_at: datetime


def put_secret(conn: Connection, name: str, ciphertext: str, at: datetime) -> bool:
    """Set a secret's ciphertext; True when it was created, False when replaced."""
    done = conn.execute(
        update(SECRETS).where(SECRETS.c.name == name).values(ciphertext=ciphertext, updated_at=at)
    )
    if done.rowcount:
        return False
    conn.execute(
        SECRETS.insert(),
        [{"name": name, "ciphertext": ciphertext, "created_at": at, "updated_at": at}],
    )
    return True


def list_secrets(conn: Connection) -> list[SecretInfo]:
    """Every secret's name and dates, by name."""
    rows = conn.execute(
        select(SECRETS.c.name, SECRETS.c.created_at, SECRETS.c.updated_at).order_by(SECRETS.c.name)
    )
    return [SecretInfo(**r._asdict()) for r in rows]


def ciphertexts(conn: Connection) -> dict[str, str]:
    """Every secret's ciphertext by name (decrypted only by the secrets service)."""
    rows = conn.execute(select(SECRETS.c.name, SECRETS.c.ciphertext))
    return {r.name: r.ciphertext for r in rows}


def delete_secret(conn: Connection, name: str) -> None:
    """Delete a secret. Raises NotFound when there is none by that name."""
    if not conn.execute(delete(SECRETS).where(SECRETS.c.name == name)).rowcount:
        raise NotFound("Secret", name)
