"""Workflows, versions and run parentage over HTTP (SPEC §1, §4, §2.3 children)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from tests.api._contract import (
    canonical_hash,
    link,
    node,
    parse_dt,
    start,
    wait_run,
)


@pytest.fixture
def client(shared_client: httpx.Client) -> httpx.Client:
    """These tests look only at their own workflows and runs: one server per backend."""
    return shared_client


def definition(value: int) -> dict[str, object]:
    return {
        "nodes": [
            node("in", "InputNode"),
            node("s", "StaticValueNode", values={"v": value}),
        ],
        "links": [link("in", "s")],
    }


def test_create_and_read_a_workflow(client: httpx.Client) -> None:
    body = {"name": "w", "description": "d", "definition": definition(1)}
    r = client.post("/wf/", json=body)
    assert r.status_code == 200  # as PySpur; runs_bench checks it
    wf = r.json()
    assert set(wf) == {"id", "name", "description", "definition", "created_at", "updated_at"}
    assert wf["id"].startswith("W")
    assert (wf["name"], wf["description"]) == ("w", "d")
    # Stored as validated: titles default to ids, extra keys are kept.
    assert wf["definition"]["nodes"][0] == {
        "id": "in",
        "title": "in",
        "node_type": "InputNode",
        "config": {},
    }
    assert parse_dt(wf["created_at"]) == parse_dt(wf["updated_at"])
    assert client.get(f"/wf/{wf['id']}/").json() == wf


def test_unknown_keys_pysur_writes_are_kept(client: httpx.Client) -> None:
    d = definition(1)
    d["test_inputs"] = [{"id": 1}]
    d["nodes"][0]["coordinates"] = {"x": 1.5, "y": 2}  # type: ignore[index]
    d["nodes"][0]["custom"] = "kept"  # type: ignore[index]
    wf = client.post("/wf/", json={"name": "w", "definition": d}).json()
    assert wf["definition"]["test_inputs"] == [{"id": 1}]
    assert wf["definition"]["nodes"][0]["coordinates"] == {"x": 1.5, "y": 2}
    assert wf["definition"]["nodes"][0]["custom"] == "kept"


def test_each_change_makes_a_version_and_runs_keep_theirs(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf_id = make_workflow(definition(1))
    first = wait_run(client, start(client, wf_id))
    same = client.put(
        f"/wf/{wf_id}/",
        json={"name": "test workflow", "description": "", "definition": definition(1)},
    )
    assert same.status_code == 200
    assert len(client.get(f"/wf/{wf_id}/versions/").json()) == 1
    changed = client.put(f"/wf/{wf_id}/", json={"name": "renamed", "definition": definition(2)})
    assert changed.status_code == 200
    second = wait_run(client, start(client, wf_id))
    versions = client.get(f"/wf/{wf_id}/versions/").json()
    assert [(v["version"], v["name"]) for v in versions] == [(2, "renamed"), (1, "test workflow")]
    for v in versions:
        assert v["workflow_id"] == wf_id
        assert v["definition_hash"] == canonical_hash(v["definition"])
    assert versions[0]["definition_hash"] != versions[1]["definition_hash"]
    assert (first["workflow_version"]["version"], first["outputs"]["s"]) == (1, {"v": 1})
    assert (second["workflow_version"]["version"], second["outputs"]["s"]) == (2, {"v": 2})
    assert first["workflow_version_id"] == versions[1]["id"]
    assert second["workflow_version_id"] == versions[0]["id"]
    # Reading the first run again still shows the version it ran.
    again = client.get(f"/run/{first['id']}/").json()
    assert again["workflow_version"]["definition"] == versions[1]["definition"]


def test_blocking_runs_follow_the_current_version(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    # a start does not read the current version again: its insert checks it
    wf_id = make_workflow(definition(1))
    assert client.post(f"/wf/{wf_id}/run/", json={}).json()["s"] == {"v": 1}
    client.put(f"/wf/{wf_id}/", json={"name": "n", "definition": definition(2)})
    assert client.post(f"/wf/{wf_id}/run/", json={}).json()["s"] == {"v": 2}
    assert client.post(f"/wf/{wf_id}/run/", json={}).json()["s"] == {"v": 2}
    assert client.delete(f"/wf/{wf_id}/").status_code == 204
    gone = client.post(f"/wf/{wf_id}/run/", json={})
    assert (gone.status_code, gone.json()) == (404, {"detail": "Workflow not found"})


def test_delete_workflow(client: httpx.Client, make_workflow: Callable[..., str]) -> None:
    wf_id = make_workflow(definition(1))
    run_id = wait_run(client, start(client, wf_id))["id"]
    r = client.delete(f"/wf/{wf_id}/")
    assert (r.status_code, r.content) == (204, b"")
    assert client.get(f"/wf/{wf_id}/").status_code == 404
    assert client.get(f"/run/{run_id}/").status_code == 404


def test_children_and_parent_run_id(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf_id = make_workflow(definition(1))
    parent = wait_run(client, start(client, wf_id))["id"]
    assert client.get(f"/run/{parent}/children/").json() == []
    kids = []
    for _ in range(3):
        r = client.post(f"/wf/{wf_id}/start_run/", json={"parent_run_id": parent})
        assert r.status_code == 200
        assert r.json()["parent_run_id"] == parent
        kids.append(wait_run(client, r.json()["id"])["id"])
    children = client.get(f"/run/{parent}/children/")
    assert [c["id"] for c in children.json()] == kids  # oldest first
    assert children.headers["x-total-count"] == "3"
    page = client.get(f"/run/{parent}/children/", params={"page": 2, "page_size": 2}).json()
    assert [c["id"] for c in page] == kids[2:]
    listed = client.get("/run/", params={"workflow_id": wf_id, "parent_only": True}).json()
    assert [r["id"] for r in listed] == [parent]


def test_unknown_parent_run_is_422_and_creates_no_run(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf_id = make_workflow(definition(1))
    r = client.post(f"/wf/{wf_id}/start_run/", json={"parent_run_id": "RNOPE"})
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "loc": ["body", "parent_run_id"],
            "msg": "parent_run_id 'RNOPE' names no run",
            "type": "not_found",
        }
    ]
    assert client.get(f"/wf/{wf_id}/runs/").json() == []
