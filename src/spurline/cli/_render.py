"""How the CLI shows runs, workflows and datasets: Rich tables for people, the API's
JSON for scripts (docs/runs-api.md#run, docs/client.md).

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


def deleted(console: Console, what: str, ident: str, as_json: bool) -> None:
    """Report a deletion: ``{"id", "deleted": true}`` with ``--json``, else a line."""
    if as_json:
        print_json(console, {"id": ident, "deleted": True})
    else:
        console.print(f"deleted {what} {escape(ident)}", highlight=False)


def _status(value: str) -> str:
    return f"[{STATUS_STYLE.get(value, 'default')}]{value}[/]"


def _dt(value: str | None) -> datetime | None:
    """An API time (ISO 8601 text) as a datetime."""
    return datetime.fromisoformat(value) if value else None


def _time(value: str | None, spec: str = "seconds") -> str:
    when = _dt(value)
    return when.isoformat(timespec=spec) if when is not None else ""


def short_time(value: str | None) -> str:
    """``MM-DD HH:MM`` of an API time (UTC), empty for None."""
    when = _dt(value)
    return when.strftime("%m-%d %H:%M") if when is not None else ""


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
            short_time(v["start_time"]),
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
    lines.extend(_origin(view))
    if view["message"]:
        lines.append(f"message: {escape(view['message'])}")
    if view["initial_inputs"]:
        lines.append(f"inputs: {escape(orjson.dumps(view['initial_inputs']).decode())}")
    return lines


def _origin(view: dict[str, Any]) -> list[str]:
    """Who started the run and how, its lineage, tags and metadata (docs/operations.md)."""
    lines = []
    started = f"type {escape(view['run_type'])}"
    if view.get("started_by"):
        started += f"  started by {escape(view['started_by'])}"
    if view.get("schedule_id"):
        started += f"  schedule {view['schedule_id']}"
        if view.get("scheduled_for"):
            started += f" (fire of {_time(view['scheduled_for'])})"
    lines.append(started)
    if view.get("rerun_of"):
        lines.append(f"rerun of {view['rerun_of']}")
    if view.get("reruns"):
        lines.append(f"reruns: {', '.join(view['reruns'])}")
    if view.get("retried_by") or view.get("canceled_by"):
        who = [
            f"{k} by {escape(view[f'{k}_by'])}"
            for k in ("retried", "canceled")
            if view.get(f"{k}_by")
        ]
        lines.append("  ".join(who))
    if view.get("tags"):
        lines.append(f"tags: {escape(', '.join(view['tags']))}")
    if view.get("metadata"):
        pairs = ", ".join(f"{k}={v}" for k, v in sorted(view["metadata"].items()))
        lines.append(f"metadata: {escape(pairs)}")
    return lines


def _task_ms(task: dict[str, Any]) -> str:
    start, end = _dt(task["start_time"]), _dt(task["end_time"])
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


def result_of(view: dict[str, Any]) -> Any:
    """What ``spurline run`` prints of a COMPLETED run: its OutputNode's output, or
    every node's output when the version has no OutputNode with one."""
    outputs = view["outputs"] or {}
    definition = (view.get("workflow_version") or {}).get("definition") or {}
    for node in definition.get("nodes", []):
        if node.get("node_type") == "OutputNode" and node.get("id") in outputs:
            return outputs[node["id"]]
    return outputs


def table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    """A plain table; cells are escaped here."""
    tab = Table(title=title, title_justify="left")
    for col in columns:
        # ids stay whole (they are copied into the next command); the rest may fold.
        tab.add_column(col, overflow="fold", no_wrap=col == "id")
    for row in rows:
        tab.add_row(*(escape(cell) for cell in row))
    return tab


def page_title(what: str, page: int | None, total: int) -> str:
    """``runs: page 1, 6 in all``."""
    return f"{what}: page {page or 1}, {total} in all"


def children_table(run_id: str, views: list[dict[str, Any]]) -> Table:
    """A run's children, one row each: position, id, status, seconds, result or message."""
    table = Table(title=f"children of {run_id} ({len(views)})", title_justify="left")
    for col in ("#", "id", "status", "s", "outputs / message"):
        # ids are copied into the next command: whole, never folded
        table.add_column(col, overflow="fold", no_wrap=col == "id")
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
