"""Contract tests: every call PySpur's frontend makes for the dashboard, editor, run,
trace, approvals and templates, replayed against ``/api`` with the bodies the UI
sends, asserting the fields the UI reads (see docs/pyspur.md)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import serving

from _fake_llm import FakeLLM
from flows import FINAL, node, wait_status
from pyspur._ui import (
    assert_pyspur_definition,
    dropped_config,
    find_entry,
    naive_datetimes,
    saved_node,
)
from spurline.services.secrets import generate_key

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

WORKFLOW_FIELDS = {"id", "name", "description", "definition", "created_at", "updated_at"}
NEW_SPUR = {
    "name": "New Workflow 12/1/2026, 7:05:00 AM",
    "description": "",
    "definition": {"nodes": [], "links": [], "test_inputs": [], "spur_type": "workflow"},
}
LLM_CONFIG = {
    "llm_info": {"model": "openai/gpt-4o", "max_tokens": 256, "temperature": 0.7, "top_p": 0.9},
    "system_message": "You are terse.",
    "user_message": "Say something about {{ input_node.input_1 }}",
    "output_schema": {"output": "string"},
}


def poll(api: httpx.Client, run_id: str) -> dict[str, Any]:
    """Poll as the editor does: GET /api/run/{id}/status/ until the run ends."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status: dict[str, Any] = api.get(f"/run/{run_id}/status/").json()
        if status["status"] in FINAL:
            return status
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


@pytest.fixture
def api(server: Any) -> Any:
    with httpx.Client(base_url=f"{server.url}/api", timeout=60) as c:
        yield c


def new_spur(api: httpx.Client) -> dict[str, Any]:
    r = api.post("/wf/", json=NEW_SPUR)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_dashboard_new_spur_gets_pyspurs_default_graph(
    api: httpx.Client, client: httpx.Client
) -> None:
    wf = new_spur(api)
    assert set(wf) == WORKFLOW_FIELDS
    assert naive_datetimes(wf) == []
    assert_pyspur_definition(wf["definition"])
    [inp] = wf["definition"]["nodes"]
    assert (inp["id"], inp["node_type"]) == ("input_node", "InputNode")
    assert inp["config"]["output_schema"] == {"input_1": "string"}
    listed = api.get("/wf/", params={"page": 1, "page_size": 10}).json()
    assert [w["id"] for w in listed] == [wf["id"]]
    assert naive_datetimes(listed) == []
    # the root paths stay strict: an empty graph is no workflow, and datetimes carry
    # their offset
    r = client.post("/wf/", json=NEW_SPUR)
    assert r.status_code == 422
    assert "exactly one top-level InputNode" in r.text
    assert client.get(f"/wf/{wf['id']}/").json()["created_at"].endswith("+00:00")


def test_editor_autosave_of_every_freshly_dropped_node_type(
    api: httpx.Client, client: httpx.Client
) -> None:
    wf = new_spur(api)
    catalogue = api.get("/node/supported_types/").json()
    inp = wf["definition"]["nodes"][0]
    for group in catalogue.values():
        for entry in group:
            if entry["name"] == "InputNode":
                continue
            dropped = saved_node(entry, f"{entry['name']}_1", 400, 120)
            body = {
                "name": wf["name"],
                "description": "",
                "definition": {
                    "nodes": [inp, dropped],
                    "links": [],
                    "test_inputs": [],
                    "spur_type": "workflow",
                },
            }
            r = api.put(f"/wf/{wf['id']}/", json=body)
            assert r.status_code == 200, (entry["name"], r.text)
            saved = r.json()["definition"]["nodes"][1]
            assert saved["config"] == dropped["config"]
            assert saved["coordinates"] == {"x": 400, "y": 120}
            # The strict root paths may find the half-built node incomplete, but never
            # complain about a key the UI wrote.
            strict = client.post("/wf/", json={**body, "name": "strict"})
            if strict.status_code != 200:
                assert strict.status_code == 422
                types = {p["type"] for p in strict.json()["detail"]}
                assert "unknown_config_key" not in types, (entry["name"], strict.text)


