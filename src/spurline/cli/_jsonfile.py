"""Reading the JSON object files the CLI is given (workflows, ``--inputs``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

from spurline.cli._errors import CliError


def read_json_object(path: Path, label: str) -> dict[str, Any]:
    """The JSON object in ``path`` (``-`` reads stdin); ``label`` names it in messages.

    Raises:
        CliError: an unreadable file, malformed JSON, or JSON that is not an object.
    """
    stdin = str(path) == "-"
    where = f"{label} {'stdin' if stdin else path}"
    try:
        data = orjson.loads(sys.stdin.buffer.read() if stdin else path.read_bytes())
    except OSError as exc:
        raise CliError(f"cannot read {where}: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise CliError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CliError(f"{where} must hold a JSON object, not {type(data).__name__}")
    return data
