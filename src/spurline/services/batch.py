"""Batch runs (docs/child-runs-and-batches.md): one child run per dataset row, at most
``mini_batch_size``
in flight, results in a JSONL output file in row order.

Executing a batch parent means running its row dispatcher
(:meth:`BatchService.execute_batch`, reached through ``RunEngine.execute``), so a
process that takes over the parent's lease after a crash resumes the batch: rows
already finished stay finished, rows that were executing are resumed, the rest are
created and run. Rows are created in chunks (one write per chunk) just ahead of
execution; the output file is written at the end from the stored children, page by
page, so memory holds one chunk and one page, never every row's result.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from spurline.engine.children import ChildResult
from spurline.engine.clock import new_id, now
from spurline.engine.jsonvalue import json_problem
from spurline.engine.plan import Plan
from spurline.engine.records import RunRecord, StartOptions, TaskRecord
from spurline.engine.runs import LocalExecutor, new_run
from spurline.engine.states import RUN_ACTIVE, RunStatus, TaskStatus
from spurline.exceptions import InputsInvalid, NotFound
from spurline.nodes.io import InputNode
from spurline.services._files import written_whole
from spurline.services.children import CHUNK, ChildWindow, ParentStopped
from spurline.services.datasets import coerce, read_rows
from spurline.services.runs import insert_run_once
from spurline.store import children as child_q
from spurline.store import datasets as ds_q
from spurline.store import files as file_q
from spurline.store import runs as run_q
from spurline.store import starts, transient
from spurline.store import workflows as wf_q
from spurline.store.files import OutputFileRecord

if TYPE_CHECKING:
    from spurline.engine.executor import RunEngine
    from spurline.engine.persistence import Persistence
    from spurline.engine.runs import Executor
    from spurline.services._store import LeaseHolder, Store

#: Seconds between writes of a running batch's ``rows_done``.
PROGRESS_EVERY_S = 0.25
#: Children read per query when the output file is written.
PAGE = 1000


def _input_node(plan: Plan) -> InputNode:
    node = plan.nodes[plan.input_node_id]
    assert isinstance(node, InputNode)
    return node


def row_inputs(node: InputNode, row: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The InputNode fields of one dataset row, typed per its ``output_schema``
    (every column as-is when the schema is empty), and a problem or None.
    """
    schema = node.config.output_schema
    types = schema or dict.fromkeys(row, "any")
    fields: dict[str, Any] = {}
    problems = []
    for name, type_name in types.items():
        try:
            fields[name] = coerce(row.get(name), type_name)
        except ValueError as exc:
            problems.append((name, f"column {name!r}: {exc}"))
            continue
        # A value the store cannot hold (a NUL on PostgreSQL) fails this row alone and
        # is left out of the row's stored inputs (docs/reliability.md#validation-and-bad-input).
        unstorable = json_problem(fields[name], f"column {name!r}")
        if unstorable:
            fields[name] = None
            problems.append((name, unstorable))
    if not schema:
        return fields, "; ".join(msg for _, msg in problems) or None
    if problems:  # in column order: a stored schema's key order is not kept on PostgreSQL
        at = {column: i for i, column in enumerate(row)}
        problems.sort(key=lambda p: at.get(p[0], len(at)))
    messages = [msg for _, msg in problems]
    messages += node.input_problems(fields)
    return fields, "; ".join(messages) or None


