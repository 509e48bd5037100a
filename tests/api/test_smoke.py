"""A first end-to-end check of the SPEC §3 example over real HTTP."""

from __future__ import annotations

from collections.abc import Callable

import httpx

UPPER = {
    "nodes": [
        {
            "id": "in",
            "title": "In",
            "node_type": "InputNode",
            "config": {"output_schema": {"text": "str"}},
        },
        {
            "id": "up",
            "title": "Upper",
            "node_type": "PythonFuncNode",
            "config": {"code": "return {'upper': input_model.In.text.upper()}"},
        },
        {
            "id": "out",
            "title": "Out",
            "node_type": "OutputNode",
            "config": {"output_map": {"result": "Upper.upper"}},
        },
    ],
    "links": [{"source_id": "in", "target_id": "up"}, {"source_id": "up", "target_id": "out"}],
}


def test_blocking_run_returns_every_node_output(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    wf = make_workflow(UPPER)
    r = client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"in": {"text": "hello"}}})
    assert r.status_code == 200
    assert r.json() == {
        "in": {"text": "hello"},
        "up": {"upper": "HELLO"},
        "out": {"result": "HELLO"},
    }
