"""An LLM node's answer streams into its task's logs and the run's event stream while
the task runs (docs/pyspur.md, "Streamed answers"), on every deployment."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from tests.api._sse import read_events
from tests.conftest import LiveServer, serving

from _fake_llm import FakeLLM, Reply
from spurline.engine.nodetype import NodeContext
from spurline.nodes.llm._stream import LONGEST_WORD, AnswerStream
from spurline.services.secrets import generate_key

WORDS = 60


def llm_flow(config: dict[str, Any]) -> dict[str, Any]:
    """An InputNode ``in`` feeding a SingleLLMCallNode ``ask`` with ``config``."""
    return {
        "nodes": [
            {"id": "in", "node_type": "InputNode", "config": {}},
            {"id": "ask", "node_type": "SingleLLMCallNode", "config": config},
        ],
        "links": [{"source_id": "in", "target_id": "ask"}],
    }


def test_sse_client_sees_the_answer_stream_in_before_the_task_completes(
    server: LiveServer, fake_llm: FakeLLM
) -> None:
    answer = json.dumps({"line": " ".join(f"word{i:03}" for i in range(WORDS))})
    chunks = -(-len(answer) // 8)  # the fake sends 8 characters at a time
    fake_llm.push(Reply(content=answer, chunk_delay_s=0.05))
    definition = llm_flow(
        {
            "llm_info": {"model": "openai/gpt-4o-mini"},
            "user_message": "Sixty words on {{ in.topic }}.",
            "output_schema": {"line": "string"},
        }
    )
    with httpx.Client(base_url=server.url, timeout=60) as client:
        wf = client.post("/wf/", json={"name": "stream", "definition": definition}).json()["id"]
        r = client.post(f"/wf/{wf}/start_run/", json={"initial_inputs": {"in": {"topic": "x"}}})
        assert r.status_code == 200, r.text
        run_id = r.json()["id"]
        streamed: list[dict[str, Any]] = []
        status_at_first_chunk = None
        completed_after = None
        with client.stream("GET", f"/run/{run_id}/events/") as events:
            for e in read_events(events):
                if e.event == "log" and e.data["stream"] == "llm":
                    if not streamed:
                        view = client.get(f"/run/{run_id}/").json()
                        ask = next(t for t in view["tasks"] if t["node_id"] == "ask")
                        status_at_first_chunk = ask["status"]
                    streamed.append(e.data)
                if e.event == "task" and (e.data["node_id"], e.data["status"]) == (
                    "ask",
                    "COMPLETED",
                ):
                    completed_after = len(streamed)
        view = client.get(f"/run/{run_id}/").json()
        [call] = client.get(f"/run/{run_id}/llm_calls/").json()
        logs = client.get(f"/run/{run_id}/logs/", params={"node": "ask"}).json()
    assert view["status"] == "COMPLETED", view["message"]
    ask = next(t for t in view["tasks"] if t["node_id"] == "ask")
    # seen while the task ran, every chunk before the task's COMPLETED event
    assert status_at_first_chunk == "RUNNING"
    assert completed_after == len(streamed)
    text = "".join(d["line"] for d in streamed)
    assert text == answer == call["answer"]
    assert json.loads(text) == ask["outputs"]
    # batched: fewer lines than the provider sent chunks, each ends between words
    assert 2 <= len(streamed) < chunks
    assert all(d["line"][-1].isspace() for d in streamed[:-1])
    assert {(d["attempt"], d["level"], d["task_id"]) for d in streamed} == {(1, "INFO", ask["id"])}
    # the same lines are the task's logs
    assert [ln["line"] for ln in logs if ln["stream"] == "llm"] == [d["line"] for d in streamed]
    # usage comes with the streamed answer
    assert call["completion_tokens"] == len(answer) // 4 + 1


def test_a_word_is_never_split_and_a_long_one_is_not_held_back() -> None:
    published: list[tuple[str, str]] = []

    async def publish(stream: str, text: str) -> None:
        published.append((stream, text))

    ctx = NodeContext(run_id="R", node_id="ask", initial_inputs={}, publish=publish)
    ticks = iter(range(0, 100))
    out = AnswerStream(ctx, "llm", clock=lambda: float(next(ticks)))  # 1 s per look

    async def feed() -> None:
        for piece in ["sk-abc", "def gh", "i\njk", "l"]:
            await out.add(piece)
        await out.add("x" * (LONGEST_WORD + 1))
        await out.close()

    asyncio.run(feed())
    lines = [t for _, t in published]
    assert lines[:2] == ["sk-abcdef ", "ghi\n"]
    assert "".join(lines) == "sk-abcdef ghi\njkl" + "x" * (LONGEST_WORD + 1)
    assert len(lines) == 3  # the over-long word goes out without waiting for its end
    assert {s for s, _ in published} == {"llm"}


def test_streamed_lines_past_the_log_cap_stop_with_one_marker(
    fake_llm: FakeLLM, tmp_path: Any
) -> None:
    answer = json.dumps({"line": "x " * 1500})
    # the same answer to a retried call too: a call cut short on a loaded machine is
    # retried, and the fake's default answer is too short to reach the cap
    fake_llm.push(*[Reply(content=answer, chunk_delay_s=0.01)] * 3)
    definition = llm_flow({"output_schema": {"line": "string"}})
    with (
        serving(tmp_path, "sqlite", log_cap_bytes=1024) as srv,
        httpx.Client(base_url=srv.url, timeout=60) as client,
    ):
        wf = client.post("/wf/", json={"name": "cap", "definition": definition}).json()["id"]
        r = client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"in": {}}})
        assert r.status_code == 200, r.text
        run_id = client.get("/run/").json()[0]["id"]
        logs = client.get(f"/run/{run_id}/logs/", params={"page_size": 1000}).json()
    assert sum(len(ln["line"]) for ln in logs if ln["stream"] == "llm") <= 1024
    assert [ln["line"] for ln in logs if ln["stream"] == "meta"] == [
        "… streamed output past 1024 bytes not stored …"
    ]


def test_a_secret_in_a_streamed_answer_is_masked_everywhere(
    fake_llm: FakeLLM, tmp_path: Any
) -> None:
    secret = "sk-proj-streamed0123456789SECRET"
    answer = json.dumps({"line": f"the key is {secret} as you asked"})
    fake_llm.push(Reply(content=answer, chunk_delay_s=0.02))
    definition = llm_flow({"output_schema": {"line": "string"}, "user_message": "The key?"})
    with (
        serving(tmp_path, "sqlite", secret_key=generate_key()) as srv,
        httpx.Client(base_url=srv.url, timeout=60) as client,
    ):
        r = client.post("/env-mgmt/", json={"name": "OPENAI_API_KEY", "value": secret})
        assert r.status_code == 200, r.text
        wf = client.post("/wf/", json={"name": "s", "definition": definition}).json()["id"]
        r = client.post(f"/wf/{wf}/run/", json={"initial_inputs": {"in": {}}})
        assert r.status_code == 200, r.text
        assert fake_llm.chats()[0].headers["authorization"] == f"Bearer {secret}"
        run_id = client.get("/run/").json()[0]["id"]
        seen = {
            path: client.get(path).text
            for path in (f"/run/{run_id}/", f"/run/{run_id}/logs/", f"/run/{run_id}/llm_calls/")
        }
        with client.stream("GET", f"/run/{run_id}/events/") as events:
            seen["events"] = "\n".join(json.dumps(e.data) for e in read_events(events))
    for where, text in seen.items():
        assert secret not in text, where
    logs = json.loads(seen[f"/run/{run_id}/logs/"])
    streamed = "".join(ln["line"] for ln in logs if ln["stream"] == "llm")
    assert streamed == answer.replace(secret, "***")
    [call] = json.loads(seen[f"/run/{run_id}/llm_calls/"])
    assert call["answer"] == answer.replace(secret, "***")
