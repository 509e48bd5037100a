"""SQL text of the run writes (docs/architecture.md#store): inserts of runs and tasks,
a node step's task update, a run's transition. Each is written once per shape and run
on the driver's cursor (store/_raw.py), with values bound as their column types would
bind them; :mod:`spurline.store.runs` runs them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Table

from spurline.store._raw import db_json, db_time, placeholders
from spurline.store.orm import RUNS, UtcDateTime
from spurline.store.run_events import RunRow


@lru_cache(maxsize=8)
def column_kinds(table: Table) -> tuple[tuple[str, str], ...]:
    """(name, "time" | "json" | "") of each column of ``table``, in table order."""
    return tuple(
        (
            c.name,
            "time"
            if isinstance(c.type, UtcDateTime)
            else "json"
            if isinstance(c.type, JSON)
            else "",
        )
        for c in table.c
    )


@lru_cache(maxsize=8)
def insert_sql(table: Table, pg: bool) -> str:
    """``INSERT`` of one whole row of ``table`` (values in :func:`row_of` order)."""
    cols = column_kinds(table)
    names = ", ".join(name for name, _ in cols)
    marks = ", ".join("{json}" if kind == "json" else "{}" for _, kind in cols)
    return placeholders(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", pg)


def bound(kind: str, value: Any, pg: bool) -> Any:
    """``value`` as a column of ``kind`` (see :func:`column_kinds`) binds it."""
    if kind == "time":
        return db_time(value, pg)
    if kind == "json":
        return db_json(value)
    return value


def row_of(table: Table, values: dict[str, Any], pg: bool) -> list[Any]:
    """``values`` of every column of ``table`` as their column types bind them."""
    return [bound(kind, values[name], pg) for name, kind in column_kinds(table)]


SAVED_FIELDS = (
    "status",
    "start_time",
    "end_time",
    "inputs",
    "outputs",
    "error",
    "attempts",
    "traceback",
    "ready_time",
)


@lru_cache(maxsize=16)
def save_tasks_sql(n_expect: int, pg: bool) -> str:
    """``UPDATE`` of one task's :data:`SAVED_FIELDS` where its status is one of
    ``n_expect`` values."""
    # Written once per shape and run with one row of values per task (executemany) on
    # the driver's cursor: this runs at every node step (see store/_raw.py).
    json = ("inputs", "outputs")
    sets = ", ".join(f"{n} = {{json}}" if n in json else f"{n} = {{}}" for n in SAVED_FIELDS)
    expect = ", ".join("{}" for _ in range(n_expect))
    return placeholders(f"UPDATE tasks SET {sets} WHERE id = {{}} AND status IN ({expect})", pg)


RUN_KINDS = dict(column_kinds(RUNS))


@lru_cache(maxsize=64)
def transition_sql(n_expect: int, changed: tuple[str, ...], pg: bool) -> str:
    """``UPDATE`` of a run's status and ``changed`` columns where its status is one of
    ``n_expect`` values, returning the run's row."""
    # Written once per shape and run on the driver's cursor (see store/_raw.py): every
    # run starts and ends with one.
    sets = ", ".join(
        f"{name} = {{json}}" if RUN_KINDS[name] == "json" else f"{name} = {{}}"
        for name in ("status", *changed)
    )
    expect = ", ".join("{}" for _ in range(n_expect))
    returned = ", ".join(RunRow._fields)
    return placeholders(
        f"UPDATE runs SET {sets} WHERE id = {{}} AND status IN ({expect}) RETURNING {returned}",
        pg,
    )
