"""Pruning old runs, and the store-wide figures of the metrics gauges.

See docs/operations.md (Retention). Only top-level runs that ended (COMPLETED,
FAILED, CANCELED) before the cutoff are candidates; their child runs, tasks, pause
records, webhook deliveries (and any other row keyed to a run with ``ON DELETE
CASCADE``) go with them. Each call deletes one bounded batch in one transaction,
so a prune of any size never holds the writer for long.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, delete, exists, func, select

from spurline.engine.states import RunStatus
from spurline.store import files
from spurline.store.notifications import pending_count
from spurline.store.orm import DATASETS, RUNS

#: Statuses a prune may remove: never an active or paused run.
PRUNABLE = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED)


@dataclass
class PrunedBatch:
    """What one batch removed: top-level runs, all runs (children included), and the
    paths of the output files whose records went with them (the caller unlinks them)."""

    runs: int
    runs_with_children: int
    file_paths: list[str]


def _candidates(cutoff: datetime, statuses: Sequence[RunStatus]) -> Select[Any]:
    # start_time <= end_time, so the start_time bound lets the (status, start_time)
    # index find the candidates; end_time decides.
    return select(RUNS.c.id).where(
        RUNS.c.status.in_([s.value for s in statuses]),
        RUNS.c.start_time < cutoff,
        RUNS.c.end_time < cutoff,
        RUNS.c.parent_run_id.is_(None),
    )


def _tree(roots: Select[Any]) -> Any:
    """A recursive CTE of ``roots`` and all their descendants' ids."""
    tree = roots.cte("prune_tree", recursive=True)
    return tree.union_all(select(RUNS.c.id).where(RUNS.c.parent_run_id == tree.c.id))


def count_prunable(conn: Connection, cutoff: datetime, statuses: Sequence[RunStatus]) -> int:
    """How many top-level runs a prune with these bounds would remove."""
    sub = _candidates(cutoff, statuses).subquery()
    return int(conn.execute(select(func.count()).select_from(sub)).scalar_one())


def count_with_children(conn: Connection, cutoff: datetime, statuses: Sequence[RunStatus]) -> int:
    """How many runs, child runs included, such a prune would remove."""
    tree = _tree(_candidates(cutoff, statuses))
    return int(conn.execute(select(func.count()).select_from(tree)).scalar_one())


def prune_batch(conn: Connection, cutoff: datetime, status: RunStatus, limit: int) -> PrunedBatch:
    """Delete up to ``limit`` prunable top-level runs of one ``status`` (oldest first)
    with their trees. One status at a time, so the (status, start_time, id) index
    yields them in order: no sort of every candidate per batch.
    """
    ids = [
        r[0]
        for r in conn.execute(
            _candidates(cutoff, [status]).order_by(RUNS.c.start_time, RUNS.c.id).limit(limit)
        )
    ]
    if not ids:
        return PrunedBatch(0, 0, [])
    tree = _tree(select(RUNS.c.id).where(RUNS.c.id.in_(ids)))
    tree_ids = select(tree.c.id)
    total = int(conn.execute(select(func.count()).select_from(tree)).scalar_one())
    file_ids = [
        r[0]
        for r in conn.execute(
            select(RUNS.c.output_file_id).where(
                RUNS.c.id.in_(tree_ids), RUNS.c.output_file_id.is_not(None)
            )
        )
    ]
    # children, tasks, pause records and deliveries go through ON DELETE CASCADE
    conn.execute(delete(RUNS).where(RUNS.c.id.in_(ids)))
    return PrunedBatch(len(ids), total, files.delete_output_files(conn, file_ids))


def _unused_datasets(cutoff: datetime) -> Select[Any]:
    used = exists().where(RUNS.c.input_dataset_id == DATASETS.c.id)
    return select(DATASETS.c.id, DATASETS.c.file_path).where(DATASETS.c.uploaded_at < cutoff, ~used)


def count_unused_datasets(conn: Connection, cutoff: datetime) -> int:
    """Datasets uploaded before ``cutoff`` that no run refers to."""
    sub = _unused_datasets(cutoff).subquery()
    return int(conn.execute(select(func.count()).select_from(sub)).scalar_one())


def prune_datasets(conn: Connection, cutoff: datetime, limit: int) -> list[str]:
    """Delete up to ``limit`` datasets uploaded before ``cutoff`` that no run refers to;
    returns their file paths (the caller unlinks them)."""
    rows = conn.execute(_unused_datasets(cutoff).limit(limit)).all()
    if rows:
        conn.execute(delete(DATASETS).where(DATASETS.c.id.in_([r[0] for r in rows])))
    return [r[1] for r in rows]


def active_counts(conn: Connection) -> dict[str, int]:
    """Runs PENDING, RUNNING and PAUSED in the store: status -> count."""
    active = [RunStatus.PENDING.value, RunStatus.RUNNING.value, RunStatus.PAUSED.value]
    rows = conn.execute(
        select(RUNS.c.status, func.count()).where(RUNS.c.status.in_(active)).group_by(RUNS.c.status)
    )
    return {status: int(n) for status, n in rows}


def gauges(conn: Connection) -> tuple[dict[str, int], int]:
    """The metrics gauges' store figures: active runs by status, unfinished deliveries."""
    return active_counts(conn), pending_count(conn)
