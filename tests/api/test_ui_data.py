"""The small reads the web UI uses (docs/ui.md): run summaries with stable paging,
counts per status, child runs per task, batch rows failed first, dataset preview and
version diff, and their bad input."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime

import httpx
import pytest
from tests.conftest import BACKENDS
from tests.flows import FINAL, links, node, start, wait_status

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

FLOW = {
    "nodes": [node("in", "InputNode", output_schema={"n": "int"}), node("out", "OutputNode")],
    "links": links(("in", "out")),
}
FAILING = {
    "nodes": [
        node("in", "InputNode"),
        node("boom", "PythonFuncNode", code="raise ValueError('x')"),
    ],
    "links": links(("in", "boom")),
}


def test_summaries_page_newest_first_and_stay_put_while_runs_are_added(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow(FLOW, name="summed")
    ids = [start(client, wf, {"in": {"n": i}}) for i in range(5)]
    for run_id in ids:
        wait_status(client, run_id, FINAL)
    first = client.get("/run_summaries/", params={"page_size": 2}).json()
    assert [r["id"] for r in first["items"]] == ids[::-1][:2]
    assert first["has_more"] is True
    item = first["items"][0]
    assert item["workflow_name"] == "summed"
    assert item["status"] == "COMPLETED"
    assert item["percentage_complete"] == 100.0
    assert (item["tasks_total"], item["tasks_completed"]) == (2, 2)
    assert item["duration"] >= 0
    # Runs added after page 1 was read do not shift page 2 when `until` is passed back.
    newer = start(client, wf, {"in": {"n": 9}})
    params = {"page": 2, "page_size": 2, "until": first["until"]}
    second = client.get("/run_summaries/", params=params).json()
    assert [r["id"] for r in second["items"]] == ids[::-1][2:4]
    live = client.get("/run_summaries/", params={"page_size": 2}).json()
    assert live["items"][0]["id"] == newer
    last = client.get("/run_summaries/", params={**params, "page": 3}).json()
    assert [r["id"] for r in last["items"]] == [ids[0]]
    assert last["has_more"] is False


def test_filters_and_counts(client: httpx.Client, make_workflow: Callable[..., str]) -> None:
    ok_wf, bad_wf = make_workflow(FLOW, name="ok"), make_workflow(FAILING, name="bad")
    ok = [start(client, ok_wf, {"in": {"n": i}}) for i in range(3)]
    bad = start(client, bad_wf)
    for run_id in [*ok, bad]:
        wait_status(client, run_id, FINAL)
    counts = client.get("/run_counts/").json()
    assert counts == {"counts": {"COMPLETED": 3, "FAILED": 1}, "total": 4}
    failed = client.get("/run_counts/", params={"status": "FAILED"}).json()
    assert failed == {"counts": {"COMPLETED": 3, "FAILED": 1}, "total": 1}
    assert client.get("/run_counts/", params={"workflow_id": ok_wf}).json()["total"] == 3
    page = client.get("/run_summaries/", params={"status": "FAILED"}).json()
    assert [r["id"] for r in page["items"]] == [bad]
    page = client.get("/api/run_summaries/", params={"workflow_id": ok_wf}).json()
    assert {r["id"] for r in page["items"]} == set(ok)
    started = datetime.fromisoformat(client.get(f"/run/{ok[1]}/").json()["start_time"])
    after = client.get("/run_summaries/", params={"started_after": started.isoformat()}).json()
    assert {r["id"] for r in after["items"]} >= {ok[1], ok[2], bad} - {ok[0]}
    assert ok[0] not in {r["id"] for r in after["items"]}
    before = client.get("/run_summaries/", params={"started_before": started.isoformat()})
    assert [r["id"] for r in before.json()["items"]] == [ok[0]]
    assert client.get("/run_summaries/", params={"run_type": "batch"}).json()["items"] == []


def test_tag_metadata_time_and_schedule_filters(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow(FLOW, name="tagged")
    body = {"initial_inputs": {"in": {"n": 1}}, "tags": ["nightly", "eu"]}
    r = client.post(f"/wf/{wf}/start_run/", json={**body, "metadata": {"team": "a=b"}})
    tagged = r.json()["id"]
    plain = start(client, wf, {"in": {"n": 2}})
    for run_id in (tagged, plain):
        wait_status(client, run_id, FINAL)

    def ids(path: str, **params: object) -> set[str]:
        r = client.get(path, params={"workflow_id": wf, **params})
        assert r.status_code == 200, r.text
        body = r.json()
        return {i["id"] for i in body["items"]} if "items" in body else {str(body["total"])}

    assert ids("/run_summaries/", tag="nightly") == {tagged}
    assert ids("/run_summaries/", tag=["nightly", "us"]) == set()
    # A value may hold "=": only the first one splits key from value.
    assert ids("/run_summaries/", metadata="team=a=b") == {tagged}
    assert ids("/run_summaries/", metadata="team=a") == set()
    assert ids("/run_counts/", tag="eu") == {"1"}
    times = {
        r: datetime.fromisoformat(client.get(f"/run/{r}/").json()["start_time"])
        for r in (tagged, plain)
    }
    at = times[plain]
    assert ids("/run_summaries/", start_date=at.isoformat()) == {
        r for r, t in times.items() if t >= at
    }
    assert ids("/run_summaries/", end_date=times[tagged].isoformat()) == {
        r for r, t in times.items() if t <= times[tagged]
    }
    assert ids("/run_summaries/", schedule_id="S_none") == set()
    item = client.get("/run_summaries/", params={"tag": "nightly"}).json()["items"][0]
    assert (item["tags"], item["metadata"]) == (["nightly", "eu"], {"team": "a=b"})
    assert (item["schedule_id"], item["rerun_of"]) == (None, None)
    for params in ({"metadata": "no-pair"}, {"start_date": "2026-01-01T00:00:00"}):
        r = client.get("/run_summaries/", params=params)
        assert r.status_code == 422, (params, r.text)
        assert client.get("/run_counts/", params=params).status_code == 422


def test_bad_input_is_a_clear_4xx(client: httpx.Client, make_workflow: Callable[..., str]) -> None:
    wf = make_workflow(FLOW)
    for path, params in [
        ("/run_summaries/", {"status": "DONE"}),
        ("/run_summaries/", {"until": "yesterday"}),
        ("/run_summaries/", {"page_size": 500}),
        ("/run_counts/", {"started_after": "not a time"}),
        (f"/wf/{wf}/version_diff/", {"a": 1}),
        (f"/wf/{wf}/version_diff/", {"a": 0, "b": 1}),
    ]:
        r = client.get(path, params=params)
        assert r.status_code == 422, (path, params, r.text)
        assert r.json()["detail"]
    for path in [
        "/run/R_nope/children_by_task/",
        "/run/R_nope/batch_rows/",
        "/ds/D_nope/preview/",
        "/wf/W_nope/version_diff/?a=1&b=1",
        f"/wf/{wf}/version_diff/?a=1&b=7",
    ]:
        r = client.get(path)
        assert r.status_code == 404, (path, r.text)
        assert "not found" in r.json()["detail"]


def test_version_diff_side_by_side(client: httpx.Client, make_workflow: Callable[..., str]) -> None:
    wf = make_workflow(FLOW, name="v")
    changed = {
        **FLOW,
        "nodes": [FLOW["nodes"][0], node("out", "OutputNode", output_map={"m": "In.n"})],
    }
    r = client.put(f"/wf/{wf}/", json={"name": "v", "description": "", "definition": changed})
    assert r.status_code == 200, r.text
    diff = client.get(f"/wf/{wf}/version_diff/", params={"a": 1, "b": 2}).json()
    assert (diff["a"], diff["b"]) == (1, 2)
    kinds = {line["kind"] for line in diff["lines"]}
    assert "equal" in kinds and kinds & {"insert", "replace"}
    right = "\n".join(line["right"] or "" for line in diff["lines"])
    left = "\n".join(line["left"] or "" for line in diff["lines"])
    assert '"In.n"' in right and '"In.n"' not in left
    same = client.get(f"/wf/{wf}/version_diff/", params={"a": 2, "b": 2}).json()
    assert {line["kind"] for line in same["lines"]} == {"equal"}


def test_dataset_preview_and_batch_rows_failed_first(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    data = b"n\n1\n2\nnot a number\n4\n"
    ds = client.post("/ds/", files={"file": ("rows.csv", io.BytesIO(data))}).json()
    preview = client.get(f"/ds/{ds['id']}/preview/", params={"rows": 2}).json()
    assert preview["columns"] == ["n"]
    assert preview["row_count"] == 4
    assert len(preview["rows"]) == 2
    wf = make_workflow(FLOW, name="rows")
    r = client.post(f"/wf/{wf}/start_batch_run/", json={"dataset_id": ds["id"]})
    parent = r.json()["id"]
    wait_status(client, parent, FINAL)
    rows = client.get(f"/run/{parent}/batch_rows/").json()
    assert (rows["total"], rows["failed"], rows["rows_total"], rows["rows_done"]) == (4, 1, 4, 4)
    assert rows["items"][0]["status"] == "FAILED"
    assert rows["items"][0]["seq"] == 2
    assert [r["seq"] for r in rows["items"][1:]] == [0, 1, 3]
    paged = client.get(f"/run/{parent}/batch_rows/", params={"page": 2, "page_size": 3}).json()
    assert [r["seq"] for r in paged["items"]] == [3]
    # The batch's rows are not parents: the default summaries list the parent only.
    listed = client.get("/run_summaries/").json()["items"]
    assert [r["id"] for r in listed] == [parent]
    assert listed[0]["rows_total"] == 4
    all_runs = client.get("/run_summaries/", params={"parent_only": "false"}).json()
    assert len(all_runs["items"]) == 5


def test_children_by_task(client: httpx.Client, make_workflow: Callable[..., str]) -> None:
    child = make_workflow(FLOW, name="child")
    parent_flow = {
        "nodes": [
            node("in", "InputNode", output_schema={"n": "int"}),
            node("sub", "SubworkflowNode", workflow_id=child, input_map={"n": "In.n"}),
        ],
        "links": links(("in", "sub")),
    }
    wf = make_workflow(parent_flow, name="parent")
    run_id = start(client, wf, {"in": {"n": 3}})
    run = wait_status(client, run_id, FINAL)
    by_task = client.get(f"/run/{run_id}/children_by_task/").json()
    sub_task = next(t for t in run["tasks"] if t["node_id"] == "sub")
    assert list(by_task) == [sub_task["id"]]
    [kid] = by_task[sub_task["id"]]
    assert client.get(f"/run/{kid['id']}/").json()["parent_run_id"] == run_id