def test_editor_run_and_trace(api: httpx.Client, client: httpx.Client, fake_llm: FakeLLM) -> None:
    wf = new_spur(api)
    catalogue = api.get("/node/supported_types/").json()
    llm = find_entry(catalogue, "SingleLLMCallNode")
    ask = saved_node(llm, "Ask", 400, 100, {**dropped_config(llm, "Ask"), **LLM_CONFIG})
    definition = {
        **wf["definition"],
        "nodes": [wf["definition"]["nodes"][0], ask],
        "links": [{"source_id": "input_node", "target_id": "Ask"}],
        "test_inputs": [{"id": 1, "input_1": "otters"}],
    }
    r = api.put(f"/wf/{wf['id']}/", json={"name": wf["name"], "definition": definition})
    assert r.status_code == 200, r.text
    r = api.post(
        f"/wf/{wf['id']}/start_run/?run_type=interactive",
        json={"initial_inputs": {"input_node": {"input_1": "otters"}}},
    )
    assert r.status_code == 200, r.text
    run = poll(api, r.json()["id"])
    assert run["status"] == "COMPLETED", run["message"]
    assert naive_datetimes(run) == []
    assert_pyspur_definition(run["workflow_version"]["definition"])
    tasks = {t["node_id"]: t for t in run["tasks"]}
    assert tasks["Ask"]["outputs"] == {"output": "answer 1"}
    assert tasks["Ask"]["inputs"] == {"input_node": {"input_1": "otters"}}
    assert fake_llm.chats()[0].body["messages"][-1]["content"] == "Say something about otters"
    # run history of the workflow, with the UI's date filters (toISOString)
    history = api.get(f"/wf/{wf['id']}/runs/", params={"page": 1, "page_size": 10}).json()
    assert [h["id"] for h in history] == [run["id"]]
    before = api.get(
        f"/wf/{wf['id']}/runs/",
        params={"start_date": "2000-01-01T00:00:00.000Z", "end_date": "2000-01-02T00:00:00.000Z"},
    )
    assert before.json() == []
    since = api.get(f"/wf/{wf['id']}/runs/", params={"start_date": "2000-01-01T00:00:00.000Z"})
    assert [h["id"] for h in since.json()] == [run["id"]]
    # trace page reads the same run by id; the dashboard's batch list is empty
    assert api.get(f"/run/{run['id']}/").json()["tasks"] == run["tasks"]
    batches = api.get(
        "/run/", params={"page": 1, "page_size": 10, "parent_only": True, "run_type": "batch"}
    )
    assert batches.json() == []
    assert client.get(f"/run/{run['id']}/").json()["start_time"].endswith("+00:00")


def test_draft_saved_under_api_is_validated_at_run_start(
    api: httpx.Client, client: httpx.Client
) -> None:
    wf = new_spur(api)
    bad = node(
        "ask",
        "SingleLLMCallNode",
        llm_info={"model": "nope/model-x"},
        user_message="{{ input_node.input_1 ",
    )
    definition = {**wf["definition"], "nodes": [*wf["definition"]["nodes"], bad]}
    r = api.put(f"/wf/{wf['id']}/", json={"name": wf["name"], "definition": definition})
    assert r.status_code == 200, r.text
    r = api.post(f"/wf/{wf['id']}/start_run/", json={"initial_inputs": {}})
    assert r.status_code == 422
    msgs = [p["msg"] for p in r.json()["detail"]]
    assert any("node 'ask'" in m and "unknown provider prefix" in m for m in msgs), msgs
    assert any("node 'ask'" in m and "user_message: Jinja2 syntax error" in m for m in msgs), msgs
    assert api.get(f"/wf/{wf['id']}/runs/").json() == []
    # the same definition is refused at save on the root paths, naming the node
    r = client.post("/wf/", json={"name": "strict", "definition": definition})
    assert r.status_code == 422
    assert {p.get("node_id") for p in r.json()["detail"]} == {"ask"}
    msgs = [p["msg"] for p in r.json()["detail"]]
    assert any("unknown provider prefix" in m for m in msgs), msgs
    assert any("user_message: Jinja2 syntax error" in m for m in msgs), msgs
    names = [w["name"] for w in client.get("/wf/").json()]
    assert "strict" not in names and wf["name"] in names  # nothing half-written


