"""How the CLI shows runs: Rich tables for people, JSON (RunResponseSchema, docs/runs-api.md#run)
for scripts.

Values from runs (outputs, errors, names) are escaped: Rich would read ``[true]`` in
an output as a style tag and drop it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

STATUS_STYLE = {
    "COMPLETED": "green",
    "FAILED": "red",
    "CANCELED": "yellow",
    "PAUSED": "magenta",
    "RUNNING": "cyan",
    "PENDING": "dim",
}


def print_json(console: Console, data: Any) -> None:
    """``data`` as indented JSON: highlighted on a terminal, plain when piped."""
    text = orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    if console.is_terminal:
        console.print_json(text)
    else:
        console.file.write(text + "\n")
        console.file.flush()


def _status(value: str) -> str:
    return f"[{STATUS_STYLE.get(value, 'default')}]{value}[/]"


def _time(value: datetime | None, spec: str = "seconds") -> str:
    return value.isoformat(timespec=spec) if value is not None else ""


def _workflow(view: dict[str, Any]) -> str:
    """The workflow's name and version, as markup-safe text."""
    version = view.get("workflow_version") or {}
    if version.get("name"):
        return escape(f"{version['name']} (v{version['version']})")
    return escape(str(view["workflow_id"]))


def runs_table(views: list[dict[str, Any]], page: int, total: int) -> Table:
    """A page of runs, one row each."""
    # expand + ratio: every other column keeps its full width, "workflow" gets the rest.
    table = Table(title=f"runs: page {page}, {total} in all", title_justify="left", expand=True)
    table.add_column("id", no_wrap=True)
    table.add_column("workflow", ratio=1, no_wrap=True, overflow="ellipsis")
    table.add_column("status", no_wrap=True)
    table.add_column("started UTC", no_wrap=True)
    table.add_column("s", justify="right", no_wrap=True)
    for v in views:
        status = _status(v["status"])
        if v["status"] != "COMPLETED":
            status += f" {v['percentage_complete']:g}%"
        table.add_row(
            v["id"],
            _workflow(v),
            status,
            v["start_time"].strftime("%m-%d %H:%M"),
            "" if v["duration"] is None else f"{v['duration']:.2f}",
        )
    return table


def run_header(view: dict[str, Any]) -> list[str]:
    """Lines describing one run above its task table."""
    lines = [
        f"[bold]{view['id']}[/bold]  {_status(view['status'])}  "
        f"{view['percentage_complete']:g}%  workflow {_workflow(view)} "
        f"[dim]{view['workflow_id']}[/]",
        f"started {_time(view['start_time'], 'milliseconds')}"
        + (f"  ended {_time(view['end_time'], 'milliseconds')}" if view["end_time"] else "")
        + (f"  ({view['duration']:.3f} s)" if view["duration"] is not None else ""),
    ]
    if view.get("parent_run_id"):
        lines.append(f"parent run {view['parent_run_id']}")
    if view["message"]:
        lines.append(f"message: {escape(view['message'])}")
    if view["initial_inputs"]:
        lines.append(f"inputs: {escape(orjson.dumps(view['initial_inputs']).decode())}")
    return lines


def _task_ms(task: dict[str, Any]) -> str:
    start, end = task["start_time"], task["end_time"]
    if start is None or end is None:
        return ""
    return f"{(end - start).total_seconds() * 1000:.0f}"


def tasks_table(view: dict[str, Any], width: int = 300) -> Table:
    """One row per task (top-level node, topological order): status, time, output or error."""
    table = Table(title="tasks", title_justify="left", expand=True)
    table.add_column("node", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("ms", justify="right", no_wrap=True)
    # One line per task, in the width the other columns leave; `--json` has full values.
    table.add_column("outputs / error", ratio=1, no_wrap=True, overflow="ellipsis")
    for t in view["tasks"]:
        if t["error"]:
            detail = f"[red]{escape(t['error'])}[/red]"
        elif t["outputs"] is not None:
            text = orjson.dumps(t["outputs"]).decode()
            detail = escape(text if len(text) <= width else text[: width - 1] + "…")
        else:
            detail = ""
        node = escape(t["node_id"])
        table.add_row(node, escape(t["node_type"]), _status(t["status"]), _task_ms(t), detail)
    return table


def attempts_table(view: dict[str, Any], attempts: dict[str, list[dict[str, Any]]]) -> Table:
    """One row per attempt of each task that was tried more than once or failed."""
    table = Table(title="attempts", title_justify="left", expand=True)
    for name in ("node", "#", "status", "started by", "queued ms", "ms"):
        table.add_column(name, no_wrap=True, justify="right" if "ms" in name else "left")
    table.add_column("error", ratio=1, no_wrap=True, overflow="ellipsis")
    for t in view["tasks"]:
        tries = attempts.get(t["id"], [])
        if len(tries) < 2 and not any(a["status"] == "FAILED" for a in tries):
            continue
        for a in tries:
            table.add_row(
                escape(t["node_id"]),
                str(a["number"]),
                _status(a["status"]),
                escape(a["started_by"] or ""),
                _ms(a["ready_time"], a["start_time"]),
                _ms(a["start_time"], a["end_time"]),
                f"[red]{escape(a['error'])}[/red]" if a["error"] else "",
            )
    return table


def _ms(start: str | None, end: str | None) -> str:
    if start is None or end is None:
        return ""
    gap = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return f"{gap.total_seconds() * 1000:.0f}"
