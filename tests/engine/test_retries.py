"""Retries (SPEC §3: config.max_retries, retry_delay_s; STYLE habit 6)."""

from __future__ import annotations

import asyncio

import pytest
from tests.engine._harness import CALLS, execute, link, node, statuses

from spurline.engine.states import RunStatus


def flaky(node_type: str, **config: object) -> dict[str, object]:
    return {
        "nodes": [node("in", "InputNode"), node("f", node_type, **config), node("after")],
        "links": [link("in", "f"), link("f", "after")],
    }


@pytest.mark.parametrize("node_type", ["TestProbeNode", "TestAsyncProbeNode"])
def test_retries_until_success(node_type: str) -> None:
    definition = flaky(node_type, fail_times=2, max_retries=2, retry_delay_s=0.001)
    status, _, tasks = asyncio.run(execute(definition))
    assert status is RunStatus.COMPLETED
    assert len(CALLS["f"]) == 3
    assert tasks["f"].attempts == 3
    assert statuses(tasks)["f"] == ("COMPLETED", None)
    assert tasks["f"].outputs == {"ok": True}
    assert CALLS["after"] == [{"f": {"ok": True}}]


@pytest.mark.parametrize("node_type", ["TestProbeNode", "TestAsyncProbeNode"])
def test_retries_exhausted_fail_with_the_last_error(node_type: str) -> None:
    definition = flaky(node_type, fail_times=10, max_retries=2)
    status, run, tasks = asyncio.run(execute(definition))
    assert status is RunStatus.FAILED
    assert len(CALLS["f"]) == 3
    assert tasks["f"].attempts == 3
    assert statuses(tasks)["f"] == ("FAILED", "ValueError: probe failed (call 3)")
    assert run.message == "Node 'f' failed: ValueError: probe failed (call 3)"
    assert "after" not in CALLS


def test_no_retries_by_default() -> None:
    status, _, tasks = asyncio.run(execute(flaky("TestProbeNode", fail_times=1)))
    assert status is RunStatus.FAILED
    assert len(CALLS["f"]) == 1
    assert tasks["f"].attempts == 1


def test_non_retryable_error_is_not_retried() -> None:
    definition = flaky("TestAsyncProbeNode", fail_times=5, retryable=False, max_retries=4)
    status, _, tasks = asyncio.run(execute(definition))
    assert status is RunStatus.FAILED
    assert len(CALLS["f"]) == 1
    assert statuses(tasks)["f"] == ("FAILED", "NodeFailed: probe failed")


def test_output_json_cannot_hold_is_not_retried() -> None:
    definition = flaky("TestProbeNode", bad_output="set", max_retries=3)
    status, _, tasks = asyncio.run(execute(definition))
    assert status is RunStatus.FAILED
    assert len(CALLS["f"]) == 1
    assert (
        statuses(tasks)["f"][1]
        == "OutputNotJSON: output.x is of type set, which JSON cannot represent"
    )
