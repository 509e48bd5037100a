"""The client's one implementation, free of I/O (see docs/client.md).

Every operation is a generator: it yields the steps it needs (a :class:`Call` to
send, a :class:`Sleep` to wait) and receives each call's ``httpx.Response``; its
return value is the operation's result. :class:`spurline.client.Client` drives the
generators with blocking I/O and :class:`spurline.client.AsyncClient` with asyncio,
so paths, parameters, error mapping and polling exist once.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from urllib.parse import quote

import httpx
import orjson

from spurline.client import _errors as e
from spurline.client._types import (
    Attempt,
    Dataset,
    Event,
    LogLine,
    NodeValues,
    OutputFile,
    Page,
    PausedRun,
    PauseRecord,
    PruneReport,
    Run,
    Task,
    VersionListItem,
    Workflow,
)

T = TypeVar("T")
#: An object of the API not typed here (schedules, webhooks, tokens, secrets).
JsonObject = dict[str, Any]

#: Run statuses after which a run does not change by itself.
FINISHED = frozenset({"COMPLETED", "FAILED", "CANCELED"})
#: First and longest pause between two polls of a run, in seconds.
POLL_FIRST_S = 0.02
POLL_MAX_S = 0.5
#: Log lines read per request when reading them all (the server's largest page).
LOG_PAGE = 1000


@dataclass(frozen=True)
class Call:
    """One HTTP request to make.

    Attributes:
        method: ``GET``, ``POST``, ``PUT`` or ``DELETE``.
        path: the path under the server's URL, ids already escaped.
        what: the kind of resource the path names (``run``, ``workflow`` ...), and
        ident: its id; they name a 404 (``no run R…``).
    """

    method: str
    path: str
    what: str = ""
    ident: str = ""
    params: Mapping[str, Any] | None = None
    json: Any = None
    files: Mapping[str, tuple[str, bytes]] | None = None
    data: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sleep:
    """Wait this many seconds before the next step."""

    seconds: float


Step = Call | Sleep
Flow = Generator[Step, Any, T]


def _seg(value: str) -> str:
    """An id as one path segment (``/`` and the like escaped)."""
    return quote(value, safe="")


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text
    return body.get("detail", body) if isinstance(body, dict) else body


def _message(detail: Any, fallback: str) -> str:
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        return "; ".join(str(p.get("msg", p)) for p in detail)
    return fallback


def check(call: Call, response: httpx.Response) -> httpx.Response:
    """``response`` when it is a success (2xx), else the matching error.

    Raises:
        NotFound, Conflict, Invalid, Unauthorized, Forbidden, ServerUnavailable,
        ServerError, ApiError: see ``spurline.client._errors``.
    """
    code = response.status_code
    if code < 300:
        return response
    detail = _detail(response)
    message = _message(detail, f"{call.method} {call.path} answered {code}")
    if code == 404 and call.what:
        raise e.NotFound(call.what, call.ident, detail)
    kinds: dict[int, type[e.ApiError]] = {
        401: e.Unauthorized,
        403: e.Forbidden,
        404: e.ApiError,
        409: e.Conflict,
        413: e.TooLarge,
        422: e.Invalid,
        502: e.ServerUnavailable,
        503: e.ServerUnavailable,
        504: e.ServerUnavailable,
    }
    kind = kinds.get(code, e.ServerError if code >= 500 else e.ApiError)
    raise kind(message, code, detail)


def request(call: Call) -> Flow[httpx.Response]:
    """Send ``call``; its successful response (see :func:`check`)."""
    response = yield call
    return check(call, response)


def _json(call: Call) -> Flow[Any]:
    response = yield from request(call)
    return response.json()


def _none(call: Call) -> Flow[None]:
    yield from request(call)


def _page(call: Call) -> Flow[Page[Any]]:
    response = yield from request(call)
    items = response.json()
    total = int(response.headers.get("x-total-count", len(items)))
    params = call.params or {}
    return Page(items, total, params.get("page"), params.get("page_size"))


def _drop_none(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None and v != []}


# -- runs -------------------------------------------------------------------------------


def list_runs(
    page: int = 1,
    page_size: int = 10,
    status: Sequence[str] = (),
    workflow_id: str | None = None,
    run_type: str | None = None,
    parent_only: bool = False,
    *,
    start_date: str | None = None,
    end_date: str | None = None,
    tags: Sequence[str] = (),
    metadata: Mapping[str, str] | None = None,
    schedule_id: str | None = None,
) -> Flow[Page[Run]]:
    """Runs, newest first (``GET /run/``); ``status`` keeps runs in any of those statuses,
    ``parent_only`` leaves out child runs; ``start_date``/``end_date`` (RFC 3339 with an
    offset) bound the start time; ``tags`` and ``metadata`` must all match; ``schedule_id``
    keeps the runs of one schedule (docs/operations.md, Finding runs)."""
    params = _drop_none(
        {
            "page": page,
            "page_size": page_size,
            "status": list(status),
            "workflow_id": workflow_id,
            "run_type": run_type,
            "parent_only": "true" if parent_only else None,
            "start_date": start_date,
            "end_date": end_date,
            "tag": list(tags),
            "metadata": [f"{k}={v}" for k, v in (metadata or {}).items()],
            "schedule_id": schedule_id,
        }
    )
    return _page(Call("GET", "/run/", params=params))


def get_run(run_id: str) -> Flow[Run]:
    """One run with its tasks (``GET /run/{id}/``). Raises NotFound."""
    return _json(Call("GET", f"/run/{_seg(run_id)}/", "run", run_id))


def run_tasks(run_id: str) -> Flow[list[Task]]:
    """A run's tasks, in topological order (``GET /run/{id}/tasks/``). Raises NotFound."""
    return _json(Call("GET", f"/run/{_seg(run_id)}/tasks/", "run", run_id))