def test_duplicate_output_variables_and_run_partial(api: httpx.Client, fake_llm: FakeLLM) -> None:
    wf = new_spur(api)
    ask = {**node("Ask", "SingleLLMCallNode", **LLM_CONFIG), "coordinates": {"x": 1, "y": 2}}
    definition = {
        **wf["definition"],
        "nodes": [wf["definition"]["nodes"][0], ask],
        "links": [{"source_id": "input_node", "target_id": "Ask"}],
    }
    api.put(f"/wf/{wf['id']}/", json={"name": "Otters", "definition": definition})
    copy = api.post(f"/wf/{wf['id']}/duplicate/")
    assert copy.status_code == 200
    assert copy.json()["name"] == "Otters (Copy)" and copy.json()["id"] != wf["id"]
    assert copy.json()["definition"]["nodes"][1]["config"] == ask["config"]
    assert api.get(f"/wf/{wf['id']}/output_variables/").json() == [
        {"node_id": "Ask", "variable_name": "output", "prefixed_variable": "Ask-output"}
    ]
    body = {
        "node_id": "Ask",
        "initial_inputs": {"input_node": {"input_1": "ignored"}},
        "partial_outputs": {"input_node": {"input_1": "beavers"}},
        "rerun_predecessors": False,
    }
    r = api.post(f"/wf/{wf['id']}/run_partial/", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["Ask"] == {"output": "answer 1"}
    assert fake_llm.chats()[0].body["messages"][-1]["content"] == "Say something about beavers"
    run_id = r.headers["location"].split("/")[2]
    run = api.get(f"/run/{run_id}/").json()
    assert run["run_type"] == "partial" and run["status"] == "COMPLETED"
    assert {t["node_id"]: t["status"] for t in run["tasks"]} == {
        "input_node": "COMPLETED",
        "Ask": "COMPLETED",
    }
    r = api.post(f"/wf/{wf['id']}/run_partial/", json={**body, "node_id": "nope"})
    assert r.status_code == 422 and "'nope' is not a top-level node" in r.text


def test_approvals_pause_history_and_approve(api: httpx.Client) -> None:
    definition = {
        "nodes": [
            node("in", "InputNode", output_schema={"text": "str"}),
            {**node("review", "HumanInterventionNode", message="Check it"), "coordinates": None},
        ],
        "links": [{"source_id": "in", "target_id": "review"}],
    }
    wf = api.post("/wf/", json={"name": "review", "definition": definition}).json()
    run_id = api.post(
        f"/wf/{wf['id']}/start_run/", json={"initial_inputs": {"in": {"text": "x"}}}
    ).json()["id"]
    wait_status(api, run_id, ("PAUSED",))
    paused = api.get("/wf/paused_workflows/", params={"page": 1, "page_size": 10}).json()
    assert [p["run"]["id"] for p in paused] == [run_id]
    assert paused[0]["current_pause"]["pause_message"] == "Check it"
    assert naive_datetimes(paused) == []
    assert_pyspur_definition(paused[0]["workflow"]["definition"])
    history = api.get(f"/wf/pause_history/{run_id}/").json()
    assert history[0]["node_id"] == "review" and naive_datetimes(history) == []
    action = {"inputs": {"ok": True}, "user_id": "ana", "action": "APPROVE", "comments": "fine"}
    r = api.post(f"/wf/process_pause_action/{run_id}/", json=action)
    assert r.status_code == 200 and naive_datetimes(r.json()) == []
    assert wait_status(api, run_id, FINAL)["status"] == "COMPLETED"


def test_templates_list_and_instantiate(api: httpx.Client) -> None:
    templates = api.get("/templates/").json()
    names = {t["name"] for t in templates}
    assert {"hello", "penguins"} <= names
    hello = next(t for t in templates if t["name"] == "hello")
    assert set(hello) == {"name", "description", "features", "file_name"}
    r = api.post("/templates/instantiate/", json=hello)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "hello"
    assert_pyspur_definition(r.json()["definition"])
    run = api.post(f"/wf/{r.json()['id']}/run/", json={"initial_inputs": {"in": {"name": "Ada"}}})
    assert run.status_code == 200, run.text
    for file_name in ("missing.json", "../pyproject.toml", "../examples/hello.json"):
        r = api.post("/templates/instantiate/", json={**hello, "file_name": file_name})
        assert r.status_code == 404, file_name


@pytest.fixture
def keyed_api(tmp_path: Path, backend: str) -> Any:
    """The /api client of a server with a secret key (provider keys are secrets)."""
    with (
        serving(tmp_path, backend, secret_key=generate_key()) as srv,
        httpx.Client(base_url=f"{srv.url}/api", timeout=60) as c,
    ):
        yield c


def test_provider_keys_through_env_mgmt(
    keyed_api: httpx.Client, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = keyed_api
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    providers = api.get("/env-mgmt/providers/").json()
    anthropic = next(p for p in providers if p["id"] == "anthropic")
    assert anthropic["parameters"][0]["name"] == "ANTHROPIC_API_KEY"
    assert "ANTHROPIC_API_KEY" in api.get("/env-mgmt/").json()
    assert api.get("/env-mgmt/ANTHROPIC_API_KEY").json() == {
        "name": "ANTHROPIC_API_KEY",
        "value": "",
    }
    secret = "sk-ant-0123456789abcdefWXYZ"
    r = api.post("/env-mgmt/", json={"name": "ANTHROPIC_API_KEY", "value": secret})
    assert r.status_code == 200
    shown = api.get("/env-mgmt/ANTHROPIC_API_KEY").json()["value"]
    assert shown.endswith("WXYZ") and secret not in shown and set(shown[:-4]) == {"*"}
    # a run uses the key; it appears in no run data
    config = {**LLM_CONFIG, "llm_info": {"model": "anthropic/claude-3-5-haiku-latest"}}
    definition = {
        "nodes": [
            {**node("in", "InputNode", output_schema={"input_1": "str"}), "title": "input_node"},
            node("ask", "SingleLLMCallNode", **config),
        ],
        "links": [{"source_id": "in", "target_id": "ask"}],
    }
    wf = api.post("/wf/", json={"name": "keyed", "definition": definition}).json()
    r = api.post(f"/wf/{wf['id']}/run/", json={"initial_inputs": {"in": {"input_1": "x"}}})
    assert r.status_code == 200, r.text
    assert fake_llm.chats()[0].headers["authorization"] == f"Bearer {secret}"
    run_id = api.get(f"/wf/{wf['id']}/runs/").json()[0]["id"]
    assert secret not in api.get(f"/run/{run_id}/").text
    # bad input
    assert (
        api.post("/env-mgmt/", json={"name": "ANTHROPIC_API_KEY", "value": ""}).status_code == 422
    )
    assert api.post("/env-mgmt/", json={"name": "NOT_A_KEY", "value": "x"}).status_code == 404
    assert api.delete("/env-mgmt/ANTHROPIC_API_KEY").status_code == 200
    assert api.delete("/env-mgmt/ANTHROPIC_API_KEY").status_code == 404
    assert api.get("/env-mgmt/anon-data/").json() is True


def test_loop_iterations_are_not_runs_of_the_workflow(
    client: httpx.Client, make_workflow: Callable[..., str]
) -> None:
    def n(nid: str, node_type: str, parent: str | None = None, **config: Any) -> dict[str, Any]:
        out = {
            "id": nid,
            "title": re.sub(r"_", "", nid.title()),
            "node_type": node_type,
            "config": config,
        }
        return {**out, "parent_id": parent} if parent else out

    wf = make_workflow(
        {
            "nodes": [
                n("in", "InputNode"),
                n("rep", "ForLoopNode", num_iterations=3),
                n("r_in", "InputNode", "rep"),
                n("r_out", "OutputNode", "rep", output_map={"i": "RIn.index"}),
            ],
            "links": [
                {"source_id": "in", "target_id": "rep"},
                {"source_id": "r_in", "target_id": "r_out"},
            ],
        }
    )
    r = client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"in": {}}})
    assert r.status_code == 200, r.text
    for prefix in ("", "/api"):
        runs = client.get(f"{prefix}/wf/{wf}/runs/").json()
        assert len(runs) == 1 and runs[0]["parent_run_id"] is None
    assert len(client.get("/run/", params={"workflow_id": wf}).json()) == 4


