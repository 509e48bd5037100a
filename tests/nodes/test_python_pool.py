"""The PythonFuncNode pool's slots (docs/reliability.md#orphans-and-hogging): a burst
lane beside the regular processes, waiting not charged to the time limit, and a
canceled wait that gives its slot back."""

from __future__ import annotations

import asyncio
import time

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
