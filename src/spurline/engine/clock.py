"""Injectable clock and id source (docs/architecture.md#clock-and-ids): tests patch these two
functions."""

from __future__ import annotations

from datetime import UTC, datetime

from ulid import ULID


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


def new_id(prefix: str = "") -> str:
    """A new opaque id: ``prefix`` + a ULID (26 chars, time-ordered, unique across machines)."""
    return f"{prefix}{ULID()}"
