"""Small reads the web UI needs that the Runs API does not give cheaply: run summaries
with counts per status, child runs per task, a batch's rows failed first, a dataset
preview and a diff of two workflow versions (see docs/ui.md).
"""

from __future__ import annotations

import asyncio
import difflib
import itertools
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Query, Response
from pydantic import BaseModel

from spurline.api._http import OrjsonResponse, SlashRouter
from spurline.api.deps import (
    MetadataQuery,
    PageDep,
    RuntimeDep,
    ScheduleIdQuery,
    TagQuery,
    metadata_pairs,
)
from spurline.api.schemas import ErrorResponse, UtcDatetime
from spurline.engine.clock import now
from spurline.engine.states import RunStatus
from spurline.exceptions import NotFound
from spurline.services.datasets import read_rows
from spurline.store import datasets as ds_q
from spurline.store import runs as run_q
from spurline.store import summaries
from spurline.store import workflows as wf_q

router = SlashRouter(tags=["ui"])


class RunSummary(BaseModel):
    """One run of the runs page."""

    id: str
    workflow_id: str
    workflow_name: str
    status: RunStatus
    start_time: datetime
    end_time: datetime | None
    duration: float | None
    percentage_complete: float
    run_type: str
    parent_run_id: str | None
    rows_total: int | None
    rows_done: int
    message: str | None
    tasks_total: int
    tasks_completed: int
    tags: list[str]
    metadata: dict[str, str]
    schedule_id: str | None
    rerun_of: str | None


class RunSummaryPage(BaseModel):
    """``GET /run_summaries/``: a page, whether an older page exists, and the ``until``
    to pass for the next pages so they stay put while runs are added."""

    items: list[RunSummary]
    has_more: bool
    until: datetime
    page: int
    page_size: int


class RunCounts(BaseModel):
    """``GET /run_counts/``: runs per status (every filter but status applies) and
    ``total``, the runs matching the status filter too."""

    counts: dict[str, int]
    total: int


class ChildRef(BaseModel):
    """A child run started by a task."""

    id: str
    status: RunStatus
    seq: int | None


class BatchRow(BaseModel):
    """One row (child run) of a batch."""

    id: str
    seq: int | None
    status: RunStatus
    message: str | None
    start_time: datetime
    end_time: datetime | None


class BatchRowPage(BaseModel):
    """``GET /run/{id}/batch_rows/``: rows FAILED first, then in row order; ``total``
    child runs created so far, ``failed`` of them FAILED, ``rows_total`` and
    ``rows_done`` of the batch parent (null total for a run that is not a batch)."""

    items: list[BatchRow]
    total: int
    failed: int
    rows_total: int | None
    rows_done: int


class DatasetPreview(BaseModel):
    """``GET /ds/{id}/preview/``: the columns and the first rows."""

    columns: list[str]
    rows: list[dict[str, Any]]
    row_count: int


class DiffLine(BaseModel):
    """One row of a side-by-side diff: ``kind`` is equal, replace, delete or insert;
    a side without a line is null."""

    kind: str
    left: str | None
    right: str | None
    left_no: int | None
    right_no: int | None


class VersionDiff(BaseModel):
    """``GET /wf/{id}/version_diff/``: two versions' definitions side by side."""

    a: int
    b: int
    lines: list[DiffLine]


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse}}


def _duration(start: datetime, end: datetime | None, status: str, at: datetime) -> float | None:
    # Same rule as the run view (docs/ui.md): running runs count up to now.
    if end is not None:
        return max((end - start).total_seconds(), 0.0)
    if status in ("RUNNING", "PAUSED"):
        return max((at - start).total_seconds(), 0.0)
    return None


def _percentage(item: dict[str, Any]) -> float:
    if item["status"] == "COMPLETED":
        return 100.0
    if item["rows_total"] is not None:
        done, total = item["rows_done"], item["rows_total"]
    else:
        done, total = item["tasks_completed"], item["tasks_total"]
    if total <= 0:
        return 0.0
    return float(min(round(100.0 * done / total, 2), 99.99))


StatusQuery = Annotated[list[RunStatus] | None, Query()]


@dataclass(frozen=True)
class _Filters:
    """The query parameters the runs page's two reads share (docs/ui.md)."""

    status: StatusQuery = None
    workflow_id: str | None = None
    run_type: str | None = None
    parent_only: bool = True
    started_after: datetime | None = None
    started_before: datetime | None = None
    start_date: Annotated[
        UtcDatetime | None, Query(description="Runs started at or after (as GET /run/)")
    ] = None
    end_date: Annotated[
        UtcDatetime | None, Query(description="Runs started at or before (as GET /run/)")
    ] = None
    tag: TagQuery = None
    metadata: MetadataQuery = None
    schedule_id: ScheduleIdQuery = None
    until: datetime | None = None

    def summary_filter(self, until: datetime | None) -> summaries.SummaryFilter:
        """The store's filter; ``until`` replaces the query's (page 1 pins it to now)."""
        found_by = run_q.RunFilter(
            start_date=self.start_date,
            end_date=self.end_date,
            tags=tuple(self.tag or ()),
            metadata=metadata_pairs(self.metadata),
            schedule_id=self.schedule_id,
        )
        return summaries.SummaryFilter(
            tuple(self.status or ()),
            self.workflow_id,
            self.run_type,
            self.parent_only,
            self.started_after,
            self.started_before,
            until,
            found_by,
        )


