"""Helpers of the operations tests (docs/operations.md): a store shared by several
servers started and stopped inside one test, and polling."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import DEPLOYMENTS, make_settings

from _celery import celery_consumer
from spurline.settings import Settings

#: The acceptance deployments of the scheduler: SQLite, and PostgreSQL + Celery.
SCHEDULER_BACKENDS = ["sqlite", *(["postgres+celery"] if "postgres+celery" in DEPLOYMENTS else [])]

ECHO = {
    "nodes": [
        {
            "id": "in",
            "title": "In",
            "node_type": "InputNode",
            "config": {"output_schema": {"text": "str"}},
        },
        {"id": "out", "title": "Out", "node_type": "OutputNode", "config": {}},
    ],
    "links": [{"source_id": "in", "target_id": "out"}],
}


@contextmanager
def shared_store(home: Path, backend: str, **overrides: Any) -> Iterator[Settings]:
    """Settings of one fresh store for servers started one after another or side by
    side (with the session's Celery worker serving it for ``postgres+celery``)."""
    settings, cleanup = make_settings(home, backend, **overrides)
    try:
        if settings.executor == "celery":
            with celery_consumer().serving(settings):
                yield settings
        else:
            yield settings
    finally:
        cleanup()


def when(value: str) -> datetime:
    """An RFC 3339 datetime of a response."""
    return datetime.fromisoformat(value)


def all_runs(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Every run ``GET /run/`` lists with ``params`` (every page, summary view)."""
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        got = client.get(
            "/run/", params={**params, "page": page, "page_size": 100, "view": "summary"}
        )
        assert got.status_code == 200, got.text
        out.extend(got.json())
        if len(out) >= int(got.headers["X-Total-Count"]):
            return out
        page += 1


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` every 20 ms until it holds; fail naming ``what`` after ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not {what} after {timeout} s")
        time.sleep(0.02)
