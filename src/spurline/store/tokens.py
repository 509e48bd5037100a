"""API tokens and browser sessions (docs/security.md §1, §3).

Only hashes are stored: the SHA-256 of a token, of a session cookie. Tokens are 256
random bits, so a plain hash is enough (no slow password hash needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.exc import IntegrityError

from spurline.exceptions import Conflict, NotFound
from spurline.store.orm import SESSIONS, TOKENS


@dataclass(frozen=True)
class TokenRecord:
    """A stored token, without the token: ``prefix`` is its first characters, for display."""

    id: str
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class SessionRecord:
    """A signed-in browser: the token it signed in with, its CSRF token and expiry."""

    token: TokenRecord
    csrf_token: str
    expires_at: datetime


_TOKEN_COLS = [
    TOKENS.c.id,
    TOKENS.c.name,
    TOKENS.c.role,
    TOKENS.c.prefix,
    TOKENS.c.created_at,
    TOKENS.c.revoked_at,
]


def insert_token(conn: Connection, record: TokenRecord, token_hash: str) -> None:
    """Store a new token. Raises Conflict when a token with that name exists."""
    try:
        with conn.begin_nested():
            conn.execute(TOKENS.insert(), [{**record.__dict__, "token_hash": token_hash}])
    except IntegrityError as exc:
        raise Conflict(f"a token named {record.name!r} exists already") from exc


def list_tokens(conn: Connection) -> list[TokenRecord]:
    """Every token, revoked ones included, oldest first."""
    rows = conn.execute(select(*_TOKEN_COLS).order_by(TOKENS.c.created_at, TOKENS.c.id))
    return [TokenRecord(**r._asdict()) for r in rows]


def count_active(conn: Connection) -> int:
    """How many tokens are not revoked."""
    rows = conn.execute(select(TOKENS.c.id).where(TOKENS.c.revoked_at.is_(None)))
    return len(rows.all())


def active_by_hash(conn: Connection, token_hash: str) -> TokenRecord | None:
    """The token with this hash, or None when there is none or it is revoked."""
    row = conn.execute(
        select(*_TOKEN_COLS).where(TOKENS.c.token_hash == token_hash, TOKENS.c.revoked_at.is_(None))
    ).first()
    return TokenRecord(**row._asdict()) if row else None


def revoke_token(conn: Connection, name: str, at: datetime) -> TokenRecord:
    """Revoke a token by name and end its browser sessions.

    Raises:
        NotFound: no token has this name.
        Conflict: it is revoked already.
    """
    row = conn.execute(select(*_TOKEN_COLS).where(TOKENS.c.name == name)).first()
    if row is None:
        raise NotFound("Token", name)
    if row.revoked_at is not None:
        raise Conflict(f"token {name!r} is revoked already")
    conn.execute(update(TOKENS).where(TOKENS.c.id == row.id).values(revoked_at=at))
    conn.execute(delete(SESSIONS).where(SESSIONS.c.token_id == row.id))
    return TokenRecord(**{**row._asdict(), "revoked_at": at})


def insert_session(
    conn: Connection, id_hash: str, token_id: str, csrf_token: str, at: datetime, expires: datetime
) -> None:
    """Store a browser session (its cookie's hash)."""
    conn.execute(
        SESSIONS.insert(),
        [
            {
                "id_hash": id_hash,
                "token_id": token_id,
                "csrf_token": csrf_token,
                "created_at": at,
                "expires_at": expires,
            }
        ],
    )


def active_session(conn: Connection, id_hash: str, at: datetime) -> SessionRecord | None:
    """The unexpired session with this cookie hash whose token is not revoked, or None."""
    row = conn.execute(
        select(*_TOKEN_COLS, SESSIONS.c.csrf_token, SESSIONS.c.expires_at)
        .join(TOKENS, TOKENS.c.id == SESSIONS.c.token_id)
        .where(
            SESSIONS.c.id_hash == id_hash,
            SESSIONS.c.expires_at > at,
            TOKENS.c.revoked_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    values = row._asdict()
    csrf, expires = values.pop("csrf_token"), values.pop("expires_at")
    return SessionRecord(TokenRecord(**values), csrf, expires)


def delete_session(conn: Connection, id_hash: str, at: datetime) -> None:
    """End a session, and drop every expired one while at it."""
    conn.execute(
        delete(SESSIONS).where((SESSIONS.c.id_hash == id_hash) | (SESSIONS.c.expires_at <= at))
    )
