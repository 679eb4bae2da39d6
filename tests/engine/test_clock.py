"""The run's clock: the real one, and the jumping one tests use instead of real waits."""

from __future__ import annotations

import asyncio

from kbatch.engine.clock import JumpingClock, SystemClock


async def test_the_system_clock_waits_for_what_finishes_in_time() -> None:
    clock = SystemClock()
    event = asyncio.Event()
    asyncio.get_running_loop().call_soon(event.set)

    assert await clock.wait(event.wait(), 5.0) is True
    assert await clock.wait(asyncio.Event().wait(), 0.01) is None


async def test_the_jumping_clock_lets_ready_work_finish_first() -> None:
    clock = JumpingClock(start=10.0)
    event = asyncio.Event()
    asyncio.get_running_loop().call_soon(event.set)

    assert await clock.wait(event.wait(), 60.0) is True
    assert clock.time() == 10.0  # nothing ran out: time did not move


async def test_the_jumping_clock_jumps_to_the_end_of_a_wait_that_runs_out() -> None:
    clock = JumpingClock(start=10.0)
    loop = asyncio.get_running_loop()
    before = loop.time()

    assert await clock.wait(asyncio.Event().wait(), 3600.0) is None
    await clock.sleep(60.0)

    assert clock.time() == clock.monotonic() == 10.0 + 3600.0 + 60.0
    assert loop.time() - before < 5.0  # an hour of the run's time, in no real time