def run_children(
    run_id: str, page: int | None = None, page_size: int | None = None
) -> Flow[Page[Run]]:
    """A run's direct child runs, oldest first (batch: row order); all of them unless
    ``page``/``page_size`` are given. Raises NotFound."""
    params = _drop_none({"page": page, "page_size": page_size})
    return _page(Call("GET", f"/run/{_seg(run_id)}/children/", "run", run_id, params))


def run_logs(
    run_id: str,
    node: str | None = None,
    attempt: int | None = None,
    page: int = 1,
    page_size: int = 100,
) -> Flow[Page[LogLine]]:
    """A page of a run's captured log lines, oldest first (``GET /run/{id}/logs/``);
    ``node`` and ``attempt`` keep only that node's / that try's lines
    (docs/observability.md). Raises NotFound for an unknown run."""
    params = _drop_none({"node": node, "attempt": attempt, "page": page, "page_size": page_size})
    return _page(Call("GET", f"/run/{_seg(run_id)}/logs/", "run", run_id, params))


def run_logs_all(
    run_id: str, node: str | None = None, attempt: int | None = None
) -> Flow[list[LogLine]]:
    """Every captured log line of a run, oldest first, read page by page (1,000 a page)."""
    lines: list[LogLine] = []
    page = 1
    while True:
        found = yield from run_logs(run_id, node, attempt, page, LOG_PAGE)
        lines.extend(found.items)
        if len(found.items) < LOG_PAGE or len(lines) >= found.total:
            return lines
        page += 1


def task_attempts(run_id: str, task_id: str) -> Flow[list[Attempt]]:
    """Every try of a task, oldest first, with error and traceback
    (``GET /run/{id}/tasks/{task_id}/attempts/``, docs/observability.md).
    Raises NotFound for an unknown run or task."""
    path = f"/run/{_seg(run_id)}/tasks/{_seg(task_id)}/attempts/"
    return _json(Call("GET", path, "run or task", f"{run_id}/{task_id}"))


