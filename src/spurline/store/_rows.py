"""Turning table rows into the engine's records."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, cast

import orjson
from sqlalchemy import Row

from spurline.engine.records import PauseRecord, RunRecord, TaskRecord, VersionRecord
from spurline.engine.states import RunStatus, TaskStatus
from spurline.store._raw import db_time_out
from spurline.store._run_sql import column_kinds
from spurline.store.orm import PAUSES, RUNS, TASKS, VERSIONS

RUN_COLS = list(RUNS.c)
TASK_COLS = list(TASKS.c)
VERSION_COLS = list(VERSIONS.c)
PAUSE_COLS = list(PAUSES.c)
_RUN_NAMES = [c.name for c in RUN_COLS]
_TASK_NAMES = [c.name for c in TASK_COLS]


def run_record(row: Row[Any]) -> RunRecord:
    """A ``runs`` row (all columns, table order) as a RunRecord."""
    data = dict(zip(_RUN_NAMES, row, strict=True))
    data["status"] = RunStatus(data["status"])
    return RunRecord(**data)


# Run pages read a task row per node (1,000 for a 1,000-node run), so a task row
# becomes a record positionally; this holds while the table's columns and the
# record's fields keep the same order, which is checked here at import.
_TASK_POSITIONAL = [f.name for f in fields(TaskRecord)] == _TASK_NAMES
_TASK_STATUS = _TASK_NAMES.index("status")


def task_record(row: Row[Any]) -> TaskRecord:
    """A ``tasks`` row (all columns, table order) as a TaskRecord."""
    if _TASK_POSITIONAL:
        task = TaskRecord(*cast("tuple[Any, ...]", row))
        task.status = TaskStatus(row[_TASK_STATUS])
        return task
    data = dict(zip(_TASK_NAMES, row, strict=True))
    data["status"] = TaskStatus(data["status"])
    return TaskRecord(**data)


#: the columns of ``tasks`` in table order, for statements run on the driver's cursor
TASK_COLUMNS = ", ".join(_TASK_NAMES)


# where the columns that read back converted are (see sqlite_task_record)
_TIMES_AT = tuple(i for i, (_, kind) in enumerate(column_kinds(TASKS)) if kind == "time")
_JSON_AT = tuple(i for i, (_, kind) in enumerate(column_kinds(TASKS)) if kind == "json")
_TASK_STATUSES = {s.value: s for s in TaskStatus}


def sqlite_task_record(row: tuple[Any, ...]) -> TaskRecord:
    """A ``tasks`` row as SQLite's driver returns it (:data:`TASK_COLUMNS`: times as
    naive UTC text, JSON as text) as a TaskRecord, converted as the column types
    would (:class:`~spurline.store.orm.UtcDateTime`, JSON); by position, ~1 us a row."""
    values = list(row)
    for i in _TIMES_AT:
        if values[i] is not None:
            values[i] = db_time_out(values[i], False)
    for i in _JSON_AT:
        if values[i] is not None:
            values[i] = orjson.loads(values[i])
    values[_TASK_STATUS] = _TASK_STATUSES[values[_TASK_STATUS]]
    if _TASK_POSITIONAL:
        return TaskRecord(*values)
    return TaskRecord(**dict(zip(_TASK_NAMES, values, strict=True)))


def version_record(row: Row[Any]) -> VersionRecord:
    """A ``workflow_versions`` row as a VersionRecord."""
    return VersionRecord(**row._asdict())


def pause_record(row: Row[Any]) -> PauseRecord:
    """A ``pause_records`` row as a PauseRecord."""
    return PauseRecord(**row._asdict())


def run_values(run: RunRecord) -> dict[str, Any]:
    """Column values to insert a run."""
    data = {name: getattr(run, name) for name in _RUN_NAMES}
    data["status"] = run.status.value
    return data


def task_values(task: TaskRecord) -> dict[str, Any]:
    """Column values to insert a task."""
    data = {name: getattr(task, name) for name in _TASK_NAMES}
    data["status"] = task.status.value
    return data
