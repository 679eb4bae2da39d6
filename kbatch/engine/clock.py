"""Time, injectable: the engine and the poller ask a :class:`Clock`, never ``time`` or the loop
directly, so that a test of timeouts and polling runs on a :class:`JumpingClock` in no real time.

>>> import asyncio
>>> clock = JumpingClock(start=100.0)
>>> async def late() -> bool | None:
...     return await clock.wait(asyncio.Event().wait(), 30.0)
>>> asyncio.run(late()), clock.time()
(None, 130.0)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds (Unix time): for records and deadlines kept in the state."""
        ...

    def monotonic(self) -> float:
        """Seconds that never go back: for intervals within a run."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    async def wait(self, awaitable: Awaitable[T], seconds: float) -> T | None:
        """Await ``awaitable`` for at most ``seconds``: its result, or None if the time ran out
        first (it is then cancelled)."""
        ...


class SystemClock:
    """The real clock: ``time.time``, the event loop's clock, ``asyncio.sleep``."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait(self, awaitable: Awaitable[T], seconds: float) -> T | None:
        try:
            async with asyncio.timeout(seconds):  # no task per wait, unlike wait_for
                return await awaitable
        except TimeoutError:
            return None


class JumpingClock:
    """A clock for tests: every sleep and every wait that would run out moves time forward at
    once to its end, after letting the event loop turn (so that ready work finishes first).
    Work that needs real time (a request on loopback) still gets it; only waiting is skipped."""

    def __init__(self, start: float | None = None, *, turns: int = 20) -> None:
        self._now = time.time() if start is None else start  # records keep plausible times
        self._turns = turns

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)
        self.advance(seconds)

    async def wait(self, awaitable: Awaitable[T], seconds: float) -> T | None:
        task = asyncio.ensure_future(awaitable)
        for _ in range(self._turns):
            if task.done():
                break
            await asyncio.sleep(0)
        if task.done():
            return task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        self.advance(seconds)
        return None


class ScaledClock:
    """Real time, sped up: ``speed`` seconds pass for every real second. For benchmarks and
    tests of timing: a simulator given the same clock (``SimulatorConfig(clock=clock.monotonic)``)
    runs tasks of minutes in seconds while every pause of the engine shrinks alike. Rates the
    engine does not take from the clock (``submit_per_minute``) must be scaled by hand.

    >>> clock = ScaledClock(600.0)
    >>> asyncio.run(clock.sleep(60.0))   # a minute, in a tenth of a real second
    """

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._real = time.monotonic()
        self._wall = time.time()

    def monotonic(self) -> float:
        return (time.monotonic() - self._real) * self.speed

    def time(self) -> float:
        return self._wall + self.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)

    async def wait(self, awaitable: Awaitable[T], seconds: float) -> T | None:
        try:
            async with asyncio.timeout(seconds / self.speed):
                return await awaitable
        except TimeoutError:
            return None


__all__ = ["Clock", "JumpingClock", "ScaledClock", "SystemClock"]
