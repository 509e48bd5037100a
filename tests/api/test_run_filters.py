"""Finding runs: tags and metadata given at start, ``GET /run/`` filters by time range,
tag, metadata and schedule, and the lean ``view=summary`` (docs/operations.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from tests.flows import wait_status as wait
from tests.ops._ops import ECHO, when

SUMMARY_FIELDS = {
    "id", "workflow_id", "workflow_version_id", "status", "start_time", "end_time",
    "parent_run_id", "run_type", "output_file_id", "input_dataset_id", "message", "duration",
    "percentage_complete", "started_by", "canceled_by", "retried_by", "tags", "metadata",
    "schedule_id", "scheduled_for", "rerun_of", "reruns",
}  # fmt: skip


def _ids(client: httpx.Client, **params: Any) -> list[str]:
    r = client.get("/run/", params={"page_size": 100, **params})
    assert r.status_code == 200, r.text
    assert int(r.headers["X-Total-Count"]) == len(r.json())
    return [run["id"] for run in r.json()]


def test_runs_are_found_by_tag_metadata_time_and_schedule(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow(ECHO)

    def run(tags: list[str], metadata: dict[str, str]) -> str:
        body = {"initial_inputs": {"in": {"text": "t"}}, "tags": tags, "metadata": metadata}
        r = client.post(f"/wf/{wf}/start_run/", json=body)
        assert r.status_code == 200, r.text
        assert (r.json()["tags"], r.json()["metadata"]) == (tags, metadata)
        return str(wait(client, r.json()["id"], ("COMPLETED",))["id"])

    a = run(["nightly", "eu"], {"team": "ops", "env": "prod"})
    b = run(["nightly"], {"team": "ops", "env": "test"})
    c = run([], {"team": "web"})
    assert _ids(client, tag="nightly") == [b, a]
    assert _ids(client, tag=["nightly", "eu"]) == [a]
    assert _ids(client, metadata="team=ops") == [b, a]
    assert _ids(client, metadata=["team=ops", "env=test"]) == [b]
    assert _ids(client, tag="nightly", metadata="team=web") == []
    assert _ids(client, tag="none-such") == []

    started = {r: when(client.get(f"/run/{r}/").json()["start_time"]) for r in (a, b, c)}
    assert _ids(client, start_date=started[b].isoformat()) == [c, b]
    assert _ids(client, end_date=started[b].isoformat()) == [b, a]
    window = {"start_date": started[b].isoformat(), "end_date": started[b].isoformat()}
    assert _ids(client, **window) == [b]
    later = (started[c] + timedelta(seconds=1)).isoformat()
    assert _ids(client, start_date=later) == []
    assert _ids(client, schedule_id="S_none") == []

    full = client.get(f"/run/{a}/").json()
    assert (full["tags"], full["metadata"]) == (["nightly", "eu"], {"team": "ops", "env": "prod"})


def test_the_summary_view_is_lean_and_the_full_view_stays_the_default(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow(ECHO)
    r = client.post(f"/wf/{wf}/start_run/", json={"initial_inputs": {"in": {"text": "s"}}})
    run_id = wait(client, r.json()["id"], ("COMPLETED",))["id"]
    full = client.get("/run/").json()
    assert full == client.get("/run/", params={"view": "full"}).json()
    assert full[0]["tasks"] and full[0]["workflow_version"]["definition"]
    summary = client.get("/run/", params={"view": "summary"})
    assert summary.headers["X-Total-Count"] == "1"
    (item,) = summary.json()
    assert set(item) == SUMMARY_FIELDS
    assert {k: item[k] for k in SUMMARY_FIELDS} == {k: full[0][k] for k in SUMMARY_FIELDS}
    assert item["id"] == run_id and item["percentage_complete"] == 100.0


def test_bad_filters_are_422(client: httpx.Client) -> None:
    for params, where in (
        ({"metadata": "no-equals"}, "metadata"),
        ({"metadata": "=x"}, "metadata"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2026-01-01T00:00:00"}, "end_date"),  # no time zone: ambiguous
        ({"view": "tiny"}, "view"),
    ):
        r = client.get("/run/", params=params)
        assert r.status_code == 422, (params, r.text)
        assert any(p["loc"][-1] == where for p in r.json()["detail"]), (params, r.json())