def events_call(run_id: str, last_event_id: int | None = None) -> Call:
    """The request opening a run's event stream (``GET /run/{id}/events/``), after
    ``last_event_id`` when resuming (sent as the ``Last-Event-ID`` header)."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    return Call("GET", f"/run/{_seg(run_id)}/events/", "run", run_id, headers=headers)


class EventDecoder:
    """Server-Sent Events parsing, free of I/O: feed it the stream's lines (without
    their line ends), take the events each line completes (docs/observability.md).

    Keep-alive comments (``:`` lines) and fields other than ``id``, ``event`` and
    ``data`` are skipped; ``data`` is one JSON object per event.
    """

    def __init__(self) -> None:
        self._id: int | None = None
        self._event = "message"
        self._data: list[str] = []

    def feed(self, line: str) -> Event | None:
        """The event ``line`` ends (an empty line ends one), else None."""
        if not line:
            if not self._data:
                self._id, self._event = None, "message"
                return None
            data = orjson.loads("\n".join(self._data))
            event = Event(self._id, self._event, data if isinstance(data, dict) else {})
            self._id, self._event, self._data = None, "message", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id" and value.isdigit():
            self._id = int(value)
        elif name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None


class EventStream:
    """The state of following a run's events across reconnects, free of I/O.

    A client opens :meth:`call`, checks the answer with :func:`check`, feeds each
    line to :meth:`feed` and yields the events it returns; when the connection drops
    before :attr:`ended`, it opens :meth:`call` again, which resumes after the last
    event seen (``Last-Event-ID``): none missed, none twice. ``end`` (the run has
    ended) closes the stream.
    """

    def __init__(self, run_id: str, last_event_id: int | None = None) -> None:
        self.run_id = run_id
        self.last_event_id = last_event_id
        self.ended = False
        self._decoder = EventDecoder()

    def call(self) -> Call:
        """The request to (re)open the stream; the line parser starts afresh."""
        self._decoder = EventDecoder()
        return events_call(self.run_id, self.last_event_id)

    def feed(self, line: str) -> Event | None:
        """The event ``line`` completes, if any; remembers its id for resuming."""
        event = self._decoder.feed(line)
        if event is None:
            return None
        if event.id is not None:
            self.last_event_id = event.id
        if event.event == "end":
            self.ended = True
        return event


def delete_run(run_id: str) -> Flow[None]:
    """Delete a finished run with its tasks, children and output file.

    Raises:
        NotFound: no such run.
        Conflict: the run is still active.
    """
    return _none(Call("DELETE", f"/run/{_seg(run_id)}/", "run", run_id))


def cancel_run(run_id: str, user_id: str | None = None) -> Flow[Run]:
    """Cancel a PENDING, RUNNING or PAUSED run and its child runs; the run as it is now.
    Its ``message`` names ``user_id`` when given ("Canceled by <user_id>").

    Raises:
        NotFound: no such run.
        Conflict: the run has already ended.
    """
    body = {"user_id": user_id} if user_id else None
    return _json(Call("POST", f"/wf/cancel_workflow/{_seg(run_id)}/", "run", run_id, json=body))


def retry_run(run_id: str) -> Flow[Run]:
    """Re-execute the FAILED and CANCELED tasks of a FAILED run. Raises NotFound, Conflict."""
    return _json(Call("POST", f"/run/{_seg(run_id)}/retry/", "run", run_id))


def pause_action(
    run_id: str,
    action: str,
    user_id: str,
    inputs: Mapping[str, Any] | None = None,
    comments: str | None = None,
    node_id: str | None = None,
) -> Flow[Run]:
    """``APPROVE``, ``OVERRIDE`` or ``DECLINE`` a paused run (``POST
    /wf/process_pause_action/{id}/``); ``node_id`` when several nodes are paused.

    Raises:
        NotFound: no such run.
        Conflict: the run is not paused (or another action won).
        Invalid: a bad action or inputs.
    """
    body = {
        "action": action,
        "user_id": user_id,
        "inputs": dict(inputs or {}),
        "comments": comments,
        "node_id": node_id,
    }
    path = f"/wf/process_pause_action/{_seg(run_id)}/"
    return _json(Call("POST", path, "run", run_id, json=body))


def pause_history(run_id: str) -> Flow[list[PauseRecord]]:
    """Every pause of a run, newest first. Raises NotFound."""
    return _json(Call("GET", f"/wf/pause_history/{_seg(run_id)}/", "run", run_id))


def paused_runs(page: int = 1, page_size: int = 10) -> Flow[Page[PausedRun]]:
    """PAUSED runs, most recently paused first, with their open pause and workflow."""
    params = {"page": page, "page_size": page_size}
    return _page(Call("GET", "/wf/paused_workflows/", params=params))


def _start_options(
    tags: Sequence[str], metadata: Mapping[str, str] | None, idempotency_key: str | None
) -> dict[str, Any]:
    return _drop_none(
        {
            "tags": list(tags),
            "metadata": dict(metadata) if metadata else None,
            "idempotency_key": idempotency_key,
        }
    )


def start_run(
    workflow_id: str,
    initial_inputs: NodeValues | None = None,
    parent_run_id: str | None = None,
    *,
    tags: Sequence[str] = (),
    metadata: Mapping[str, str] | None = None,
    idempotency_key: str | None = None,
) -> Flow[Run]:
    """Start a run of the workflow's current version; answers at once with the run.
    ``tags`` and ``metadata`` are kept on the run; the same ``idempotency_key`` within
    24 h answers with the first run instead of starting another (docs/operations.md).

    Raises:
        NotFound: no such workflow.
        Invalid: the inputs do not fit the InputNode (no run is created).
    """
    body = {
        "initial_inputs": initial_inputs,
        "parent_run_id": parent_run_id,
        **_start_options(tags, metadata, idempotency_key),
    }
    path = f"/wf/{_seg(workflow_id)}/start_run/"
    return _json(Call("POST", path, "workflow", workflow_id, json=body))


def rerun_run(
    run_id: str,
    initial_inputs: NodeValues | None = None,
    *,
    latest_version: bool = False,
    from_node: str | None = None,
    tags: Sequence[str] = (),
    metadata: Mapping[str, str] | None = None,
    idempotency_key: str | None = None,
) -> Flow[Run]:
    """Start a new run like a finished one (``POST /run/{id}/rerun/``): the same inputs
    unless ``initial_inputs``, the run's version unless ``latest_version``, from
    ``from_node`` on reusing the other nodes' outputs. The new run names the original in
    ``rerun_of`` (docs/operations.md, Reruns).

    Raises:
        NotFound: no such run.
        Conflict: the run has not finished.
        Invalid: bad inputs or ``from_node``.
    """
    body = {
        "initial_inputs": initial_inputs,
        "latest_version": latest_version,
        "from_node": from_node,
        **_start_options(tags, metadata, idempotency_key),
    }
    return _json(Call("POST", f"/run/{_seg(run_id)}/rerun/", "run", run_id, json=body))


def prune_runs(
    older_than: str, statuses: Sequence[str] = (), dry_run: bool = False
) -> Flow[PruneReport]:
    """Delete runs that ended more than ``older_than`` ago (``30d``, ``12h`` …) with their
    child runs, tasks, logs and output files, then unused datasets (``POST /run/prune/``,
    admin); with ``dry_run`` only count them (docs/operations.md, Retention).

    Raises:
        Invalid: a bad duration or a status that is not COMPLETED, FAILED or CANCELED.
    """
    body = {"older_than": older_than, "statuses": list(statuses), "dry_run": dry_run}
    return _json(Call("POST", "/run/prune/", json=body))


def run_workflow(workflow_id: str, initial_inputs: NodeValues | None = None) -> Flow[NodeValues]:
    """Run and wait on the server (``POST /wf/{id}/run/``): ``{node_id: output}``.

    Raises:
        RunNotCompleted: the run FAILED (422), was CANCELED (409) or paused (202); ``.run``.
        NotFound, Invalid: as :func:`start_run`.
    """
    path = f"/wf/{_seg(workflow_id)}/run/"
    body = {"initial_inputs": initial_inputs}
    call = Call("POST", path, "workflow", workflow_id, json=body)
    response = yield call
    detail = _detail(response) if response.status_code in (409, 422) else None
    if isinstance(detail, dict) and isinstance(detail.get("run"), dict):
        raise e.RunNotCompleted(str(detail.get("message")), response.status_code, detail["run"])
    if response.status_code == 202:
        run = response.json()
        raise e.RunNotCompleted(f"run {run['id']} is {run['status']}", 202, run)
    return cast(NodeValues, check(call, response).json())


def wait_run(run_id: str, timeout: float | None = None, stop_at_pause: bool = True) -> Flow[Run]:
    """Poll a run until it ends (COMPLETED, FAILED, CANCELED), or pauses when
    ``stop_at_pause``; the run as it is then. ``timeout`` in seconds (None: no limit).

    Raises:
        NotFound: no such run.
        TimeoutError: the run was still going after ``timeout`` seconds.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = POLL_FIRST_S
    while True:
        run: Run = yield from get_run(run_id)
        if run["status"] in FINISHED or (stop_at_pause and run["status"] == "PAUSED"):
            return run
        if deadline is not None and time.monotonic() + pause > deadline:
            raise TimeoutError(f"run {run_id} is still {run['status']} after {timeout} s")
        yield Sleep(pause)
        pause = min(pause * 1.5, POLL_MAX_S)


