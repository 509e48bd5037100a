"""Every workflow file PySpur ships (tests/data/pyspur, see its NOTICE.md) imports
unchanged through ``/api/wf/``; those whose node types Spurline has run to
COMPLETED against the fake provider, the others are refused at run start naming
the missing node types (see docs/pyspur.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from _fake_llm import FakeLLM
from flows import FINAL, wait_status
from pyspur._ui import assert_pyspur_definition, naive_datetimes

DATA = Path(__file__).resolve().parents[1] / "data" / "pyspur"
FILES = sorted(DATA.glob("*.json"))
#: PySpur node types Spurline does not have (see docs/pyspur.md for why).
MISSING = {"FirecrawlScrapeNode", "SlackNotifyNode"}


def test_the_files_are_there() -> None:
    assert len(FILES) == 4


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_pyspur_workflow_file_imports_and_runs(
    server: Any, fake_llm: FakeLLM, path: Path, backend: str
) -> None:
    if backend != "sqlite" and path.stem != "joke_generator":
        pytest.skip("one file is enough on the other deployments")
    content = json.loads(path.read_text())
    with httpx.Client(base_url=f"{server.url}/api", timeout=60) as api:
        r = api.post("/wf/", json=content)
        assert r.status_code == 200, r.text
        wf = r.json()
        assert_pyspur_definition(wf["definition"])
        stored = {n["id"]: n["config"] for n in wf["definition"]["nodes"]}
        assert stored == {n["id"]: n["config"] for n in content["definition"]["nodes"]}
        node_types = {n["node_type"] for n in content["definition"]["nodes"]}
        inputs = _test_inputs(content["definition"])
        r = api.post(f"/wf/{wf['id']}/start_run/", json={"initial_inputs": inputs})
        if node_types & MISSING:
            assert r.status_code == 422
            for missing in node_types & MISSING:
                assert f"unknown node_type {missing!r}" in r.text
            return
        assert r.status_code == 200, r.text
        run = wait_status(api, r.json()["id"], FINAL)
    assert run["status"] == "COMPLETED", run["message"]
    assert naive_datetimes(run) == []
    llm_nodes = [n for n in content["definition"]["nodes"] if n["node_type"] != "InputNode"]
    outputs = run["outputs"]
    for n in llm_nodes:
        assert set(outputs[n["id"]]) == set(n["config"]["output_schema"]), n["id"]
    assert len(fake_llm.chats()) == _expected_calls(llm_nodes)


def _test_inputs(definition: dict[str, Any]) -> dict[str, Any]:
    """The first of the file's test inputs, as PySpur's editor sends them."""
    input_id = next(n["id"] for n in definition["nodes"] if n["node_type"] == "InputNode")
    first = dict((definition.get("test_inputs") or [{}])[0])
    first.pop("id", None)
    return {input_id: first}


def _expected_calls(nodes: list[dict[str, Any]]) -> int:
    # Best-of-N: one call per sample and one rating per sample
    return sum(2 * n["config"]["samples"] if n["node_type"] == "BestOfNNode" else 1 for n in nodes)
