"""Tokens, roles and browser sessions: who is calling, and may they (docs/security.md).

A token is ``spl_`` + 43 URL-safe characters (256 random bits), shown once when it is
created; the store keeps its SHA-256. A verified token or session is cached for
``SPURLINE_TOKEN_CACHE_S`` seconds so checking it costs a dictionary lookup, not a
query, on most requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from spurline.engine.clock import new_id, now
from spurline.exceptions import FieldInvalid, NotAuthenticated, TooManyAttempts
from spurline.settings import Settings
from spurline.store import tokens as q
from spurline.store.db import Database
from spurline.store.tokens import TokenRecord

TOKEN_PREFIX = "spl_"
_TOKEN_RE = re.compile(r"^spl_[A-Za-z0-9_-]{43}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
_CACHE_MAX = 4096


class Role(StrEnum):
    """A token's role; each includes the ones before it (docs/security.md §1)."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for viewer, 1 for operator, 2 for admin."""
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        """True when this role includes ``needed``."""
        return _RANK[self] >= _RANK[needed]


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    """Who a request acts as.

    Attributes:
        name: the token's name (the actor recorded on runs), or ``local`` with auth off.
        role: what it may do.
        token_id: the token's id; None with auth off.
        csrf_token: set when the request came with a session cookie: the value its
            writes must send in ``X-CSRF-Token`` (docs/security.md §3).
    """

    name: str
    role: Role
    token_id: str | None = None
    csrf_token: str | None = None


LOCAL = Principal("local", Role.ADMIN)


def hash_secret(value: str) -> str:
    """SHA-256 hex of a token or session cookie."""
    return hashlib.sha256(value.encode()).hexdigest()


def check_token_name(name: str) -> None:
    """Raise FieldInvalid unless ``name`` is 1-100 of ``A-Z a-z 0-9 _ . @ -``."""
    if not _NAME_RE.match(name):
        problem = {
            "path": ("name",),
            "msg": "a token name is 1 to 100 letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit",
            "type": "value_error",
        }
        raise FieldInvalid([problem])


class FailureLimiter:
    """Counts failed authentications per client; past ``limit`` per ``window_s``: 429.

    In memory, per process (docs/security.md §1). Thread-safe.
    """

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._fails: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, at: float) -> deque[float] | None:
        fails = self._fails.get(client)
        while fails and fails[0] <= at - self.window_s:
            fails.popleft()
        return fails

    def check(self, client: str) -> None:
        """Raise TooManyAttempts while ``client`` is over the limit."""
        at = time.monotonic()
        with self._lock:
            fails = self._recent(client, at)
            if fails is not None and len(fails) >= self.limit:
                wait = max(1, int(fails[0] + self.window_s - at) + 1)
                raise TooManyAttempts(
                    f"too many failed authentications from this client; retry in {wait} s",
                    retry_after=wait,
                )

    def failed(self, client: str) -> None:
        """Count one failed authentication of ``client``."""
        at = time.monotonic()
        with self._lock:
            fails = self._recent(client, at)
            if fails is None:
                fails = self._fails[client] = deque()
                if len(self._fails) > _CACHE_MAX:
                    self._fails.popitem(last=False)
            fails.append(at)


class AuthService:
    """Creates, lists and revokes tokens; verifies tokens and sessions.

    Args:
        db: the store.
        settings: ``token_cache_s``, ``session_hours``, ``auth_fail_*``.
    """

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.limiter = FailureLimiter(settings.auth_fail_limit, settings.auth_fail_window_s)
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    # -- tokens (admin tasks; synchronous: the CLI calls them too) -------------
    def create_token(self, name: str, role: Role) -> tuple[TokenRecord, str]:
        """A new token: its record and the token itself, which is never stored.

        Raises:
            FieldInvalid: a bad name.
            Conflict: a token with this name exists (revoked ones too: names are the
                actors recorded on runs, so one name means one holder).
        """
        check_token_name(name)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(new_id("K"), name, role.value, token[:8], now(), None)
        self.db.writer.run(lambda c: q.insert_token(c, record, hash_secret(token)))
        return record, token

    def list_tokens(self) -> list[TokenRecord]:
        """Every token, revoked ones included, oldest first (no token values)."""
        return self.db.read(q.list_tokens)

    def revoke_token(self, name: str) -> TokenRecord:
        """Revoke a token and end its sessions; NotFound / Conflict as the store says."""
        record = self.db.writer.run(lambda c: q.revoke_token(c, name, now()))
        self._cache.clear()
        return record

    def has_tokens(self) -> bool:
        """True when at least one token is not revoked."""
        return self.db.read(q.count_active) > 0

    # -- verifying (hot path) ---------------------------------------------------
    def _cached(self, key: str) -> Principal | None:
        hit = self._cache.get(key)
        if hit is None:
            return None
        if hit[1] < time.monotonic():
            self._cache.pop(key, None)
            return None
        return hit[0]

    def _remember(self, key: str, principal: Principal) -> None:
        self._cache[key] = (principal, time.monotonic() + self.settings.token_cache_s)
        if len(self._cache) > _CACHE_MAX:
            self._cache.popitem(last=False)

    async def verify_token(self, token: str, client: str) -> Principal:
        """The principal of a Bearer token.

        Raises:
            TooManyAttempts: ``client`` failed too often lately (checked first).
            NotAuthenticated: a malformed, unknown or revoked token.
        """
        self.limiter.check(client)
        key = "t:" + hash_secret(token)
        principal = self._cached(key)
        if principal is not None:
            return principal
        record = None
        if _TOKEN_RE.match(token):
            record = await asyncio.to_thread(self.db.read, lambda c: q.active_by_hash(c, key[2:]))
        if record is None:
            self.limiter.failed(client)
            raise NotAuthenticated("invalid or revoked token")
        principal = Principal(record.name, Role(record.role), record.id)
        self._remember(key, principal)
        return principal

    async def verify_session(self, cookie: str, client: str) -> Principal:
        """The principal of a session cookie (with its CSRF token); errors as tokens'."""
        self.limiter.check(client)
        key = "s:" + hash_secret(cookie)
        principal = self._cached(key)
        if principal is not None:
            return principal
        found = await asyncio.to_thread(self.db.read, lambda c: q.active_session(c, key[2:], now()))
        if found is None:
            self.limiter.failed(client)
            raise NotAuthenticated("the session has ended; sign in again")
        principal = Principal(found.token.name, Role(found.token.role), found.token.id)
        principal = Principal(**{**principal.__dict__, "csrf_token": found.csrf_token})
        self._remember(key, principal)
        return principal

    async def open_session(self, token: str, client: str) -> tuple[str, Principal]:
        """Sign in with a token: a new session cookie value and its principal."""
        who = await self.verify_token(token, client)
        assert who.token_id is not None
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        at = now()
        expires = at + timedelta(hours=self.settings.session_hours)
        token_id = who.token_id
        await self.db.writer.arun(
            lambda c: q.insert_session(c, hash_secret(cookie), token_id, csrf, at, expires)
        )
        return cookie, Principal(who.name, who.role, who.token_id, csrf)

    async def close_session(self, cookie: str) -> None:
        """End a session (and forget it in this process at once)."""
        key = hash_secret(cookie)
        self._cache.pop("s:" + key, None)
        await self.db.writer.arun(lambda c: q.delete_session(c, key, now()))