def start_batch_run(
    workflow_id: str,
    dataset_id: str,
    mini_batch_size: int = 10,
    *,
    tags: Sequence[str] = (),
    metadata: Mapping[str, str] | None = None,
    idempotency_key: str | None = None,
) -> Flow[Run]:
    """Run the workflow once per row of a dataset; the batch's parent run. ``tags``,
    ``metadata`` and ``idempotency_key`` as for :func:`start_run`.

    Raises:
        NotFound: no such workflow or dataset.
        Invalid: a column the InputNode needs is missing.
    """
    body = {
        "dataset_id": dataset_id,
        "mini_batch_size": mini_batch_size,
        **_start_options(tags, metadata, idempotency_key),
    }
    path = f"/wf/{_seg(workflow_id)}/start_batch_run/"
    return _json(Call("POST", path, "workflow", workflow_id, json=body))


# -- workflows --------------------------------------------------------------------------


def list_workflows(page: int = 1, page_size: int = 10) -> Flow[Page[Workflow]]:
    """Workflows, newest first."""
    return _page(Call("GET", "/wf/", params={"page": page, "page_size": page_size}))


def get_workflow(workflow_id: str) -> Flow[Workflow]:
    """One workflow with its current definition. Raises NotFound."""
    return _json(Call("GET", f"/wf/{_seg(workflow_id)}/", "workflow", workflow_id))


