"""One source of truth for response shapes (docs/architecture.md, "Response shapes"):
every stored run/task column is shown by its response shape or listed as hidden with
a reason, and the builders produce exactly the keys of their shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from spurline.api import schemas
from spurline.engine.records import PauseRecord, RunRecord, TaskRecord, VersionRecord
from spurline.engine.states import RunStatus, TaskStatus
from spurline.engine.views import (
    HIDDEN_RUN_FIELDS,
    HIDDEN_TASK_FIELDS,
    PauseHistoryResponseSchema,
    RunResponseSchema,
    TaskResponseSchema,
    WorkflowVersionListItem,
    pause_view,
    run_view,
    version_item,
)
from spurline.store import orm

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def unaccounted(
    columns: Iterable[str], shown: Iterable[str], hidden: Mapping[str, str]
) -> list[str]:
    """Stored columns neither shown nor hidden, then hidden names that are no column."""
    cols, shown_set = set(columns), set(shown)
    missing = sorted(c for c in cols if c not in shown_set and c not in hidden)
    stale = sorted(f"hidden but not stored: {h}" for h in hidden if h not in cols)
    return missing + stale


def test_every_stored_run_field_is_shown_or_hidden() -> None:
    columns = [c.name for c in orm.Run.__table__.columns]
    assert unaccounted(columns, RunResponseSchema.__annotations__, HIDDEN_RUN_FIELDS) == []


def test_every_stored_task_field_is_shown_or_hidden() -> None:
    columns = [c.name for c in orm.Task.__table__.columns]
    assert "attempts" in columns and "attempts" in TaskResponseSchema.__annotations__
    assert unaccounted(columns, TaskResponseSchema.__annotations__, HIDDEN_TASK_FIELDS) == []


def test_the_check_would_notice_a_field_never_shown() -> None:
    cols = ["id", "status", "attempts", "lease_owner"]
    assert unaccounted(cols, ["id", "status"], {"lease_owner": "why"}) == ["attempts"]
    assert unaccounted(cols, cols, {"gone": "why"}) == ["hidden but not stored: gone"]


def test_a_field_is_shown_or_hidden_not_both() -> None:
    assert not set(HIDDEN_RUN_FIELDS) & set(RunResponseSchema.__annotations__)
    assert not set(HIDDEN_TASK_FIELDS) & set(TaskResponseSchema.__annotations__)


def test_builders_give_exactly_the_shape() -> None:
    version = VersionRecord("V1", "W1", 2, "wf", None, {"nodes": []}, "h", T0, T0)
    run = RunRecord("R1", "W1", "V1", RunStatus.FAILED, T0, end_time=T0 + timedelta(seconds=3))
    tasks = [
        TaskRecord("T1", "R1", "a", "InputNode", 0, TaskStatus.COMPLETED, outputs={"x": 1}),
        TaskRecord("T2", "R1", "b", "PythonFuncNode", 1, TaskStatus.FAILED, error="E", attempts=3),
    ]
    view = run_view(run, tasks, version, T0)
    assert list(view) == list(RunResponseSchema.__annotations__)
    for task in view["tasks"]:
        assert list(task) == list(TaskResponseSchema.__annotations__)
    assert [t["attempts"] for t in view["tasks"]] == [0, 3]
    assert [t["error"] for t in view["tasks"]] == [None, "E"]
    assert view["duration"] == 3.0
    item = version_item(version)
    assert set(item) == set(WorkflowVersionListItem.__annotations__)
    pause = pause_view(PauseRecord("P1", "R1", "b", "why", T0, resume_action="APPROVE"))
    assert list(pause) == list(PauseHistoryResponseSchema.__annotations__)


def test_the_api_serves_the_same_classes() -> None:
    assert schemas.RunResponseSchema is RunResponseSchema
    assert schemas.TaskResponseSchema is TaskResponseSchema
