"""Webhook triggers: a secret shown once and stored hashed, a run started from the
POSTed JSON, and nothing started for a wrong secret or a body that is not the
InputNode's fields (docs/operations.md)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import LiveServer
from tests.flows import wait_status

from spurline.store.orm import TRIGGERS

TYPED = {
    "nodes": [
        {
            "id": "in",
            "title": "In",
            "node_type": "InputNode",
            "config": {"output_schema": {"text": "str", "count": "int"}},
        },
        {"id": "out", "title": "Out", "node_type": "OutputNode", "config": {}},
    ],
    "links": [{"source_id": "in", "target_id": "out"}],
}


@pytest.fixture
def client(shared_client: httpx.Client) -> httpx.Client:
    return shared_client


@pytest.fixture
def hook(client: httpx.Client) -> dict[str, Any]:
    wf = client.post("/wf/", json={"name": "typed", "definition": TYPED}).json()["id"]
    r = client.post(
        f"/wf/{wf}/triggers/", json={"name": "crm", "tags": ["crm"], "metadata": {"src": "hook"}}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _runs_of(client: httpx.Client, wf: str) -> int:
    return int(client.get("/run/", params={"workflow_id": wf}).headers["X-Total-Count"])


def test_a_trigger_starts_a_run_from_the_posted_fields(
    client: httpx.Client, hook: dict[str, Any], shared_server: LiveServer
) -> None:
    assert hook["url"] == f"{shared_server.url}/trigger/{hook['id']}/"
    secret = hook["secret"]
    assert len(secret) >= 40
    listed = client.get(f"/wf/{hook['workflow_id']}/triggers/").json()
    assert [t["id"] for t in listed] == [hook["id"]] and "secret" not in listed[0]
    row = shared_server.runtime.db.read(
        lambda c: c.execute(select(TRIGGERS).where(TRIGGERS.c.id == hook["id"])).one()
    )
    assert secret not in [str(v) for v in row]  # only its hash is stored

    r = httpx.post(
        hook["url"], json={"text": "new lead", "count": 3}, headers={"X-Spurline-Secret": secret}
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["url"] == r.headers["Location"] == f"/run/{body['run_id']}/"
    run = wait_status(client, body["run_id"], ("COMPLETED",))
    assert run["initial_inputs"] == {"in": {"text": "new lead", "count": 3}}
    assert run["outputs"]["in"] == {"text": "new lead", "count": 3}
    assert (run["run_type"], run["tags"], run["metadata"]) == ("trigger", ["crm"], {"src": "hook"})
    again = client.get(f"/wf/{hook['workflow_id']}/triggers/").json()[0]
    assert again["last_used_at"] is not None


@pytest.mark.parametrize(
    ("headers", "status", "detail"),
    [
        ({}, 401, "the trigger's secret is missing (X-Spurline-Secret)"),
        ({"X-Spurline-Secret": "guess"}, 403, "the trigger's secret is wrong"),
    ],
)
def test_a_missing_or_wrong_secret_starts_nothing(
    client: httpx.Client, hook: dict[str, Any], headers: dict[str, str], status: int, detail: str
) -> None:
    r = client.post(f"/trigger/{hook['id']}/", json={"text": "x", "count": 1}, headers=headers)
    assert (r.status_code, r.json()) == (status, {"detail": detail})
    assert _runs_of(client, hook["workflow_id"]) == 0


@pytest.mark.parametrize(
    ("body", "where", "msg"),
    [
        ({"text": "x"}, ["body", "count"], "field 'count' (int) is missing"),
        ({"text": "x", "count": "3"}, ["body", "count"], "field 'count' must be int, got str"),
        ({"text": "x", "count": 1, "extra": 2}, ["body", "extra"], "not a field of the InputNode"),
        (["x"], ["body"], "must be a JSON object"),
    ],
)
def test_a_body_that_is_not_the_input_node_s_fields_is_422_and_starts_nothing(
    client: httpx.Client, hook: dict[str, Any], body: Any, where: list[str], msg: str
) -> None:
    r = client.post(
        f"/trigger/{hook['id']}/", json=body, headers={"X-Spurline-Secret": hook["secret"]}
    )
    assert r.status_code == 422, r.text
    assert any(p["loc"] == where and msg in p["msg"] for p in r.json()["detail"]), r.json()
    assert _runs_of(client, hook["workflow_id"]) == 0


def test_a_repeated_idempotency_key_returns_the_first_run(
    client: httpx.Client, hook: dict[str, Any]
) -> None:
    headers = {"X-Spurline-Secret": hook["secret"], "Idempotency-Key": "lead-42"}
    first = client.post(f"/trigger/{hook['id']}/", json={"text": "a", "count": 1}, headers=headers)
    second = client.post(f"/trigger/{hook['id']}/", json={"text": "a", "count": 1}, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["run_id"] == second.json()["run_id"]
    assert _runs_of(client, hook["workflow_id"]) == 1


def test_a_deleted_trigger_starts_nothing(client: httpx.Client, hook: dict[str, Any]) -> None:
    assert client.delete(f"/trigger/{hook['id']}/").status_code == 204
    r = client.post(
        f"/trigger/{hook['id']}/", json={"text": "x", "count": 1},
        headers={"X-Spurline-Secret": hook["secret"]},
    )  # fmt: skip
    assert (r.status_code, r.json()) == (404, {"detail": "Trigger not found"})
    assert client.post("/wf/W_nope/triggers/", json={}).status_code == 404