def create_workflow(
    name: str, definition: Mapping[str, Any], description: str | None = None
) -> Flow[Workflow]:
    """Create a workflow; its definition becomes version 1. Raises Invalid (every problem)."""
    body = {"name": name, "description": description, "definition": dict(definition)}
    return _json(Call("POST", "/wf/", json=body))


def replace_workflow(
    workflow_id: str, name: str, definition: Mapping[str, Any], description: str | None = None
) -> Flow[Workflow]:
    """Replace a workflow; a changed definition becomes a new version. Raises NotFound, Invalid."""
    body = {"name": name, "description": description, "definition": dict(definition)}
    path = f"/wf/{_seg(workflow_id)}/"
    return _json(Call("PUT", path, "workflow", workflow_id, json=body))


def workflow_versions(workflow_id: str) -> Flow[list[VersionListItem]]:
    """Every version of a workflow, newest first. Raises NotFound."""
    return _json(Call("GET", f"/wf/{_seg(workflow_id)}/versions/", "workflow", workflow_id))


def delete_workflow(workflow_id: str) -> Flow[None]:
    """Delete a workflow with its versions and runs. Raises NotFound, Conflict (active runs)."""
    return _none(Call("DELETE", f"/wf/{_seg(workflow_id)}/", "workflow", workflow_id))


# -- datasets and output files ----------------------------------------------------------


