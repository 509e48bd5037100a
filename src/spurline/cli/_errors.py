"""How the CLI reports problems: one message on stderr and an exit status, never a traceback.

Exit statuses: 0 success, 1 a run that did not complete (or an unexpected error),
2 a usage error (bad file, bad JSON, bad input, invalid definition, unknown id).
Domain errors are translated here, in one place, as ``spurline.api.app`` does for HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spurline.exceptions import (
    DefinitionError,
    FieldInvalid,
    InputsInvalid,
    NotFound,
    SecretsUnavailable,
    SpurlineError,
)

USAGE = 2
NOT_COMPLETED = 1
#: Ctrl-C, as shells report a process ended by SIGINT (128 + 2).
INTERRUPTED = 130


class CliError(Exception):
    """A problem the user can fix; ``details`` are printed one per line under ``message``."""

    def __init__(self, message: str, details: Sequence[str] = (), code: int = USAGE) -> None:
        self.message = message
        self.details = list(details)
        self.code = code
        super().__init__(message)


class Interrupted(Exception):
    """Ctrl-C stopped a command following a run, and the run was canceled.

    Attributes:
        run: the run as it ended (the API's run object).
    """

    def __init__(self, run: dict[str, Any]) -> None:
        super().__init__(f"run {run['id']} {run['status']}")
        self.run = run


def problem_lines(problems: Sequence[dict[str, Any]]) -> list[str]:
    """One line per problem of a :class:`DefinitionError` (docs/runs-api.md#workflow-definitions
    lists them all).

    Messages that do not already name their node or link get the location appended:
    a domain error's field ``path``, or the ``loc`` of a server's 422 (the CLI is an
    HTTP client too) without its leading ``"body"``.
    """
    lines = []
    for p in problems:
        msg = str(p.get("msg", ""))
        path = [str(x) for x in p.get("path") or p.get("loc") or ()]
        path = path[1:] if path[:1] == ["body"] else path
        path = path[1:] if len(path) > 1 and path[0] == "definition" else path
        if path and not msg.startswith(("node ", "link ", "initial_inputs")):
            msg = f"{msg} (at {'.'.join(path)})"
        lines.append(msg)
    return lines


def _client_error(exc: BaseException) -> CliError | None:
    """The message of an error :mod:`spurline.client` raised, None for other errors."""
    import sys

    if "spurline.client" not in sys.modules:  # no client, so none of its errors
        return None
    from spurline.client import _errors as c

    if isinstance(exc, c.Invalid):
        return CliError("the request was rejected", problem_lines(exc.problems))
    if isinstance(exc, c.ServerUnavailable | c.ServerError):
        return CliError(exc.message, code=NOT_COMPLETED)
    if isinstance(exc, c.ApiError):  # NotFound ("no run R…"), Conflict, 401, 403
        return CliError(exc.message)
    return None


#: Optional modules and the extra that installs them (see pyproject.toml).
EXTRAS = {"psycopg": "postgres", "celery": "celery", "kombu": "celery", "redis": "celery"}


def _missing_extra(exc: BaseException) -> CliError | None:
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    package = exc.name.partition(".")[0]  # "celery.signals" is missing because celery is
    extra = EXTRAS.get(package)
    if extra is None:
        return None
    return CliError(
        f"{package} is not installed, and these settings need it: pip install 'spurline[{extra}]'"
    )


def _store_unreachable(exc: BaseException) -> CliError | None:
    """The store's database could not be used (down, wrong host, no such database):
    name it, password masked, and the driver's reason (docs/deployment.md)."""
    import sys

    if "sqlalchemy" not in sys.modules:  # no database was touched
        return None
    from sqlalchemy.exc import InterfaceError, OperationalError

    if not isinstance(exc, OperationalError | InterfaceError):
        return None
    from spurline.settings import get_settings, mask_url

    url = mask_url(get_settings().resolved_database_url())
    reason = str(exc.orig or exc).strip()
    reason = reason.removeprefix("connection failed: ")
    first = (reason.splitlines() or [type(exc.orig or exc).__name__])[0]
    return CliError(f"cannot use the database {url}: {first}", code=NOT_COMPLETED)


def _bad_setting(exc: BaseException) -> CliError | None:
    """A setting that does not parse (docs/deployment.md): name its variable, exit 2."""
    import sys

    from pydantic import ValidationError

    if isinstance(exc, ValidationError) and exc.title == "Settings":
        lines = [
            f"SPURLINE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        ]
        return CliError(f"a setting is not valid: {'; '.join(lines)}")
    if "sqlalchemy" in sys.modules:
        from sqlalchemy.exc import ArgumentError

        if isinstance(exc, ArgumentError) and "URL" in str(exc):
            return CliError(
                "SPURLINE_DATABASE_URL is not a database URL (e.g. "
                "postgresql+psycopg://user:password@host:5432/db, or sqlite:///path/spurline.db)"
            )
    return None


def describe(exc: BaseException) -> CliError:
    """The message and exit status for any exception that reached the command line."""
    if isinstance(exc, CliError):
        return exc
    known = (
        _client_error(exc) or _missing_extra(exc) or _store_unreachable(exc) or _bad_setting(exc)
    )
    if known is not None:
        return known
    if isinstance(exc, FieldInvalid):
        return CliError("; ".join(str(p.get("msg", "")) for p in exc.problems))
    if isinstance(exc, InputsInvalid):
        return CliError(
            "the inputs do not fit the workflow's InputNode", problem_lines(exc.problems)
        )
    if isinstance(exc, DefinitionError):
        return CliError("the workflow definition is not valid", problem_lines(exc.problems))
    if isinstance(exc, NotFound):
        ident = f" {exc.ident}" if exc.ident else ""
        return CliError(f"no {exc.what.lower()}{ident}")
    if isinstance(exc, SecretsUnavailable):
        return CliError(str(exc))
    if isinstance(exc, SpurlineError):
        return CliError(str(exc), code=NOT_COMPLETED)
    first = (str(exc).strip().splitlines() or [""])[0]
    return CliError(f"unexpected {type(exc).__name__}: {first}", code=NOT_COMPLETED)
