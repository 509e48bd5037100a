"""The server's own log, for operators (docs/observability.md).

One format for ``spurline serve`` and ``spurline worker``: a line per record with
the time (UTC), level, logger and message, then ``run_id=… node_id=… attempt=…``
when the record is about a run (passed as ``extra``); or the same as one JSON
object per line. Passwords in URLs are masked in every record, whatever logged it.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.engine import make_url

CONTEXT = ("run_id", "node_id", "attempt")
# scheme://user:password@host -> scheme://user:***@host
_PASSWORD = re.compile(r"(\w[\w+.-]*://[^:/@\s]*:)[^@\s]+@")


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (safe to print)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a SQLAlchemy URL (a broker URL): mask by pattern
        return mask(url)


def mask(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _PASSWORD.sub(r"\1***@", text)


class _Masking(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _time(record: logging.LogRecord) -> str:
    at = datetime.fromtimestamp(record.created, UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """``TIME LEVEL logger: message run_id=… node_id=… attempt=…``."""

    def format(self, record: logging.LogRecord) -> str:
        context = "".join(
            f" {key}={getattr(record, key)}"
            for key in CONTEXT
            if getattr(record, key, None) is not None
        )
        line = f"{_time(record)} {record.levelname} {record.name}: {record.getMessage()}{context}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, run context, exc."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT:
            value = getattr(record, key, None)
            if value is not None:
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(data).decode()


def configure(level: str = "INFO", json_lines: bool = False) -> None:
    """Send every logger's records at ``level`` and above to stderr in one format
    (replacing handlers installed before, uvicorn's and Celery's included).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(_Masking())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "kombu"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # migrations narrate every plugin at INFO: only a debugging operator wants that
    logging.getLogger("alembic").setLevel("DEBUG" if level.upper() == "DEBUG" else "WARNING")