def upload_dataset(
    content: bytes, filename: str, name: str | None = None, description: str | None = None
) -> Flow[Dataset]:
    """Upload a CSV (with a header), JSON lines or a JSON array of objects.

    ``filename``'s extension tells the format; ``name`` defaults to its stem.

    Raises:
        Invalid: the content is not a dataset (the problem names the row).
        TooLarge: the file is over the server's request limit (the message names both
            sizes when the server cut the connection).
    """
    data = _drop_none({"name": name, "description": description})
    call = Call("POST", "/ds/", files={"file": (filename, content)}, data=data)
    try:
        response = yield call
    except e.ServerUnavailable as exc:
        # A server refuses a body over its limit as soon as it reads the headers and
        # closes the connection while the file is still being sent: the client sees a
        # broken connection, not the 413. The server's advertised limit tells them apart.
        health = yield Call("GET", "/health")
        limit = health.json().get("max_body_bytes") if health.status_code == 200 else None
        if isinstance(limit, int) and len(content) + _MULTIPART_SLACK > limit:
            raise _too_large(filename, len(content), limit) from None
        raise exc from None
    if response.status_code == 413:
        # the same sentence whether the 413 arrived or the connection was cut first
        health = yield Call("GET", "/health")
        limit = health.json().get("max_body_bytes") if health.status_code == 200 else None
        if isinstance(limit, int):
            raise _too_large(filename, len(content), limit)
        detail = _detail(response)
        raise e.TooLarge(f"{filename} is too large for the server: {detail}", 413, detail)
    return cast(Dataset, check(call, response).json())


#: Bytes a multipart upload adds around the file (boundaries, part headers, name).
_MULTIPART_SLACK = 1024


def _too_large(filename: str, size: int, limit: int) -> e.TooLarge:
    message = (
        f"{filename} is {size:,} bytes, over the server's limit of {limit:,} bytes for a "
        "request (SPURLINE_MAX_BODY_BYTES on the server)"
    )
    return e.TooLarge(message, 413, message)


def list_datasets(page: int = 1, page_size: int = 10) -> Flow[Page[Dataset]]:
    """Datasets, newest first."""
    return _page(Call("GET", "/ds/", params={"page": page, "page_size": page_size}))


def get_dataset(dataset_id: str) -> Flow[Dataset]:
    """One dataset. Raises NotFound."""
    return _json(Call("GET", f"/ds/{_seg(dataset_id)}/", "dataset", dataset_id))


def delete_dataset(dataset_id: str) -> Flow[None]:
    """Delete a dataset and its file. Raises NotFound, Conflict (a batch reads it)."""
    return _none(Call("DELETE", f"/ds/{_seg(dataset_id)}/", "dataset", dataset_id))


def get_output_file(file_id: str) -> Flow[OutputFile]:
    """An output file's metadata. Raises NotFound."""
    return _json(Call("GET", f"/of/{_seg(file_id)}/", "output file", file_id))


def download_output_file(file_id: str) -> Flow[bytes]:
    """An output file's bytes (a batch's JSON lines). Raises NotFound (also until written)."""
    call = Call("GET", f"/of/{_seg(file_id)}/download/", "output file", file_id)
    response = yield from request(call)
    return response.content


# -- operations: schedules, webhooks (docs/operations.md) ------------------------------


def list_schedules(
    page: int = 1, page_size: int = 10, workflow_id: str | None = None
) -> Flow[Page[JsonObject]]:
    """Schedules, newest first, optionally of one workflow (``GET /wf/schedules/``)."""
    params = _drop_none({"page": page, "page_size": page_size, "workflow_id": workflow_id})
    call = Call("GET", "/wf/schedules/", params=params)
    response = yield from request(call)
    body = response.json()
    return Page(body["schedules"], body["total"], body["page"], body["page_size"])


def get_schedule(schedule_id: str) -> Flow[JsonObject]:
    """One schedule with its next and last fire. Raises NotFound."""
    return _json(Call("GET", f"/wf/schedules/{_seg(schedule_id)}/", "schedule", schedule_id))


