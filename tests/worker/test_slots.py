"""Worker slots (docs/reliability.md#no-starvation): a run waiting on other runs holds
no slot, and takes one again before it goes on."""

from __future__ import annotations

import asyncio

from spurline.scaleout.slots import RunSlot, Slots, waiting_on_runs


async def _in_run(slot: RunSlot, body: asyncio.Future[None]) -> None:
    token = slot.bind()
    try:
        await asyncio.create_task(_wait_on(body))
    finally:
        slot.unbind(token)


async def _wait_on(body: asyncio.Future[None]) -> None:
    async with waiting_on_runs():
        await body


def test_a_waiting_parent_gives_its_only_slot_to_its_child() -> None:
    async def scenario() -> None:
        slots = Slots(1)
        parent = await slots.take()
        child_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting = asyncio.create_task(_in_run(parent, child_done))
        await asyncio.wait_for(parent.parked.wait(), 1)
        assert not parent.held
        child = await asyncio.wait_for(slots.take(), 1)  # the parent's slot
        child_done.set_result(None)
        await asyncio.sleep(0.01)
        assert not waiting.done()  # the parent waits for the slot to be free again
        child.end()
        await asyncio.wait_for(waiting, 1)
        assert parent.held
        parent.end()
        assert not parent.held
        await asyncio.wait_for(slots.take(), 1)

    asyncio.run(scenario())


def test_overlapping_waits_give_back_once_and_take_once() -> None:
    async def scenario() -> None:
        slots = Slots(1)
        run = await slots.take()
        token = run.bind()
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        second: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waits = [asyncio.create_task(_wait_on(f)) for f in (first, second)]
        run.unbind(token)
        await asyncio.sleep(0)
        assert not run.held
        first.set_result(None)
        await waits[0]
        assert not run.held  # still waiting on the second run
        other = await asyncio.wait_for(slots.take(), 1)  # the one slot is free
        other.end()
        second.set_result(None)
        await asyncio.wait_for(waits[1], 1)
        assert run.held
        assert slots._free is not None and slots._free.locked()

    asyncio.run(scenario())


def test_a_canceled_wait_takes_no_slot_back() -> None:
    async def scenario() -> None:
        slots = Slots(1)
        run = await slots.take()
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        token = run.bind()
        wait = asyncio.create_task(_wait_on(never))
        run.unbind(token)
        await asyncio.sleep(0)
        holder = await slots.take()  # a child holds the only slot
        wait.cancel()
        await asyncio.gather(wait, return_exceptions=True)
        assert wait.cancelled() and not run.held
        holder.end()
        run.end()  # nothing held: nothing given back twice
        assert slots._free is not None and not slots._free.locked()
        await slots.take()
        assert slots._free.locked()

    asyncio.run(scenario())