class BatchService:
    """Starts batch runs and executes batch parents (the engine's ``batch`` service).

    Args:
        store: async database access.
        persistence: the engine's view of the store (run status transitions).
        engine: the run engine (plans, in-process hand-over).
        executor: where rows execute.
        lease: this process as a lease owner.
        home: where output files are written (``SPURLINE_HOME/outputs``).
    """

    def __init__(
        self,
        store: Store,
        persistence: Persistence,
        engine: RunEngine,
        executor: Executor,
        lease: LeaseHolder,
        home: Path,
    ) -> None:
        self.store = store
        self.persistence = persistence
        self.engine = engine
        self.executor = executor
        self.lease = lease
        self.home = home

    async def start(
        self,
        workflow_id: str,
        dataset_id: str,
        mini_batch_size: int,
        options: StartOptions | None = None,
    ) -> RunRecord:
        """Create a PENDING batch parent over a dataset and hand it to the executor.
        ``options.actor`` (who starts it) is recorded as ``started_by``.

        ``options`` carries tags, metadata and an idempotency key: a key used within
        24 h returns its first batch run and starts nothing (docs/operations.md).

        Raises:
            NotFound: unknown workflow or dataset.
            InputsInvalid: a field of the InputNode has no column of that name.
        """
        options = options or StartOptions(run_type="batch")
        key = options.idempotency_key
        if key is not None:
            known = await self.store.read(lambda c: starts.run_of_key(c, key, now()))
            if known is not None:
                return await self.store.read(lambda c: run_q.get_run(c, known))
        wf = await self.store.read(lambda c: wf_q.get_workflow(c, workflow_id))
        ds = await self.store.read(lambda c: ds_q.get_dataset(c, dataset_id))
        assert wf.current_version_id is not None
        plan = await self.engine.plan_for(wf.current_version_id)
        schema = _input_node(plan).config.output_schema
        missing = sorted(f for f in schema if f not in ds.columns)
        if missing:
            msg = (
                f"dataset {ds.id} has no column for the InputNode field(s) "
                f"{', '.join(map(repr, missing))} (columns: {', '.join(ds.columns)})"
            )
            problem = {"path": ("dataset_id",), "msg": msg, "type": "missing_column"}
            raise InputsInvalid([problem])
        at = now()
        run = RunRecord(
            id=new_id("R"),
            workflow_id=wf.id,
            workflow_version_id=wf.current_version_id,
            status=RunStatus.PENDING,
            start_time=at,
            run_type="batch",
            input_dataset_id=ds.id,
            output_file_id=new_id("F"),
            rows_total=ds.row_count,
            mini_batch_size=mini_batch_size,
            started_by=options.actor,
            lease_owner=self.lease.owner,
            lease_expires_at=at + timedelta(seconds=self.lease.lease_s),
            tags=list(dict.fromkeys(options.tags)) or None,
            run_metadata=dict(options.metadata) if options.metadata else None,
        )
        out = OutputFileRecord(
            id=run.output_file_id or "",
            run_id=run.id,
            file_name=f"batch_{run.id}.jsonl",
            file_path=str(self.home / f"{run.id}.jsonl"),
            created_at=at,
            updated_at=at,
        )

        first = await insert_run_once(
            self.store, run, [], key, then=lambda c: file_q.insert_output_file(c, out)
        )
        if first is not None:
            return await self.store.read(lambda c: run_q.get_run(c, first))
        await self.executor.submit(run.id)
        return run

    async def execute_batch(self, run: RunRecord) -> RunStatus:
        """Dispatch the batch's unfinished rows, write its output file, end it."""
        started = await self.persistence.transition_run(run.id, RUN_ACTIVE, RunStatus.RUNNING)
        if not started:
            return await self.persistence.run_status(run.id)
        return await _Dispatch(self, run).go()


