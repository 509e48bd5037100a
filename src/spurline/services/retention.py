"""Retention: pruning runs that ended long ago (see docs/operations.md, Retention).

``spurline runs prune --older-than 30d`` and the background policy
(``SPURLINE_RETENTION_DAYS``) both call :func:`prune`. It deletes in batches of
``SPURLINE_PRUNE_BATCH_SIZE`` top-level runs, one short transaction each, yielding
between batches, so the API keeps answering while a large prune works.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

from spurline.engine.clock import now
from spurline.engine.states import RunStatus
from spurline.services._store import log_loop_error
from spurline.services.notifications import StoreAccess
from spurline.settings import Settings
from spurline.store import retention as queries
from spurline.store.retention import PRUNABLE

log = logging.getLogger(__name__)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
#: The longest age accepted: 1000 years, in seconds.
_MAX_AGE_S = 1000 * 366 * 86400
#: Pause between two batches: lets queued writes and reads of the API in.
_BETWEEN_BATCHES_S = 0.01


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` (a positive number and one unit) as a
    timedelta.

    Raises:
        ValueError: a negative, zero or malformed duration, with a message naming it.
    """
    match = _AGE.fullmatch(text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(
            f"{text!r} is not a positive duration: use a number and a unit "
            "s, m, h, d or w, e.g. 30d"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds > _MAX_AGE_S:  # a cutoff before year 1 cannot be computed
        raise ValueError(f"{text!r} is longer than 1000 years")
    return timedelta(seconds=seconds)


def check_statuses(statuses: Sequence[str]) -> list[RunStatus]:
    """The statuses to prune (default: every finished one).

    Raises:
        ValueError: a status that is not COMPLETED, FAILED or CANCELED.
    """
    allowed = [s.value for s in PRUNABLE]
    wrong = [s for s in statuses if s.upper() not in allowed]
    if wrong:
        raise ValueError(
            f"cannot prune runs with status {', '.join(wrong)}: only {', '.join(allowed)} "
            "runs are pruned (never an active or paused run)"
        )
    return [RunStatus(s.upper()) for s in statuses] or list(PRUNABLE)


@dataclass
class PruneReport:
    """What a prune removed (or, with ``dry_run``, would remove).

    Attributes:
        runs: top-level runs.
        runs_with_children: runs including their child runs (batch rows, loops).
        output_files: output files removed with their runs (not counted on a dry run).
        datasets: datasets no run refers to any more, uploaded before the cutoff.
        batches: transactions used.
        dry_run: nothing was deleted.
    """

    runs: int = 0
    runs_with_children: int = 0
    output_files: int = 0
    datasets: int = 0
    batches: int = 0
    dry_run: bool = False


async def prune(
    store: StoreAccess,
    older_than: timedelta,
    statuses: Sequence[RunStatus] = PRUNABLE,
    *,
    dry_run: bool = False,
    batch_size: int = 200,
    pace: float = 0.0,
) -> PruneReport:
    """Delete runs that ended more than ``older_than`` ago (with their child runs, tasks,
    logs, pause records, deliveries and output files), then the datasets uploaded before
    the same cutoff that no run refers to.

    ``pace`` > 0 rests ``pace`` times as long as each batch took before the next one
    (the background policy uses 1: at most half of the process's time goes to it).
    """
    cutoff = now() - older_than
    limit = batch_size
    if dry_run:
        runs, total, datasets = await store.read(
            lambda c: (
                queries.count_prunable(c, cutoff, statuses),
                queries.count_with_children(c, cutoff, statuses),
                queries.count_unused_datasets(c, cutoff),
            )
        )
        return PruneReport(runs, total, 0, datasets, 0, dry_run=True)
    report = PruneReport()
    for status in statuses:
        while True:
            started = time.perf_counter()
            batch = await store.write(
                partial(queries.prune_batch, cutoff=cutoff, status=status, limit=limit)
            )
            if not batch.runs:
                break
            report.batches += 1
            report.runs += batch.runs
            report.runs_with_children += batch.runs_with_children
            report.output_files += len(batch.file_paths)
            _unlink(batch.file_paths)
            rest = pace * (time.perf_counter() - started)
            await asyncio.sleep(max(rest, _BETWEEN_BATCHES_S))
    while paths := await store.write(lambda c: queries.prune_datasets(c, cutoff, limit)):
        report.batches += 1
        report.datasets += len(paths)
        _unlink(paths)
    return report


def _unlink(paths: list[str]) -> None:
    for path in paths:
        Path(path).unlink(missing_ok=True)


async def retention_loop(store: StoreAccess, settings: Settings) -> None:
    """Apply ``SPURLINE_RETENTION_DAYS`` now and every ``SPURLINE_RETENTION_INTERVAL_S``."""
    days = settings.retention_days
    if days is None:
        return
    while True:
        try:
            age = timedelta(days=days)
            report = await prune(store, age, batch_size=settings.prune_batch_size, pace=1.0)
            if report.runs or report.datasets:
                log.info(
                    "retention: pruned %d runs (%d with children), %d datasets",
                    report.runs,
                    report.runs_with_children,
                    report.datasets,
                )
        except Exception:  # the next round tries again
            log_loop_error(log, "retention prune failed")
        await asyncio.sleep(settings.retention_interval_s)
