"""Datasets (docs/child-runs-and-batches.md): records of uploaded row files kept under
``SPURLINE_HOME``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select

from spurline.engine.states import RunStatus
from spurline.exceptions import Conflict, NotFound
from spurline.store.orm import DATASETS, RUNS


@dataclass
class DatasetRecord:
    """A stored dataset; its rows are the JSON lines of ``file_path`` (one object each)."""

    id: str
    name: str
    description: str | None
    columns: list[str]
    row_count: int
    file_format: str
    file_path: str
    uploaded_at: datetime


_COLS = list(DATASETS.c)


def _record(row: Any) -> DatasetRecord:
    return DatasetRecord(**row._asdict())


def insert_dataset(conn: Connection, record: DatasetRecord) -> None:
    """Insert a dataset record (its file is already in place)."""
    conn.execute(DATASETS.insert(), [asdict(record)])


def get_dataset(conn: Connection, dataset_id: str) -> DatasetRecord:
    """One dataset; NotFound when absent."""
    row = conn.execute(select(*_COLS).where(DATASETS.c.id == dataset_id)).first()
    if row is None:
        raise NotFound("Dataset", dataset_id)
    return _record(row)


def list_datasets(conn: Connection, page: int, page_size: int) -> tuple[list[DatasetRecord], int]:
    """A page of datasets, newest first, and the total count."""
    total = conn.execute(select(func.count()).select_from(DATASETS)).scalar_one()
    rows = conn.execute(
        select(*_COLS)
        .order_by(DATASETS.c.uploaded_at.desc(), DATASETS.c.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return [_record(r) for r in rows], total


def delete_dataset(conn: Connection, dataset_id: str) -> str:
    """Delete a dataset record; returns its file path for the caller to remove.

    Raises:
        NotFound: unknown dataset.
        Conflict: an unfinished batch run reads it.
    """
    record = get_dataset(conn, dataset_id)
    busy = conn.execute(
        select(RUNS.c.id)
        .where(
            RUNS.c.input_dataset_id == dataset_id,
            RUNS.c.status.in_([RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED]),
        )
        .limit(1)
    ).first()
    if busy is not None:
        raise Conflict(f"Dataset {dataset_id} is read by batch run {busy[0]}; cancel it first")
    conn.execute(delete(DATASETS).where(DATASETS.c.id == dataset_id))
    return record.file_path


def file_paths(conn: Connection) -> list[str]:
    """The file of every dataset."""
    return [r[0] for r in conn.execute(select(DATASETS.c.file_path))]