FiltersDep = Annotated[_Filters, Depends()]


@router.get("/run_summaries/", response_model=RunSummaryPage)
async def run_summaries(
    rt: RuntimeDep,
    filters: FiltersDep,
    page: PageDep = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """Runs newest first without tasks, for the runs page; parents only by default."""
    at = now()
    flt = filters.summary_filter(filters.until or at)
    items, has_more = await rt.read(lambda c: summaries.run_summaries(c, page, page_size, flt))
    for item in items:
        item["duration"] = _duration(item["start_time"], item["end_time"], item["status"], at)
        item["percentage_complete"] = _percentage(item)
    body = {
        "items": items,
        "has_more": has_more,
        "until": flt.until,
        "page": page,
        "page_size": page_size,
    }
    return OrjsonResponse(body)


@router.get("/run_counts/", response_model=RunCounts)
async def run_counts(rt: RuntimeDep, filters: FiltersDep) -> Response:
    """Runs per status for the runs page's filters (parents only by default)."""
    flt = filters.summary_filter(filters.until)
    counts = await rt.read(lambda c: summaries.run_counts(c, flt))
    wanted = {s.value for s in flt.statuses} if flt.statuses else set(counts)
    total = sum(n for s, n in counts.items() if s in wanted)
    return OrjsonResponse({"counts": counts, "total": total})


@router.get(
    "/run/{run_id}/children_by_task/",
    response_model=dict[str, list[ChildRef]],
    responses=NOT_FOUND,
)
async def children_by_task(run_id: str, rt: RuntimeDep) -> Response:
    """``{task_id: [child run, ...]}``: the child runs each task started (at most 1,000)."""

    def read(conn: Any) -> dict[str, list[dict[str, Any]]]:
        run_q.get_run(conn, run_id)
        return summaries.children_by_task(conn, run_id)

    return OrjsonResponse(await rt.read(read))


@router.get("/run/{run_id}/batch_rows/", response_model=BatchRowPage, responses=NOT_FOUND)
async def batch_rows(
    run_id: str,
    rt: RuntimeDep,
    page: PageDep = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """The child runs of a batch parent, FAILED first, then in row order."""

    def read(conn: Any) -> dict[str, Any]:
        run = run_q.get_run(conn, run_id)
        items, total, failed = summaries.failed_children_first(conn, run_id, page, page_size)
        return {
            "items": items,
            "total": total,
            "failed": failed,
            "rows_total": run.rows_total,
            "rows_done": run.rows_done,
        }

    return OrjsonResponse(await rt.read(read))


@router.get("/ds/{dataset_id}/preview/", response_model=DatasetPreview, responses=NOT_FOUND)
async def preview_dataset(
    dataset_id: str, rt: RuntimeDep, rows: Annotated[int, Query(ge=1, le=100)] = 10
) -> Response:
    """A dataset's columns and first ``rows`` rows."""
    ds = await rt.read(lambda c: ds_q.get_dataset(c, dataset_id))

    def first() -> list[dict[str, Any]]:
        return list(itertools.islice(read_rows(Path(ds.file_path)), rows))

    found = await asyncio.to_thread(first)
    return OrjsonResponse({"columns": ds.columns, "rows": found, "row_count": ds.row_count})


def _side_by_side(left: list[str], right: list[str]) -> list[dict[str, Any]]:
    """Aligned rows of two texts from difflib's opcodes (replace blocks padded)."""
    out: list[dict[str, Any]] = []
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            li, rj = i1 + k, j1 + k
            has_l, has_r = li < i2, rj < j2
            out.append(
                {
                    "kind": tag,
                    "left": left[li] if has_l else None,
                    "right": right[rj] if has_r else None,
                    "left_no": li + 1 if has_l else None,
                    "right_no": rj + 1 if has_r else None,
                }
            )
    return out


@router.get("/wf/{workflow_id}/version_diff/", response_model=VersionDiff, responses=NOT_FOUND)
async def version_diff(
    workflow_id: str,
    rt: RuntimeDep,
    a: Annotated[int, Query(ge=1, le=1_000_000_000, description="Left version number")],
    b: Annotated[int, Query(ge=1, le=1_000_000_000, description="Right version number")],
) -> Response:
    """The definitions of versions ``a`` and ``b`` as indented JSON, line by line."""
    versions = await rt.read(lambda c: wf_q.list_versions(c, workflow_id))
    by_number = {v.version: v for v in versions}
    for n in (a, b):
        if n not in by_number:
            raise NotFound("Workflow version", f"{workflow_id} v{n}")

    def lines(n: int) -> list[str]:
        return json.dumps(by_number[n].definition, indent=2, sort_keys=True).splitlines()

    return OrjsonResponse({"a": a, "b": b, "lines": _side_by_side(lines(a), lines(b))})
