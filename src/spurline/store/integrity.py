"""``spurline db check``: is the store whole and up to date
(docs/reliability.md#a-damaged-store).

SQLite: the file is opened read-only and ``PRAGMA integrity_check`` reads every page
(it takes about as long as reading the file). PostgreSQL keeps no such check of its
own pages that a client can run: the store is checked for a connection, and for its
migrations at head. Both report the migration revision.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from spurline.store.migrate import MIGRATIONS

#: Most problems ``integrity_check`` lists.
MAX_PROBLEMS = 100


@dataclass
class StoreCheck:
    """What :func:`check_store` found.

    Attributes:
        store: the SQLite file, or the PostgreSQL URL with its password masked.
        ok: whether the store is whole and its migrations are at head.
        lines: what was checked and found, one sentence each, for the operator.
    """

    store: str
    ok: bool = True
    lines: list[str] = field(default_factory=list)

    def problem(self, line: str) -> None:
        """Record a problem; the store is not ok."""
        self.ok = False
        self.lines.append(line)


def check_store(url: str) -> StoreCheck:
    """Check the store at ``url`` (docs/reliability.md#a-damaged-store). Never raises for
    a damaged or unreachable store: that is what it reports."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        result = StoreCheck(str(parsed.database))
        _sqlite_pages(Path(str(parsed.database)), result)
    else:
        result = StoreCheck(parsed.render_as_string(hide_password=True))
    if result.ok:
        _revision(url, result)
    return result


def _sqlite_pages(path: Path, result: StoreCheck) -> None:
    if not path.is_file():
        result.problem(f"there is no store file at {path} ('spurline init' creates one)")
        return
    # read-only: a check must not change what it checks (no WAL checkpoint)
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute(f"PRAGMA integrity_check({MAX_PROBLEMS})").fetchall()
    except sqlite3.DatabaseError as exc:
        result.problem(f"SQLite cannot read the file: {exc}")
        return
    finally:
        conn.close()
    found = [str(r[0]) for r in rows]
    if found == ["ok"]:
        result.lines.append("integrity_check: ok (every page read)")
        return
    result.problem(f"integrity_check found {len(found)} problem(s):")
    result.lines += [f"  {line}" for line in found]


def _revision(url: str, result: StoreCheck) -> None:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        result.problem(f"cannot read the store: {reason[0] if reason else type(exc).__name__}")
        return
    finally:
        engine.dispose()
    if current == head:
        result.lines.append(f"connected; migrations at head (revision {head!r})")
    elif current is None:
        result.problem("connected, but the store has no tables ('spurline db upgrade')")
    else:
        result.problem(
            f"migrations at revision {current!r}, the newest is {head!r}: run 'spurline db upgrade'"
        )
