"""Prometheus ``/metrics`` (docs/operations.md, Metrics): run, node, queue, lease and
webhook figures under ``spurline_`` names, parsed with the client library's parser."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests.flows import human, links, node, wait_status

FLOW = {
    "nodes": [
        node("in", "InputNode", output_schema={"n": "int"}),
        node("double", "PythonFuncNode", code="return {'n': input_model.In.n * 2}"),
        node("out", "OutputNode", output_map={"n": "Double.n"}),
    ],
    "links": links(("in", "double"), ("double", "out")),
}
PAUSING = {
    "nodes": [node("in", "InputNode", output_schema={"n": "int"}), human("wait", "ok?")],
    "links": links(("in", "wait")),
}


def samples(client: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_runs_nodes_and_active_runs(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow(FLOW)
    before = samples(client)
    nodes_before = value(
        before,
        "spurline_node_duration_seconds_count",
        node_type="PythonFuncNode",
        status="COMPLETED",
    )
    waits_before = value(before, "spurline_queue_wait_seconds_count")
    for n in range(3):
        r = client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"in": {"n": n}}})
        assert r.json()["out"] == {"n": 2 * n}
    paused_wf = make_workflow(PAUSING)
    paused = client.post(f"/wf/{paused_wf}/start_run/", json={"initial_inputs": {"in": {"n": 1}}})
    wait_status(client, paused.json()["id"], ("PAUSED",))

    after = samples(client)
    assert value(after, "spurline_runs_started_total", workflow_id=wf) >= 3
    assert value(after, "spurline_runs_ended_total", status="COMPLETED", workflow_id=wf) == 3
    assert value(after, "spurline_runs_paused_total", workflow_id=paused_wf) == 1
    timed = value(
        after,
        "spurline_node_duration_seconds_count",
        node_type="PythonFuncNode",
        status="COMPLETED",
    )
    assert timed - nodes_before >= 3
    assert value(after, "spurline_queue_wait_seconds_count") - waits_before >= 3
    assert value(after, "spurline_active_runs", status="PAUSED") == 1
    assert value(after, "spurline_active_runs", status="RUNNING") == 0
    assert ("spurline_lease_takeovers_total", frozenset()) in after
    assert ("spurline_webhook_deliveries_unfinished", frozenset()) in after
    assert client.get("/api/metrics").status_code == 200
