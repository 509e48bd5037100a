"""Output files of runs (docs/child-runs-and-batches.md): records whose bytes live under
``SPURLINE_HOME``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from spurline.exceptions import NotFound
from spurline.store.orm import OUTPUT_FILES


@dataclass
class OutputFileRecord:
    """A file a run produced (a batch parent's JSONL results)."""

    id: str
    run_id: str | None
    file_name: str
    file_path: str
    created_at: datetime
    updated_at: datetime


def _record(row: Any) -> OutputFileRecord:
    return OutputFileRecord(**row._asdict())


def insert_output_file(conn: Connection, record: OutputFileRecord) -> None:
    """Insert an output-file record."""
    conn.execute(OUTPUT_FILES.insert(), [asdict(record)])


def get_output_file(conn: Connection, file_id: str) -> OutputFileRecord:
    """One output file's record; NotFound when absent."""
    row = conn.execute(select(*OUTPUT_FILES.c).where(OUTPUT_FILES.c.id == file_id)).first()
    if row is None:
        raise NotFound("Output file", file_id)
    return _record(row)


def touch_output_file(conn: Connection, file_id: str, at: datetime) -> None:
    """Record that the file's content was (re)written at ``at``."""
    conn.execute(update(OUTPUT_FILES).where(OUTPUT_FILES.c.id == file_id).values(updated_at=at))


def delete_output_files(conn: Connection, file_ids: list[str]) -> list[str]:
    """Delete output-file records; returns their paths so the caller removes the files."""
    if not file_ids:
        return []
    paths = [
        r[0]
        for r in conn.execute(
            select(OUTPUT_FILES.c.file_path).where(OUTPUT_FILES.c.id.in_(file_ids))
        )
    ]
    conn.execute(delete(OUTPUT_FILES).where(OUTPUT_FILES.c.id.in_(file_ids)))
    return paths
