"""The PythonFuncNode pool (docs/reliability.md#orphans-and-hogging): a burst lane
beside the regular processes, waiting not charged to the time limit, a canceled wait
that gives its slot back; and its workers: inputs past a socket buffer, a worker that
dies or times out and is replaced, event loops of several threads, close()."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

from spurline.exceptions import NodeFailed, NodeTimeout
from spurline.nodes._sandbox import PythonPool

SLEEP_1S = "import time\ntime.sleep(1)\nreturn {'slept': True}"
SLEEP_3S = "import time\ntime.sleep(3)\nreturn {'slept': True}"
QUICK = "return {'quick': True}"


def test_burst_lane_runs_a_call_while_the_regular_process_is_busy() -> None:
    async def main() -> float:
        pool = PythonPool(1, burst=1)
        try:
            busy = asyncio.create_task(pool.call(SLEEP_3S, {}, 30))
            await asyncio.sleep(0.5)
            began = time.monotonic()
            assert await pool.call(QUICK, {}, 30) == {"quick": True}
            took = time.monotonic() - began
            assert await busy == {"slept": True}
            return took
        finally:
            pool.close()

    # the burst lane starts its process for this call; the regular one is busy for 3 s
    assert asyncio.run(main()) < 2.5


def test_waiting_for_a_slot_is_not_charged_to_the_time_limit() -> None:
    async def main() -> tuple[float, dict[str, bool]]:
        pool = PythonPool(1)
        try:
            await pool.call(QUICK, {}, 30)
            busy = asyncio.create_task(pool.call(SLEEP_1S, {}, 30))
            await asyncio.sleep(0.1)
            began = time.monotonic()
            # waits about 0.9 s for the only process, longer than its own 0.5 s limit
            out = await pool.call(QUICK, {}, 0.5)
            await busy
            return time.monotonic() - began, out
        finally:
            pool.close()

    waited, out = asyncio.run(main())
    assert out == {"quick": True}
    assert waited > 0.5


def test_a_canceled_wait_gives_its_slot_back() -> None:
    async def main() -> dict[str, bool]:
        pool = PythonPool(1)
        try:
            busy = asyncio.create_task(pool.call(SLEEP_1S, {}, 30))
            await asyncio.sleep(0.1)
            waiting = asyncio.create_task(pool.call(QUICK, {}, 30))
            await asyncio.sleep(0.1)
            waiting.cancel()
            await busy
            # one process, and it is free: a lost slot would make this wait for ever
            return await asyncio.wait_for(pool.call(QUICK, {}, 30), 20)
        finally:
            pool.close()

    assert asyncio.run(main()) == {"quick": True}


def test_an_input_bigger_than_the_socket_buffer_goes_whole_both_ways() -> None:
    big = "x" * (4 << 20)  # far past a Unix socket's buffer: sent as the worker reads

    async def main() -> dict[str, int]:
        pool = PythonPool(1)
        try:
            code = "return {'n': len(input_model.In.text), 'echo': input_model.In.text}"
            out = await pool.call(code, {"In": {"text": big}}, 30)
            return {"n": out["n"], "same": int(out["echo"] == big)}
        finally:
            pool.close()

    assert asyncio.run(main()) == {"n": 4 << 20, "same": 1}


def test_a_worker_that_dies_fails_its_call_with_its_exit_code_and_is_replaced() -> None:
    async def main() -> tuple[str, dict[str, bool]]:
        pool = PythonPool(1)
        try:
            with pytest.raises(NodeFailed) as died:
                await pool.call("import os\nos._exit(7)", {}, 30)
            return str(died.value), await pool.call(QUICK, {}, 30)
        finally:
            pool.close()

    message, after = asyncio.run(main())
    assert message == "ProcessExpired: the code's process died (exit code 7)"
    assert after == {"quick": True}


def test_a_timeout_kills_the_worker_and_the_next_call_gets_a_fresh_one() -> None:
    async def main() -> tuple[str, set[int]]:
        pool = PythonPool(1)
        pids = "import os\nreturn {'pid': os.getpid()}"
        try:
            first = (await pool.call(pids, {}, 30))["pid"]
            with pytest.raises(NodeTimeout) as late:
                await pool.call(SLEEP_3S, {}, 0.3)
            second = (await pool.call(pids, {}, 30))["pid"]
            return str(late.value), {first, second}
        finally:
            pool.close()

    message, pids = asyncio.run(main())
    assert message == "TimeoutError: the code ran longer than 0.3 s"
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_event_loops_of_several_threads_share_the_pool() -> None:
    pool = PythonPool(2)
    code = "return {'twice': input_model.In.n * 2}"
    results: dict[int, list[int]] = {}

    def thread(k: int) -> None:
        async def main() -> list[int]:
            outs = [await pool.call(code, {"In": {"n": k * 100 + i}}, 30) for i in range(20)]
            return [o["twice"] for o in outs]

        results[k] = asyncio.run(main())

    try:
        threads = [threading.Thread(target=thread, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        pool.close()
    assert results == {k: [(k * 100 + i) * 2 for i in range(20)] for k in range(3)}


def test_close_fails_a_call_in_flight_and_the_pool_starts_again_after() -> None:
    async def main() -> tuple[str, dict[str, bool]]:
        pool = PythonPool(1)
        try:
            busy = asyncio.create_task(pool.call(SLEEP_3S, {}, 30))
            await asyncio.sleep(0.5)
            began = time.monotonic()
            pool.close()
            with pytest.raises(NodeFailed) as stopped:
                await busy
            assert time.monotonic() - began < 2  # not left to its 3 s sleep
            return str(stopped.value), await pool.call(QUICK, {}, 30)
        finally:
            pool.close()

    message, after = asyncio.run(main())
    assert message == "ProcessExpired: the code's process died (exit code -9)"
    assert after == {"quick": True}


def test_a_worker_serves_call_after_call_even_when_every_slot_is_busy() -> None:
    pid = "import os\nreturn {'pid': os.getpid()}"

    async def main() -> tuple[set[int], set[int]]:
        one, two = PythonPool(1), PythonPool(2)
        try:
            alone = {(await one.call(pid, {}, 30))["pid"] for _ in range(10)}
            pairs: set[int] = set()
            for _ in range(10):  # both slots busy at once, every round
                outs = await asyncio.gather(two.call(pid, {}, 30), two.call(pid, {}, 30))
                pairs |= {o["pid"] for o in outs}
            return alone, pairs
        finally:
            one.close()
            two.close()

    alone, pairs = asyncio.run(main())
    assert len(alone) == 1  # a process started per call would cost a start-up per node
    assert len(pairs) == 2
