"""``spurline runs prune`` and the background retention (docs/operations.md, Retention):
old finished runs go with their children, tasks, pause records, deliveries, output
files and the datasets no run refers to; active and paused runs, recent runs and
used datasets stay; bad durations and statuses are usage errors.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from tests.conftest import BACKENDS, Cli, LiveServer, make_settings

from spurline.engine.clock import new_id, now
from spurline.engine.definition import WorkflowDefinition
from spurline.engine.graph import Graph
from spurline.engine.records import PauseRecord, RunRecord, TaskRecord
from spurline.engine.states import RunStatus, TaskStatus
from spurline.services.retention import check_statuses, parse_age
from spurline.settings import Settings
from spurline.store import files, notifications
from spurline.store import runs as run_q
from spurline.store import workflows as wf_q
from spurline.store.datasets import DatasetRecord, insert_dataset
from spurline.store.db import Database
from spurline.store.orm import DATASETS, DELIVERIES, PAUSES, RUNS, TASKS
from spurline.store.seed import completed_run, seed_runs
from spurline.store.versions import versions

DEFINITION = {
    "nodes": [
        {"id": "in", "node_type": "InputNode", "config": {"output_schema": {"v": "int"}}},
        {"id": "out", "node_type": "OutputNode", "config": {}},
    ],
    "links": [{"source_id": "in", "target_id": "out"}],
}
OLD = timedelta(days=40)


@dataclass
class Store:
    """A store filled with old and recent runs of every kind."""

    settings: Settings
    db: Database
    kept: set[str] = field(default_factory=set)
    pruned: set[str] = field(default_factory=set)
    files_pruned: list[Path] = field(default_factory=list)
    files_kept: list[Path] = field(default_factory=list)

    def count(self, table: Any, *where: Any) -> int:
        return int(
            self.db.read(
                lambda c: c.execute(
                    select(func.count()).select_from(table).where(*where)
                ).scalar_one()
            )
        )

    def run_ids(self) -> set[str]:
        return {r[0] for r in self.db.read(lambda c: c.execute(select(RUNS.c.id)).all())}


def _fill(settings: Settings, old_completed: int = 30) -> Store:
    db = Database(settings.resolved_database_url())
    db.upgrade()
    store = Store(settings, db)
    wf = db.writer.run(lambda c: wf_q.create_workflow(c, "prunable", None, DEFINITION))
    version = db.read(lambda c: versions.get(c, wf.current_version_id or ""))
    graph = Graph.of(WorkflowDefinition.model_validate(version.definition))
    old_at = now() - OLD
    db.writer.run(lambda c: seed_runs(c, version, old_completed, until=old_at))
    db.writer.run(lambda c: seed_runs(c, version, 5))  # recent
    store.pruned = {
        r[0]
        for r in db.read(lambda c: c.execute(select(RUNS.c.id).where(RUNS.c.start_time < old_at)))
    }
    store.kept = store.run_ids() - store.pruned
    home = settings.home

    def run(status: RunStatus, at: datetime, **extra: Any) -> tuple[RunRecord, list[TaskRecord]]:
        record, tasks = completed_run(version, graph, at, {"v": 1})
        record.status = status
        for key, value in extra.items():
            setattr(record, key, value)
        if status in (RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.PENDING):
            record.end_time = None
            tasks[-1].status, tasks[-1].end_time = TaskStatus.PENDING, None
        return record, tasks

    def write(record: RunRecord, tasks: list[TaskRecord], keep: bool) -> None:
        db.writer.run(lambda c: run_q.insert_run(c, record, tasks))
        (store.kept if keep else store.pruned).add(record.id)

    # old runs that are never pruned: active and paused
    lease = {"lease_owner": "elsewhere", "lease_expires_at": now() + timedelta(hours=1)}
    for status in (RunStatus.RUNNING, RunStatus.PENDING):
        write(*run(status, old_at - timedelta(days=1), **lease), keep=True)
    paused, paused_tasks = run(RunStatus.PAUSED, old_at - timedelta(days=1), **lease)
    write(paused, paused_tasks, keep=True)
    pause = PauseRecord(
        id=new_id("P"),
        run_id=paused.id,
        node_id="in",
        pause_message="m",
        pause_time=old_at,
        resume_time=None,
        resume_user_id=None,
        resume_action=None,
        input_data=None,
        comments=None,
    )
    db.writer.run(lambda c: c.execute(PAUSES.insert(), [pause.__dict__]))
    # old FAILED and CANCELED runs, one with a webhook delivery
    failed, _ = run(RunStatus.FAILED, old_at)
    write(failed, _, keep=False)
    write(*run(RunStatus.CANCELED, old_at), keep=False)
    hook = notifications.WebhookRecord(
        new_id("H"), "http://127.0.0.1:9/", ["FAILED"], None, None, True, now(), now()
    )
    db.writer.run(lambda c: notifications.create_webhook(c, hook, "whsec_x"))
    row = {
        "id": failed.id,
        "workflow_id": wf.id,
        "run_type": "interactive",
        "start_time": old_at,
        "end_time": old_at,
        "message": None,
    }
    db.writer.run(lambda c: notifications.enqueue(c, row, RunStatus.FAILED, old_at))
    # an old batch parent with children and an output file
    parent, _ = run(RunStatus.COMPLETED, old_at, run_type="batch", output_file_id=new_id("F"))
    write(parent, _, keep=False)
    for i in range(3):
        write(
            *run(RunStatus.COMPLETED, old_at, parent_run_id=parent.id, run_type="batch", seq=i),
            keep=False,
        )
    out_path = home / "parent.jsonl"
    out_path.write_text("{}\n")
    store.files_pruned.append(out_path)
    out_file = files.OutputFileRecord(
        parent.output_file_id or "", parent.id, "parent.jsonl", str(out_path), old_at, old_at
    )
    db.writer.run(lambda c: files.insert_output_file(c, out_file))
    # datasets: old unused (pruned), old used by a recent run, recent unused (both kept)
    for name, uploaded, used in (
        ("unused", old_at, False),
        ("used", old_at, True),
        ("new", now(), False),
    ):
        path = home / f"{name}.jsonl"
        path.write_text('{"v": 1}\n')
        ds = DatasetRecord(new_id("D"), name, None, ["v"], 1, "jsonl", str(path), uploaded)
        db.writer.run(lambda c, ds=ds: insert_dataset(c, ds))
        (store.files_kept if used or name == "new" else store.files_pruned).append(path)
        if used:
            write(*run(RunStatus.COMPLETED, now(), input_dataset_id=ds.id), keep=True)
    return store


@pytest.fixture
def store(tmp_path: Path, backend: str) -> Iterator[Store]:
    settings, cleanup = make_settings(tmp_path, backend)
    filled = _fill(settings)
    try:
        yield filled
    finally:
        filled.db.close()
        cleanup()


@pytest.mark.parametrize("backend", BACKENDS)
def test_prune_removes_old_finished_runs_and_what_hangs_on_them(store: Store) -> None:
    cli = Cli(store.settings)
    before = store.run_ids()
    dry = cli("runs", "prune", "--older-than", "30d", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    top_level = len(store.pruned) - 3  # the batch's 3 children
    assert dry.stdout.strip() == (
        f"would prune {top_level} runs ({len(store.pruned)} with their child runs), "
        "1 unused datasets"
    )
    assert store.run_ids() == before

    only_failed = cli("runs", "prune", "--older-than", "30d", "--status", "failed", "--json")
    assert only_failed.returncode == 0, only_failed.stderr
    assert '"runs": 1,' in only_failed.stdout
    assert '"datasets": 1,' in only_failed.stdout  # unused datasets go whatever the status
    assert len(store.run_ids()) == len(before) - 1

    done = cli("runs", "prune", "--older-than", "30d")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"pruned {top_level - 1} runs ({len(store.pruned) - 1} with their child runs), "
        "1 output files, 0 unused datasets"
    )
    assert store.run_ids() == store.kept
    assert store.count(TASKS, TASKS.c.run_id.in_(store.pruned)) == 0
    assert store.count(TASKS) == sum(1 for _ in store.kept) * 2
    assert store.count(PAUSES) == 1
    assert store.count(DELIVERIES) == 0
    assert store.count(DATASETS) == 2
    assert [p.exists() for p in store.files_pruned] == [False] * len(store.files_pruned)
    assert all(p.exists() for p in store.files_kept)
    again = cli("runs", "prune", "--older-than", "30d")
    assert again.stdout.strip().startswith("pruned 0 runs")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "-1d"], "--older-than: '-1d' is not a positive duration"),
        (["--older-than", "thirty days"], "is not a positive duration"),
        (
            ["--older-than", "30d", "--status", "RUNNING"],
            "--status: cannot prune runs with status RUNNING",
        ),
    ],
)
def test_prune_bad_input_is_a_usage_error(cli: Cli, args: list[str], message: str) -> None:
    assert cli("db", "upgrade").returncode == 0
    r = cli("runs", "prune", *args)
    assert r.returncode == 2, r.stdout
    assert message in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 30 * 86400),
        ("12h", 43200),
        ("90m", 5400),
        ("45s", 45),
        ("2w", 1209600),
        ("1.5d", 129600),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_age(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["-1d", "0d", "30", "d", "30 days", "1e3d", "30D", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a positive duration"):
        parse_age(text)


def test_an_age_beyond_any_date_is_refused() -> None:
    # its cutoff would be before year 1: a clear error, not an OverflowError (a 500)
    with pytest.raises(ValueError, match="is longer than 1000 years"):
        parse_age("99999999999999999999w")


def test_prune_statuses() -> None:
    assert check_statuses([]) == [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED]
    assert check_statuses(["failed"]) == [RunStatus.FAILED]
    for status in ("PAUSED", "RUNNING", "PENDING", "nope"):
        with pytest.raises(ValueError, match="never an active or paused run"):
            check_statuses([status])


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_api_answers_while_a_prune_works(tmp_path: Path, backend: str) -> None:
    settings, cleanup = make_settings(tmp_path, backend)
    filled = _fill(settings, old_completed=3000)
    try:
        with LiveServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60) as client:
            answers: list[int] = []
            pruning = threading.Event()

            def read() -> None:
                while pruning.is_set():
                    answers.append(client.get("/run/?page_size=10").status_code)

            cli = Cli(settings)
            cli.env["SPURLINE_PRUNE_BATCH_SIZE"] = "100"
            pruning.set()
            reader = threading.Thread(target=read)
            reader.start()
            try:
                started = time.monotonic()
                done = cli("runs", "prune", "--older-than", "30d", "--json")
                took = time.monotonic() - started
            finally:
                pruning.clear()
                reader.join()
            assert done.returncode == 0, done.stderr
            # 3,001 old COMPLETED runs in 31 batches of 100, 1 FAILED, 1 CANCELED, 1 of datasets
            assert '"batches": 34' in done.stdout
            assert answers and set(answers) == {200}
            assert len(answers) > took  # the API kept answering: over one request a second
            assert client.get("/run/").headers["X-Total-Count"] == str(len(filled.kept))
    finally:
        filled.db.close()
        cleanup()


def test_retention_prunes_in_the_background(tmp_path: Path) -> None:
    settings, cleanup = make_settings(tmp_path, "sqlite", retention_days=30)
    filled = _fill(settings)
    try:
        with LiveServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60) as client:
            deadline = time.monotonic() + 30
            while client.get("/run/").headers["X-Total-Count"] != str(len(filled.kept)):
                assert time.monotonic() < deadline, "retention did not prune"
                time.sleep(0.05)
            assert filled.run_ids() == filled.kept
    finally:
        filled.db.close()
        cleanup()
