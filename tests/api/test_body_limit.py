"""Bodies sent without Content-Length (chunked) go through the body-limit counter."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson


def _chunked(body: bytes, size: int = 65536) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def test_chunked_body_under_the_limit_is_served(client: httpx.Client) -> None:
    definition = {"nodes": [{"id": "in", "title": "in", "node_type": "InputNode", "config": {}}]}
    body = orjson.dumps({"name": "small", "description": "", "definition": definition})

    r = client.post(
        "/wf/", content=_chunked(body, 16), headers={"content-type": "application/json"}
    )

    assert r.status_code in (200, 201), r.text
    assert r.json()["name"] == "small"
