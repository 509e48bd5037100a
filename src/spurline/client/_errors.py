"""The errors :mod:`spurline.client` raises: one per kind of answer, so callers catch
what they can handle (see docs/client.md).

::

    ApiError                  any answer that is not a success; .status_code, .detail
    ├── Invalid               422: the request was rejected; .detail holds every problem
    ├── NotFound              404: no such run, workflow, dataset or output file
    ├── Conflict              409: the resource is not in a state that allows this
    ├── Unauthorized          401: no token, or a token the server does not know
    ├── Forbidden             403: the token's role may not do this
    ├── TooLarge              413: the request body is over the server's limit
    ├── RunNotCompleted       a blocking run ended FAILED/CANCELED or paused; .run
    ├── ServerError           500 and other unexpected statuses
    └── ServerUnavailable     no answer: connection refused, timeout, 502/503/504
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """The server did not answer with success.

    Attributes:
        status_code: the HTTP status, or None when no answer arrived.
        detail: the ``detail`` of the server's ``{"detail": ...}`` body (text or the
            list of problems), or the body's text.
    """

    def __init__(self, message: str, status_code: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail


class Invalid(ApiError):
    """422: the request was rejected; ``detail`` lists every problem ``{loc, msg, type}``."""

    @property
    def problems(self) -> list[dict[str, Any]]:
        """The problems as a list (one ``{"msg": detail}`` when the server sent text)."""
        if isinstance(self.detail, list):
            return [p if isinstance(p, dict) else {"msg": str(p)} for p in self.detail]
        return [{"msg": str(self.detail)}]


class NotFound(ApiError):
    """404: the run, workflow, dataset or output file does not exist.

    Attributes:
        what: the kind asked for (``run``, ``workflow``, ``dataset``, ``output file``).
        ident: the id asked for.
    """

    def __init__(self, what: str, ident: str, detail: Any = None) -> None:
        super().__init__(f"no {what} {ident}", 404, detail)
        self.what = what
        self.ident = ident


class Conflict(ApiError):
    """409: the resource is not in a state that allows the request."""


class Unauthorized(ApiError):
    """401: a token is required, or the token given is not valid."""


class Forbidden(ApiError):
    """403: the token's role does not allow the request."""


class TooLarge(ApiError):
    """413: the request body (an upload) is larger than the server accepts
    (``SPURLINE_MAX_BODY_BYTES``)."""


class RunNotCompleted(ApiError):
    """A blocking run did not complete: it FAILED, was CANCELED, or PAUSED (or still runs).

    Attributes:
        run: the run as the server returned it (``Run``).
    """

    def __init__(self, message: str, status_code: int, run: dict[str, Any]) -> None:
        super().__init__(message, status_code, run)
        self.run = run


class ServerError(ApiError):
    """The server failed (500) or answered with a status the client does not expect."""


class ServerUnavailable(ApiError):
    """No usable answer: the server cannot be reached, timed out, or is unavailable."""
