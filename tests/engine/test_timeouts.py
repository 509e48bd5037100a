"""Time limits (SPEC §3 config.timeout_s, issue 2: a runaway loop fails its task only)."""

from __future__ import annotations

import asyncio
import time

from tests.engine._harness import execute, link, node, statuses

from spurline.engine.states import RunStatus


def test_runaway_python_code_times_out() -> None:
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("loop", "PythonFuncNode", code="while True:\n    pass", timeout_s=0.5),
            node("after"),
            node("other", "PythonFuncNode", code="return {'fine': True}"),
        ],
        "links": [link("in", "loop"), link("loop", "after"), link("in", "other")],
    }
    began = time.monotonic()
    status, run, tasks = asyncio.run(execute(definition))
    # Generous: the point is that it ends at all, not how fast (no speed assertions here).
    assert time.monotonic() - began < 30
    assert status is RunStatus.FAILED
    assert statuses(tasks) == {
        "in": ("COMPLETED", None),
        "loop": ("FAILED", "TimeoutError: the code ran longer than 0.5 s"),
        "after": ("CANCELED", None),
        "other": ("COMPLETED", None),
    }
    assert run.message == "Node 'loop' failed: TimeoutError: the code ran longer than 0.5 s"
    # The pool replaced the killed worker: Python nodes still run.
    status, _, tasks = asyncio.run(
        execute(
            {
                "nodes": [
                    node("in", "InputNode"),
                    node("p", "PythonFuncNode", code="return {'x': 1}"),
                ],
                "links": [link("in", "p")],
            }
        )
    )
    assert status is RunStatus.COMPLETED
    assert tasks["p"].outputs == {"x": 1}


def test_async_node_past_its_time_limit_fails() -> None:
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("slow", "TestAsyncProbeNode", sleep_s=30, timeout_s=0.05),
        ],
        "links": [link("in", "slow")],
    }
    status, _, tasks = asyncio.run(execute(definition))
    assert status is RunStatus.FAILED
    assert statuses(tasks)["slow"] == ("FAILED", "TimeoutError: ran longer than 0.05 s")


def test_timeout_is_retried_like_any_failure() -> None:
    definition = {
        "nodes": [
            node("in", "InputNode"),
            node("slow", "TestAsyncProbeNode", sleep_s=30, timeout_s=0.02, max_retries=1),
        ],
        "links": [link("in", "slow")],
    }
    status, _, tasks = asyncio.run(execute(definition))
    assert status is RunStatus.FAILED
    assert tasks["slow"].attempts == 2
