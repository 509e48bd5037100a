"""A typed HTTP client of the Spurline API, blocking or asyncio (see docs/client.md).

::

    from spurline.client import Client

    with Client("http://127.0.0.1:6080", token=None) as spurline:
        run = spurline.start_run(workflow_id, {"in": {"text": "hi"}})
        run = spurline.wait_run(run["id"])
        print(run["status"], run["outputs"])

:class:`AsyncClient` has the same operations as coroutines. Results are typed dicts
shaped as the API's responses (``Run``, ``Workflow`` ...); lists come as a
:class:`Page`. Errors: :class:`ApiError` and its kinds.
"""

from spurline.client._client import AsyncClient, Client
from spurline.client._errors import (
    ApiError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RunNotCompleted,
    ServerError,
    ServerUnavailable,
    TooLarge,
    Unauthorized,
)
from spurline.client._types import (
    Attempt,
    Dataset,
    Event,
    LogLine,
    OutputFile,
    Page,
    PausedRun,
    PauseRecord,
    PruneReport,
    Run,
    Task,
    VersionListItem,
    Workflow,
    WorkflowVersion,
)

__all__ = [
    "ApiError",
    "AsyncClient",
    "Attempt",
    "Client",
    "Conflict",
    "Dataset",
    "Event",
    "Forbidden",
    "Invalid",
    "LogLine",
    "NotFound",
    "OutputFile",
    "Page",
    "PauseRecord",
    "PausedRun",
    "PruneReport",
    "Run",
    "RunNotCompleted",
    "ServerError",
    "ServerUnavailable",
    "Task",
    "TooLarge",
    "Unauthorized",
    "VersionListItem",
    "Workflow",
    "WorkflowVersion",
]