class _Dispatch:
    """One execution of one batch parent's row dispatcher."""

    def __init__(self, svc: BatchService, run: RunRecord) -> None:
        self.svc = svc
        self.run = run
        self.total = run.rows_total or 0
        self.done = 0
        self.rows: Iterator[dict[str, Any]] = iter(())
        self.next_row = 0
        self._last_progress = 0.0

    async def go(self) -> RunStatus:
        run = self.run
        assert run.workflow_version_id is not None and run.input_dataset_id is not None
        plan = await self.svc.engine.plan_for(run.workflow_version_id)
        dataset_id = run.input_dataset_id
        ds = await self.svc.store.read(lambda c: ds_q.get_dataset(c, dataset_id))
        states = await self.svc.store.read(lambda c: child_q.child_states(c, run.id))
        self.next_row = len(states)  # chunks are written whole: created rows are a prefix
        self.done = sum(1 for s in states if s.status not in RUN_ACTIVE)
        self.rows = read_rows(Path(ds.file_path), self.next_row)
        window = ChildWindow(self.svc.executor, run.mini_batch_size or 10, self._row_done)
        window.ready.extend(s.id for s in states if s.status in RUN_ACTIVE)
        try:
            await window.drive(lambda n: self._fill(plan, n))
        except ParentStopped:
            await self._write_file_after_stop()
            return await self.svc.persistence.run_status(run.id)
        except asyncio.CancelledError:
            # Interrupted (a cancel seen by this process, or shutdown): the file still
            # lists every row as it stands, so a canceled batch keeps its partial results.
            await asyncio.shield(self._write_file_after_stop())
            raise
        failed = await self._write_file()
        message = f"{failed} of {self.total} rows failed" if failed else None
        status = RunStatus.FAILED if failed else RunStatus.COMPLETED
        changes = {"end_time": now(), "message": message, "rows_done": self.total}
        ok = await self.svc.persistence.transition_run(
            run.id, frozenset({RunStatus.RUNNING}), status, changes
        )
        return status if ok else await self.svc.persistence.run_status(run.id)

    async def _write_file_after_stop(self) -> None:
        with contextlib.suppress(NotFound):  # canceled, then deleted at once
            await self._write_file()

    async def _row_done(self, child_id: str, status: RunStatus) -> None:
        self.done += 1
        if time.monotonic() - self._last_progress >= PROGRESS_EVERY_S:
            await self._progress()

    async def _progress(self) -> None:
        self._last_progress = time.monotonic()
        done, run_id = self.done, self.run.id
        if not await self.svc.store.write(lambda c: child_q.set_progress(c, run_id, done)):
            raise ParentStopped

    async def _fill(self, plan: Plan, n: int) -> list[str] | None:
        """Create the next chunk of rows; rows whose values do not fit are created FAILED."""
        if self.next_row >= self.total:
            await self._progress()
            return []
        size = min(max(n, CHUNK, 4 * (self.run.mini_batch_size or 1)), self.total - self.next_row)
        made = await asyncio.to_thread(self._make_chunk, plan, size)
        if not made:
            return []
        parent_id = self.run.id
        ok = await self.svc.store.write(lambda c: child_q.insert_children(c, parent_id, made))
        if not ok:
            return None
        ready = [run.id for run, _ in made if run.status is RunStatus.PENDING]
        if isinstance(self.svc.executor, LocalExecutor):  # rows execute in this process
            for run, tasks in made:
                if run.status is RunStatus.PENDING:
                    self.svc.engine.hand_over(run, tasks)
        self.done += len(made) - len(ready)
        await self._progress()
        if not ready:  # a chunk of rejected rows: fetch the next one
            return await self._fill(plan, n)
        return ready

    def _make_chunk(self, plan: Plan, size: int) -> list[tuple[RunRecord, list[TaskRecord]]]:
        node = _input_node(plan)
        made = []
        for row in self.rows:
            fields, problem = row_inputs(node, row)
            run, tasks = new_run(
                plan,
                self.run.workflow_id,
                {plan.input_node_id: fields},
                parent_run_id=self.run.id,
                run_type="batch",
                seq=self.next_row,
            )
            if problem:
                at = now()
                run.status, run.end_time = RunStatus.FAILED, at
                run.message = f"row {self.next_row}: {problem}"
                for t in tasks:
                    t.status, t.end_time = TaskStatus.CANCELED, at
            made.append((run, tasks))
            self.next_row += 1
            if len(made) >= size:
                break
        return made

    async def _write_file(self) -> int:
        """Write the output file from the stored children; returns how many rows failed."""
        run = self.run
        assert run.output_file_id is not None
        file_id = run.output_file_id
        record = await self.svc.store.read(lambda c: file_q.get_output_file(c, file_id))
        path = Path(record.file_path)
        # a full disk is waited out like a store that blinked; past the store's patience
        # StoreFull stops this execution, which the executor starts again until the file
        # is written (docs/reliability.md#disk-full)
        write = partial(transient.call, partial(self._write_lines, path), self.svc.store.db.retry_s)
        failed = await asyncio.to_thread(write)
        await self.svc.store.write(lambda c: file_q.touch_output_file(c, file_id, now()))
        return failed

    def _page(self, conn: Any, seq_from: int) -> list[ChildResult]:
        return child_q.child_results(conn, self.run.id, seq_from=seq_from, limit=PAGE)

    def _write_lines(self, path: Path) -> int:
        failed, seq_from = 0, 0
        with written_whole(path) as out:
            while True:
                page = self.svc.store.db.read(partial(self._page, seq_from=seq_from))
                for r in page:
                    line: dict[str, Any] = {"row": r.seq, "run_id": r.run_id, "status": r.status}
                    if r.status is RunStatus.COMPLETED:
                        line["outputs"] = r.outputs
                    else:
                        failed += 1
                        line["error"] = r.message
                    out.write(orjson.dumps(line))
                    out.write(b"\n")
                if len(page) < PAGE:
                    break
                seq_from = page[-1].seq + 1
        return failed
