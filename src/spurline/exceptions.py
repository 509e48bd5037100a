"""Every error Spurline raises, in one tree.

::

    SpurlineError
    ├── DefinitionError            rejected before a run exists (HTTP 422)
    │   ├── DefinitionInvalid      a workflow definition breaks the definition rules
    │   ├── InputsInvalid          initial_inputs do not fit the InputNode
    │   ├── DatasetInvalid         an uploaded dataset file cannot be read as rows
    │   ├── FieldInvalid           a request field breaks its rule (token or secret name)
    │   └── ScheduleInvalid        a cron expression, interval or time zone that cannot fire
    ├── NotFound                   an id names nothing (HTTP 404)
    ├── Conflict                   the request fits no current state (HTTP 409)
    │   └── InvalidTransition      a run or task state change the rules forbid
    ├── LinkError                  a signed approve/decline link cannot be used
    │   ├── LinkInvalid            unknown or tampered with (HTTP 403)
    │   └── LinkExpired            past its expiry (HTTP 410)
    ├── ExecutionError             raised while a run executes; recorded on its task
    │   ├── NodeFailed             a node raised; carries retry settings
    │   │   ├── NodeTimeout        a node ran past its time limit
    │   │   └── OutputNotJSON      a node returned something JSON cannot hold
    │   └── RunCanceled            the run was canceled while this code waited
    ├── NotAuthenticated           no valid token or session (HTTP 401)
    ├── Forbidden                  a role too weak, or a refused browser request (HTTP 403)
    ├── TooManyAttempts            too many failed authentications (HTTP 429)
    ├── SecretsUnavailable         no SPURLINE_SECRET_KEY, or it does not open a secret
    ├── StoreDamaged               the store's file or pages are corrupt (HTTP 503)
    └── StoreUnavailable           the store failed transiently past its retries (HTTP 503)
        └── StoreFull              no space left on the store's disk (HTTP 507)

The API maps each branch to its status in one place (``spurline.api.app``); the rules
behind each are in docs/runs-api.md ("Errors").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any


class SpurlineError(Exception):
    """Root of every error Spurline raises on purpose."""


#: Where a problem is, as field names and list indexes from the top of the input it
#: concerns: ``("parent_run_id",)``, ``("definition", "nodes", 3, "config", "code")``.
#: Never an HTTP location: the API alone adds ``"body"`` (docs/runs-api.md#errors).
FieldPath = tuple[str | int, ...]


class DefinitionError(SpurlineError):
    """Input rejected before any run exists; lists every problem at once.

    Args:
        problems: one dict per problem: ``{"path": FieldPath, "msg": str, "type": str}``
            plus ``node_id`` / ``node_ids`` when a node is concerned; ``path`` first.
    """

    def __init__(self, problems: Sequence[dict[str, Any]]) -> None:
        self.problems = list(problems)
        summary = "; ".join(p.get("msg", "") for p in self.problems)
        super().__init__(summary or "invalid")


class DefinitionInvalid(DefinitionError):
    """A workflow definition breaks the rules of docs/runs-api.md#workflow-definitions
    (cycle, dangling link, bad config ...)."""


class InputsInvalid(DefinitionError):
    """initial_inputs do not fit the workflow's InputNode."""


class DatasetInvalid(DefinitionError):
    """An uploaded dataset is empty, has no header, a ragged row, or is not a list of objects."""


class FieldInvalid(DefinitionError):
    """A request field breaks its rule: a token or secret name, an empty secret value
    (docs/security.md)."""


class ScheduleInvalid(DefinitionError):
    """A schedule's cron expression, interval or time zone is not valid
    (docs/operations.md)."""


class NotFound(SpurlineError):
    """An id names no stored record."""

    def __init__(self, what: str, ident: str | None = None) -> None:
        self.what = what
        self.ident = ident
        super().__init__(f"{what} not found")


class Conflict(SpurlineError):
    """The request is well-formed but the record's current state forbids it."""


class InvalidTransition(Conflict):
    """A state change that the run/task transition rules forbid."""


class LinkError(SpurlineError):
    """A signed pause link (docs/operations.md, Notifications) cannot be used."""


class LinkInvalid(LinkError):
    """The link's signature does not match, or its webhook no longer exists."""

    def __init__(self) -> None:
        super().__init__("This link is not valid")


class LinkExpired(LinkError):
    """The link is past its expiry time."""

    def __init__(self, expired_at: datetime) -> None:
        self.expired_at = expired_at
        super().__init__(f"This link expired at {expired_at.isoformat()}")


class ExecutionError(SpurlineError):
    """Raised while a run executes; recorded on the task, never sent to a client as 5xx."""


class NodeFailed(ExecutionError):
    """A node raised. ``retryable`` and ``retry_after`` (seconds) travel with the error."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        traceback: str | None = None,
    ):
        self.retryable = retryable
        self.retry_after = retry_after
        # the traceback of the node's own code, when it is not this exception's
        self.traceback = traceback
        super().__init__(message)


class NodeTimeout(NodeFailed):
    """A node ran past its time limit (``config.timeout_s``)."""


class OutputNotJSON(NodeFailed):
    """A node returned bytes, NaN, a set or another value JSON cannot hold (see
    docs/runs-api.md#running)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class RunCanceled(ExecutionError):
    """The run was canceled while this code was waiting on it."""


class NotAuthenticated(SpurlineError):
    """No valid token or session came with the request (docs/security.md §1)."""


class Forbidden(SpurlineError):
    """The caller's role is too weak, or a browser request was refused (docs/security.md)."""


class TooManyAttempts(SpurlineError):
    """Too many failed authentications from one client; ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class SecretsUnavailable(SpurlineError):
    """Secrets cannot be set or read: no usable ``SPURLINE_SECRET_KEY`` (docs/security.md §6)."""


class StoreDamaged(SpurlineError):
    """The store's database file (or a page of it) is corrupt: one sentence naming the
    store and what to do (docs/reliability.md#a-damaged-store).

    Attributes:
        store: the store, as a path (SQLite) or a masked URL.
        reason: the database's own words ("database disk image is malformed").
    """

    def __init__(self, store: str, reason: str) -> None:
        self.store = store
        self.reason = reason
        super().__init__(
            f"the store {store} is damaged ({reason}): restore it from a backup, or run "
            "'spurline db check' to see what is damaged"
        )


class StoreUnavailable(SpurlineError):
    """The store failed transiently (a lost connection, a lock, a failover) and kept
    failing past its retry budget; ``retry_after`` in seconds
    (docs/reliability.md#transient-store-errors)."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class StoreFull(StoreUnavailable):
    """No space left on the disk of the store's database or files
    (docs/reliability.md#disk-full)."""