def create_schedule(fields: Mapping[str, Any]) -> Flow[JsonObject]:
    """Create a schedule (``POST /wf/schedules/``); ``fields`` as the request body:
    ``workflow_id``, ``name``, ``cron_expression`` or ``interval_seconds`` …

    Raises:
        NotFound: no such workflow. Invalid: a bad cron expression, time zone or inputs.
    """
    workflow_id = str(fields.get("workflow_id", ""))
    return _json(Call("POST", "/wf/schedules/", "workflow", workflow_id, json=dict(fields)))


def toggle_schedule(schedule_id: str) -> Flow[JsonObject]:
    """Enable a disabled schedule, or disable an enabled one. Raises NotFound."""
    path = f"/wf/schedules/{_seg(schedule_id)}/toggle/"
    return _json(Call("POST", path, "schedule", schedule_id))


def delete_schedule(schedule_id: str) -> Flow[None]:
    """Delete a schedule (its runs stay). Raises NotFound."""
    path = f"/wf/schedules/{_seg(schedule_id)}/"
    return _none(Call("DELETE", path, "schedule", schedule_id))


def list_webhooks() -> Flow[list[JsonObject]]:
    """Every notification webhook, oldest first (admin); secrets are never shown."""
    return _json(Call("GET", "/notifications/webhooks/"))


def create_webhook(
    url: str,
    secret: str,
    events: Sequence[str] | None = None,
    workflow_id: str | None = None,
    description: str | None = None,
) -> Flow[JsonObject]:
    """Subscribe ``url`` to run events (all four unless ``events``), of one workflow or
    of all; ``secret`` signs the deliveries. Raises Invalid, NotFound (workflow)."""
    body = _drop_none(
        {
            "url": url,
            "secret": secret,
            "events": list(events) if events else None,
            "workflow_id": workflow_id,
            "description": description,
        }
    )
    what = "workflow" if workflow_id else ""
    return _json(Call("POST", "/notifications/webhooks/", what, workflow_id or "", json=body))


def delete_webhook(webhook_id: str) -> Flow[None]:
    """Delete a webhook and its delivery log. Raises NotFound."""
    path = f"/notifications/webhooks/{_seg(webhook_id)}/"
    return _none(Call("DELETE", path, "webhook", webhook_id))


def webhook_deliveries(
    webhook_id: str, page: int = 1, page_size: int = 20
) -> Flow[Page[JsonObject]]:
    """A webhook's delivery log, newest first. Raises NotFound."""
    path = f"/notifications/webhooks/{_seg(webhook_id)}/deliveries/"
    params = {"page": page, "page_size": page_size}
    return _page(Call("GET", path, "webhook", webhook_id, params))


# -- tokens and secrets (admin, docs/security.md) --------------------------------------


def list_tokens() -> Flow[list[JsonObject]]:
    """Every token: name, role, first characters, dates (never the token)."""
    return _json(Call("GET", "/tokens/"))


def create_token(name: str, role: str) -> Flow[JsonObject]:
    """A new token (``token`` is shown this once). Raises Conflict (name taken), Invalid."""
    return _json(Call("POST", "/tokens/", json={"name": name, "role": role}))


def revoke_token(name: str) -> Flow[None]:
    """Revoke a token by name. Raises NotFound, Conflict."""
    return _none(Call("DELETE", f"/tokens/{_seg(name)}/", "token", name))


def list_secrets() -> Flow[list[JsonObject]]:
    """Every secret's name and dates, never a value."""
    return _json(Call("GET", "/secrets/"))


def set_secret(name: str, value: str) -> Flow[None]:
    """Store a secret, encrypted on the server. Raises Invalid, ServerUnavailable (503:
    the server has no ``SPURLINE_SECRET_KEY``)."""
    return _none(Call("PUT", f"/secrets/{_seg(name)}/", json={"value": value}))


def delete_secret(name: str) -> Flow[None]:
    """Delete a secret. Raises NotFound."""
    return _none(Call("DELETE", f"/secrets/{_seg(name)}/", "secret", name))
