"""Transient store errors: which database errors are worth waiting out, and the
bounded retry that waits them out (docs/reliability.md#transient-store-errors).

A store "blinks" when PostgreSQL restarts or fails over (connections drop, new ones
are refused for a moment), when a transaction loses a serialization race, when
another process holds SQLite's write lock past ``busy_timeout``, or when the disk
is full. Each is retried with exponential backoff and jitter (tenacity) until the
call's *patience* runs out; then it becomes a
:class:`~spurline.exceptions.StoreUnavailable` (or
:class:`~spurline.exceptions.StoreFull`), which the API answers 503 (507) with
``Retry-After`` and background loops log in one line.

Patience: the engine's own writes wait ``SPURLINE_STORE_RETRY_S`` (a run is never
failed because the store blinked); a request waits ``SPURLINE_STORE_REQUEST_RETRY_S``
(set for its context by the API with :data:`request_patience`), so a client gets its
503 quickly instead of hanging through an outage.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
    wait_random,
)

from spurline.engine.runs import REQUEST_ONLY
from spurline.exceptions import StoreFull, StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds a store call made in this context keeps retrying; None: the database's
#: default (``SPURLINE_STORE_RETRY_S``). The API sets it for each request.
request_patience: ContextVar[float | None] = ContextVar("spurline_store_patience", default=None)
REQUEST_ONLY.append((request_patience, None))

#: Backoff between attempts: 50 ms doubling to 1 s, with up to 0.25 s of jitter so the
#: processes of a deployment do not all reconnect at the same instant.
WAIT = wait_exponential(multiplier=0.05, max=1.0) + wait_random(0, 0.25)
#: The longest wait between two attempts (seconds).
BACKOFF_MAX_S = 1.25

#: The error classes :func:`kind` may call transient: what an API answers 503/507
#: when one escapes a retrying call.
STORE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, OSError)

FULL_MESSAGE = "no space left on the store's disk; free some space and try again"

# SQLite primary result codes (the extended code's low byte)
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_FULL = 5, 6, 13
# PostgreSQL SQLSTATEs: serialization failure, deadlock, too many connections,
# lock not available; classes 08 (connection) and 57P (server shut down or starting)
_PG_TRANSIENT = {"40001", "40P01", "53300", "55P03"}
_PG_DISK_FULL = "53100"
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


def kind(exc: BaseException) -> str | None:
    """``"full"`` for a full disk, ``"transient"`` for an error worth retrying, else None.

    Args:
        exc: any exception; SQLAlchemy's ``DBAPIError`` (SQLite and psycopg errors
            inside), ``OSError`` (files) and :class:`StoreUnavailable` are classified.
    """
    if isinstance(exc, StoreFull):
        return "full"
    if isinstance(exc, StoreUnavailable):
        return "transient"
    if isinstance(exc, OSError):
        return "full" if exc.errno in _NO_SPACE else None
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        primary = code & 0xFF
        if primary == _SQLITE_FULL:
            return "full"
        return "transient" if primary in (_SQLITE_BUSY, _SQLITE_LOCKED) else None
    if exc.connection_invalidated:
        return "transient"
    state = getattr(orig, "sqlstate", None)
    if state == _PG_DISK_FULL:
        return "full"
    if state:
        return (
            "transient"
            if state in _PG_TRANSIENT or state[:2] == "08" or state[:3] == "57P"
            else None
        )
    # psycopg raises these without a SQLSTATE when the server is unreachable or the
    # connection dropped mid-statement
    return "transient" if isinstance(exc, OperationalError | InterfaceError) else None


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` is worth retrying (a full disk included: space may return)."""
    return kind(exc) is not None


def unavailable(exc: BaseException) -> StoreUnavailable:
    """The domain error for a transient ``exc`` that outlasted its retries."""
    if isinstance(exc, StoreUnavailable):
        return exc
    if kind(exc) == "full":
        return StoreFull(FULL_MESSAGE, retry_after=30)
    return StoreUnavailable(f"the store is unavailable ({_reason(exc)}); try again shortly")


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def patience(given: float | None, default: float) -> float:
    """The retry budget (seconds) of one store call: ``given``, else the context's
    :data:`request_patience`, else ``default``."""
    if given is not None:
        return given
    ctx = request_patience.get()
    return default if ctx is None else ctx


def call(fn: Callable[[], T], budget_s: float) -> T:
    """``fn()``, retried with backoff on transient errors for up to ``budget_s`` seconds.

    Raises:
        StoreUnavailable: a transient error outlasted the budget (StoreFull: a full disk).
        Exception: any other error of ``fn``, at once.
    """
    started = time.monotonic()
    try:
        # the common case, without building tenacity's machinery (~14 us per call, on
        # every read and request)
        return fn()
    except Exception as exc:
        if not is_transient(exc):
            raise
        note(exc)
    retrying = Retrying(
        stop=stop_after_delay(max(budget_s - (time.monotonic() - started), 0.0)),
        wait=WAIT,
        retry=retry_if_exception(is_transient),
        before_sleep=lambda state: note(state.outcome.exception() if state.outcome else None),
        reraise=True,
    )
    try:
        return retrying(fn)
    except Exception as exc:
        if is_transient(exc):
            raise unavailable(exc) from exc
        raise


_noted = threading.Lock()
_last_note = 0.0
_last_failure = float("-inf")


def note(exc: BaseException | None) -> None:
    """Record a transient store error, and log it in one line at most every 5 s per
    process (an outage retried by many calls would otherwise flood the log)."""
    global _last_note, _last_failure
    if exc is None:
        return
    with _noted:
        at = time.monotonic()
        _last_failure = at
        if at - _last_note < 5.0:
            return
        _last_note = at
    log.warning("the store failed (%s); retrying", _reason(exc))


def quiet_for(seconds: float) -> bool:
    """True when this process has met no transient store error for ``seconds``.

    Lease takeover waits for it after an outage: every process's leases ran out while
    nobody could renew them, and the processes still executing those runs need a
    heartbeat to renew them before anyone takes them over
    (docs/reliability.md#transient-store-errors).
    """
    return time.monotonic() - _last_failure >= seconds
