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
    InputsInvalid,
    NotFound,
    SpurlineError,
)

USAGE = 2
NOT_COMPLETED = 1


class CliError(Exception):
    """A problem the user can fix; ``details`` are printed one per line under ``message``."""

    def __init__(self, message: str, details: Sequence[str] = (), code: int = USAGE) -> None:
        self.message = message
        self.details = list(details)
        self.code = code
        super().__init__(message)


def problem_lines(problems: Sequence[dict[str, Any]]) -> list[str]:
    """One line per problem of a :class:`DefinitionError` (docs/runs-api.md#workflow-definitions
    lists them all).

    Messages that do not already name their node or link get the location appended.
    """
    lines = []
    for p in problems:
        msg = str(p.get("msg", ""))
        path = [str(x) for x in p.get("path", ())]
        path = path[1:] if len(path) > 1 and path[0] == "definition" else path
        if path and not msg.startswith(("node ", "link ", "initial_inputs")):
            msg = f"{msg} (at {'.'.join(path)})"
        lines.append(msg)
    return lines


def describe(exc: BaseException) -> CliError:
    """The message and exit status for any exception that reached the command line."""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, InputsInvalid):
        return CliError(
            "the inputs do not fit the workflow's InputNode", problem_lines(exc.problems)
        )
    if isinstance(exc, DefinitionError):
        return CliError("the workflow definition is not valid", problem_lines(exc.problems))
    if isinstance(exc, NotFound):
        ident = f" {exc.ident}" if exc.ident else ""
        return CliError(f"no {exc.what.lower()}{ident}")
    if isinstance(exc, SpurlineError):
        return CliError(str(exc), code=NOT_COMPLETED)
    first = (str(exc).strip().splitlines() or [""])[0]
    return CliError(f"unexpected {type(exc).__name__}: {first}", code=NOT_COMPLETED)
