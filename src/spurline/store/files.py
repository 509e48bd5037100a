"""Output files of runs (SPEC §6): records whose bytes live under ``SPURLINE_HOME``."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select

from spurline.store.orm import OUTPUT_FILES


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