def test_header_versions_cancel_and_delete(api: httpx.Client, tmp_path: Any) -> None:
    wf = new_spur(api)
    versions = api.get(f"/wf/{wf['id']}/versions/", params={"page": 1, "page_size": 10})
    assert versions.status_code == 200
    [v1] = versions.json()
    assert v1["version"] == 1 and naive_datetimes(v1) == []
    assert_pyspur_definition(v1["definition"])
    assert api.get(f"/wf/{wf['id']}/").json()["definition"] == wf["definition"]
    # a run held by a sleeping node, canceled from the dashboard
    code = "import time\ntime.sleep(30)\nreturn {'ok': True}"
    definition = {
        **wf["definition"],
        "nodes": [*wf["definition"]["nodes"], node("slow", "PythonFuncNode", code=code)],
        "links": [{"source_id": "input_node", "target_id": "slow"}],
    }
    api.put(f"/wf/{wf['id']}/", json={"name": wf["name"], "definition": definition})
    run_id = api.post(f"/wf/{wf['id']}/start_run/", json={"initial_inputs": {}}).json()["id"]
    wait_status(api, run_id, ("RUNNING",))
    r = api.post(f"/wf/cancel_workflow/{run_id}/")
    assert r.status_code == 200 and r.json()["status"] == "CANCELED"
    assert naive_datetimes(r.json()) == []
    assert api.delete(f"/wf/{wf['id']}/").status_code == 204
    assert api.get(f"/wf/{wf['id']}/").status_code == 404


def test_calls_the_ui_makes_without_a_trailing_slash(api: httpx.Client, fake_llm: FakeLLM) -> None:
    # SettingsModal and the node sidebar call these paths directly; the key comes from
    # the server's environment (set by fake_llm) and is shown masked
    assert api.get("/env-mgmt/providers").status_code == 200
    r = api.get("/env-mgmt/OPENAI_API_KEY")
    assert r.status_code == 200 and r.json()["name"] == "OPENAI_API_KEY"
    assert r.json()["value"] == "*" * 21 + "6789"
