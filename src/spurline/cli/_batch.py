"""``spurline run WORKFLOW --dataset FILE``: a batch run in this process with a progress
bar, and ``spurline runs children``: a run's child runs."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from spurline.cli._workflows import upsert_workflow
from spurline.engine.states import RUN_FINISHED, RunStatus
from spurline.runtime import Runtime
from spurline.settings import Settings
from spurline.store import files as file_q
from spurline.store import runs as run_q

#: Seconds between progress bar refreshes.
REFRESH_S = 0.2


async def run_batch(
    settings: Settings,
    workflow: tuple[str, str | None, dict[str, Any]],
    dataset: Path,
    concurrency: int,
    output: Path | None,
    console: Console,
) -> tuple[dict[str, Any], Path]:
    """Record the workflow and the dataset, run the batch here with a progress bar on
    ``console``; returns the parent run's view and the results file (copied to
    ``output`` when given).

    Raises:
        DefinitionError: an invalid workflow, dataset, or a column missing.
        OSError: the dataset cannot be read or the output written.
    """
    name, description, definition = workflow
    rt = Runtime(settings)
    try:
        await rt.start(recover=False)
        wf_id = upsert_workflow(rt.db, name, description, definition)
        with dataset.open("rb") as src:
            ds = await rt.datasets.add(src, dataset.name, dataset.stem, None)
        run = await rt.batches.start(wf_id, ds.id, concurrency)
        await _follow(rt, run.id, ds.row_count, console)
        snap = await rt.snapshot(run.id)
        file_id = snap.run.output_file_id or ""
        record = await rt.read(lambda c: file_q.get_output_file(c, file_id))
        results = Path(record.file_path)
        if output is not None:
            await asyncio.to_thread(shutil.copyfile, results, output)
            results = output
        return rt.view(snap), results
    finally:
        await rt.close()


async def _follow(rt: Runtime, run_id: str, total: int, console: Console) -> None:
    columns = (
        TextColumn("[bold]rows"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
    )
    start = time.monotonic()
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("rows", total=total, rate="0")
        while True:
            run = await rt.read(lambda c: run_q.get_run(c, run_id))
            elapsed = max(time.monotonic() - start, 1e-9)
            done = total if run.status in RUN_FINISHED else run.rows_done
            progress.update(bar, completed=done, rate=f"{done / elapsed:.1f}")
            if run.status in RUN_FINISHED or run.status is RunStatus.PAUSED:
                return
            await asyncio.sleep(REFRESH_S)


def count_statuses(results: Path) -> Counter[str]:
    """How many lines of a batch results file have each ``status``."""
    with results.open("rb") as f:
        return Counter(orjson.loads(line)["status"] for line in f if line.strip())


def children_table(run_id: str, views: list[dict[str, Any]]) -> Table:
    """A run's children, one row each: position, id, status, seconds, result or message."""
    table = Table(title=f"children of {run_id} ({len(views)})", title_justify="left")
    for col in ("#", "id", "status", "s", "outputs / message"):
        table.add_column(col, overflow="fold")
    for i, v in enumerate(views):
        outputs = v["outputs"] or {}
        last = next(reversed(outputs.values())) if outputs else None
        detail = v["message"] or ("" if last is None else orjson.dumps(last).decode())
        table.add_row(
            str(i),
            v["id"],
            v["status"],
            "" if v["duration"] is None else f"{v['duration']:.3f}",
            escape(detail[:200]),
        )
    return table


def children(settings: Settings, run_id: str) -> list[dict[str, Any]]:
    """Views of a run's direct children, oldest first; NotFound for an unknown run."""
    rt = Runtime(settings)
    try:
        snaps, _ = rt.db.read(lambda c: run_q.list_children(c, run_id, None, None))
        return [rt.view(s) for s in snaps]
    finally:
        rt.db.close()
