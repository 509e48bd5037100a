"""A small Server-Sent Events reader over httpx, as a client of the event streams
(docs/observability.md) would write one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Sse:
    """One received event."""

    event: str
    id: str | None
    data: dict[str, Any]


def read_events(response: httpx.Response) -> Iterator[Sse]:
    """The events of an open ``text/event-stream`` response (comments skipped)."""
    event, ident, data = "message", None, []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield Sse(event, ident, json.loads("\n".join(data)))
            event, ident, data = "message", None, []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "id":
                ident = value
            elif name == "data":
                data.append(value)


def collect(
    client: httpx.Client,
    path: str,
    *,
    last_event_id: str | None = None,
    stop_after: int | None = None,
    timeout: float = 60,
) -> list[Sse]:
    """Events of ``path`` until the stream ends (or ``stop_after`` of them)."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    out: list[Sse] = []
    with client.stream("GET", path, headers=headers, timeout=timeout) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        for e in read_events(r):
            out.append(e)
            if stop_after is not None and len(out) >= stop_after:
                break
    return out
