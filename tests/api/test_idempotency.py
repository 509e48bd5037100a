"""Idempotency keys on every way of starting a run: the same key within 24 h returns
the first run and never starts a second, also when requests race (docs/operations.md)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import update
from tests.conftest import LiveServer
from tests.ops._ops import ECHO

from spurline.engine.clock import now
from spurline.store.orm import IDEMPOTENCY_KEYS


def _total(client: httpx.Client, wf: str) -> int:
    return int(client.get("/run/", params={"workflow_id": wf}).headers["X-Total-Count"])


def test_start_run_and_run_return_the_key_s_first_run(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow(ECHO)
    body = {"initial_inputs": {"in": {"text": "once"}}}
    a = client.post(f"/wf/{wf}/start_run/", json=body, headers={"Idempotency-Key": "k1"})
    b = client.post(f"/wf/{wf}/start_run/", json={**body, "idempotency_key": "k1"})
    assert a.status_code == b.status_code == 200
    assert a.json()["id"] == b.json()["id"]
    # the blocking run with that key answers with the first run's outputs
    c = client.post(f"/wf/{wf}/run/", json=body, headers={"Idempotency-Key": "k1"})
    assert c.status_code == 200 and c.json()["in"] == {"text": "once"}
    assert _total(client, wf) == 1
    other = client.post(f"/wf/{wf}/start_run/", json=body, headers={"Idempotency-Key": "k2"})
    assert other.json()["id"] != a.json()["id"] and _total(client, wf) == 2


def test_racing_starts_with_one_key_make_one_run(
    client: httpx.Client, make_workflow: Callable[..., str], server: LiveServer
) -> None:
    wf = make_workflow(ECHO)

    def start(_: int) -> str:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            r = c.post(f"/wf/{wf}/start_run/", json={}, headers={"Idempotency-Key": "race"})
            assert r.status_code == 200, r.text
            return str(r.json()["id"])

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(start, range(16)))
    assert len(ids) == 1 and _total(client, wf) == 1


def test_a_key_older_than_24_hours_starts_a_new_run(
    client: httpx.Client, make_workflow: Callable[..., str], server: LiveServer
) -> None:
    wf = make_workflow(ECHO)
    first = client.post(f"/wf/{wf}/start_run/", json={}, headers={"Idempotency-Key": "old"})
    server.runtime.db.writer.run(
        lambda c: c.execute(
            update(IDEMPOTENCY_KEYS).values(created_at=now() - timedelta(hours=24, seconds=1))
        )
    )
    second = client.post(f"/wf/{wf}/start_run/", json={}, headers={"Idempotency-Key": "old"})
    assert second.json()["id"] != first.json()["id"] and _total(client, wf) == 2
    third = client.post(f"/wf/{wf}/start_run/", json={}, headers={"Idempotency-Key": "old"})
    assert third.json()["id"] == second.json()["id"]


def test_batch_runs_take_a_key_too(
    client: httpx.Client, make_workflow: Callable[..., str], tmp_path: Path
) -> None:
    wf = make_workflow(ECHO)
    csv = tmp_path / "rows.csv"
    csv.write_text("text\na\nb\n")
    with csv.open("rb") as f:
        ds = client.post("/ds/", files={"file": ("rows.csv", f, "text/csv")}, data={"name": "r"})
    assert ds.status_code in (200, 201), ds.text
    body = {"dataset_id": ds.json()["id"], "tags": ["bulk"]}
    a = client.post(f"/wf/{wf}/start_batch_run/", json=body, headers={"Idempotency-Key": "b"})
    b = client.post(f"/wf/{wf}/start_batch_run/", json={**body, "idempotency_key": "b"})
    assert a.status_code == b.status_code == 200, b.text
    assert a.json()["id"] == b.json()["id"] and a.json()["tags"] == ["bulk"]
    parents = client.get("/run/", params={"workflow_id": wf, "parent_only": True}).json()
    assert [r["id"] for r in parents] == [a.json()["id"]]


def test_header_and_body_naming_different_keys_is_422(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow(ECHO)
    r = client.post(
        f"/wf/{wf}/start_run/", json={"idempotency_key": "a"}, headers={"Idempotency-Key": "b"}
    )
    assert r.status_code == 422 and "differ" in r.text
    assert _total(client, wf) == 0
