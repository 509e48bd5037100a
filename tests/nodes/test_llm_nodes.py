"""LLM nodes against the fake OpenAI-compatible provider (tests/_fake_llm.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from _fake_llm import FakeLLM, Reply

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


def llm_flow(config: dict[str, Any], node_type: str = "SingleLLMCallNode") -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "in", "node_type": "InputNode", "config": {"output_schema": {"topic": "str"}}},
            {"id": "ask", "node_type": node_type, "config": config},
        ],
        "links": [{"source_id": "in", "target_id": "ask"}],
    }


def run(client: httpx.Client, wf: str, topic: str = "cats") -> dict[str, Any]:
    r = client.post(f"/wf/{wf}/start_run/", json={"initial_inputs": {"in": {"topic": topic}}})
    assert r.status_code == 200, r.text
    run_id = r.json()["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = client.get(f"/run/{run_id}/").json()
        if body["status"] in ("COMPLETED", "FAILED", "CANCELED"):
            return dict(body)
        time.sleep(0.05)
    raise AssertionError("run did not finish")


def task(view: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(t for t in view["tasks"] if t["node_id"] == node_id)


BASE = {
    "llm_info": {"model": "openai/gpt-4o-mini", "temperature": 0.2, "max_tokens": 64},
    "system_message": "You write about {{ in.topic }}.",
    "user_message": "One line on {{ in.topic | upper }}.",
    "output_schema": {"line": "string"},
}


def test_single_call_renders_prompts_and_returns_the_validated_answer(
    client: httpx.Client, make_workflow: Callable[..., str], fake_llm: FakeLLM
) -> None:
    config = {**BASE, "few_shot_examples": [{"input": "dogs?", "output": '{"line": "woof"}'}]}
    view = run(client, make_workflow(llm_flow(config)))
    assert view["status"] == "COMPLETED", view["message"]
    assert task(view, "ask")["outputs"] == {"line": "answer 1"}
    [seen] = fake_llm.chats()
    assert seen.headers["authorization"] == "Bearer sk-test-openai-0123456789"
    body = seen.body
    assert body["model"] == "gpt-4o-mini"
    assert body["temperature"] == 0.2 and body["max_tokens"] == 64
    assert body["messages"] == [
        {"role": "system", "content": "You write about cats."},
        {"role": "user", "content": "dogs?"},
        {"role": "assistant", "content": '{"line": "woof"}'},
        {"role": "user", "content": "One line on CATS."},
    ]
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["properties"] == {"line": {"type": "string"}}
    # the call is recorded with its task: prompts, model, usage, cost, latency
    [call] = client.get(f"/run/{view['id']}/llm_calls/").json()
    assert call["task_id"] == task(view, "ask")["id"] and call["node_id"] == "ask"
    assert call["model"] == "openai/gpt-4o-mini" and call["provider"] == "openai"
    assert call["messages"] == body["messages"]
    assert call["answer"] == '{"line": "answer 1"}'
    prompt_chars = sum(len(m["content"]) for m in body["messages"])
    assert call["prompt_tokens"] == prompt_chars // 4 + 1
    assert call["completion_tokens"] == len(call["answer"]) // 4 + 1
    # gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output tokens
    expected = (call["prompt_tokens"] * 0.15 + call["completion_tokens"] * 0.60) / 1e6
    assert call["cost_usd"] == pytest.approx(expected)
    assert 0 < call["latency_s"] < 10
    assert "sk-test" not in client.get(f"/run/{view['id']}/llm_calls/").text
    assert client.delete(f"/run/{view['id']}/").status_code == 204
    assert client.get(f"/run/{view['id']}/llm_calls/").status_code == 404


def test_429_with_retry_after_is_waited_for_then_retried(
    client: httpx.Client, make_workflow: Callable[..., str], fake_llm: FakeLLM
) -> None:
    fake_llm.push(Reply(429, headers={"Retry-After": "1"}), Reply(503))
    view = run(client, make_workflow(llm_flow(BASE)))
    assert view["status"] == "COMPLETED", view["message"]
    first, second, third = fake_llm.chats()
    assert second.at - first.at >= 0.95  # Retry-After honoured
    assert third.headers.get("x-stainless-retry-count") == "2"


def test_answer_not_fitting_the_schema_is_retried_then_fails_with_the_raw_answer(
    client: httpx.Client, make_workflow: Callable[..., str], fake_llm: FakeLLM
) -> None:
    fake_llm.push(*[Reply(content="Sure! Here is a line: cats nap") for _ in range(2)])
    view = run(client, make_workflow(llm_flow({**BASE, "max_retries": 1})))
    assert view["status"] == "FAILED"
    error = task(view, "ask")["error"]
    assert error.startswith("InvalidAnswer: not JSON")
    assert "Sure! Here is a line: cats nap" in error
    assert len(fake_llm.chats()) == 2


def test_malformed_body_is_retried(
    client: httpx.Client, make_workflow: Callable[..., str], fake_llm: FakeLLM
) -> None:
    fake_llm.push(Reply(body=b'{"choices": [oops'))
    view = run(client, make_workflow(llm_flow(BASE)))
    assert view["status"] == "COMPLETED", view["message"]
    assert len(fake_llm.chats()) == 2


def test_forbidden_attribute_fails_the_task_and_the_sandbox_holds(
    client: httpx.Client, make_workflow: Callable[..., str], fake_llm: FakeLLM
) -> None:
    config = {**BASE, "user_message": "{{ in.topic.__class__.__mro__[1].__subclasses__() }}"}
    view = run(client, make_workflow(llm_flow(config)))
    assert view["status"] == "FAILED"
    error = task(view, "ask")["error"]
    assert error.startswith("TemplateSecurityError: user_message:"), error
    assert "__class__" in error
    assert fake_llm.chats() == []


def test_timeout_s_is_honoured(
    client: httpx.Client, make_workflow: Callable[..., str], fake_llm: FakeLLM
) -> None:
    fake_llm.push(*[Reply(delay_s=20) for _ in range(5)])
    view = run(client, make_workflow(llm_flow({**BASE, "timeout_s": 0.5, "max_retries": 0})))
    assert view["status"] == "FAILED"
    ask = task(view, "ask")
    assert "Timeout" in ask["error"]
    # cut off long before the provider's 20 s answer
    took = datetime.fromisoformat(ask["end_time"]) - datetime.fromisoformat(ask["start_time"])
    assert took.total_seconds() < 10


def test_timeout_s_cuts_off_an_answer_that_stalls_while_streaming(
    client: httpx.Client, make_workflow: Callable[..., str], fake_llm: FakeLLM
) -> None:
    # the answer starts at once, then trickles: 8 characters a second
    fake_llm.push(Reply(content='{"line": "' + "word " * 80 + '"}', chunk_delay_s=1))
    view = run(client, make_workflow(llm_flow({**BASE, "timeout_s": 4.5, "max_retries": 0})))
    assert view["status"] == "FAILED"
    ask = task(view, "ask")
    assert ask["error"].startswith("TimeoutError: ran longer than 4.5 s"), ask["error"]
    took = datetime.fromisoformat(ask["end_time"]) - datetime.fromisoformat(ask["start_time"])
    assert took.total_seconds() < 20  # not the 52 s the whole answer would take
    # what streamed in before the cut is in the task's logs
    logs = client.get(f"/run/{view['id']}/logs/", params={"node": "ask"}).json()
    streamed = "".join(ln["line"] for ln in logs if ln["stream"] == "llm")
    assert streamed.startswith('{"line": "word ')


@pytest.mark.parametrize("value", [None, ""])
def test_missing_or_empty_key_is_a_task_error_naming_the_variable(
    client: httpx.Client,
    make_workflow: Callable[..., str],
    fake_llm: FakeLLM,
    monkeypatch: pytest.MonkeyPatch,
    value: str | None,
) -> None:
    if value is None:
        monkeypatch.delenv("ANTHROPIC_API_KEY")
    else:
        monkeypatch.setenv("ANTHROPIC_API_KEY", value)
    config = {**BASE, "llm_info": {"model": "anthropic/claude-3-5-haiku-latest"}}
    view = run(client, make_workflow(llm_flow(config)))
    assert view["status"] == "FAILED"
    state = "is not set" if value is None else "is empty"
    assert task(view, "ask")["error"].startswith(f"MissingKey: ANTHROPIC_API_KEY {state}")
    assert fake_llm.chats() == []


def test_best_of_n_keeps_the_best_rated_sample(
    client: httpx.Client, make_workflow: Callable[..., str], fake_llm: FakeLLM
) -> None:
    config = {**BASE, "samples": 3, "rating_prompt": "Rate it 0-10.", "rating_max_tokens": 8}
    view = run(client, make_workflow(llm_flow(config, "BestOfNNode")))
    assert view["status"] == "COMPLETED", view["message"]
    chats = fake_llm.chats()
    assert len(chats) == 6
    ratings = [c for c in chats if c.body["messages"][0]["content"].startswith("Rate it")]
    assert len(ratings) == 3 and all(c.body["max_tokens"] == 8 for c in ratings)
    assert task(view, "ask")["outputs"] == {"line": "answer 3"}
