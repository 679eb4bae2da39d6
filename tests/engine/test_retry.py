"""The one retry helper: how long it waits, when it gives up, and that it waits on the run's
clock (so these tests take no real time)."""

from __future__ import annotations

import random

import pytest

from kbatch.engine.clock import JumpingClock
from kbatch.engine.pacing import Pacing
from kbatch.engine.retry import Backoff, GaveUp, backoff
from kbatch.errors import RetryLater

PACING = Pacing(backoff_base=1.0, backoff_cap=8.0, transient_limit=4)


def test_the_pause_grows_with_each_failure_up_to_the_cap() -> None:
    rng = random.Random(7)
    ceilings = [1.0, 2.0, 4.0, 8.0, 8.0]
    for failures, ceiling in enumerate(ceilings, start=1):
        waits = [backoff(failures, PACING, rng=rng) for _ in range(200)]
        assert max(waits) <= ceiling
        assert max(waits) > ceiling * 0.8  # full jitter reaches near the ceiling


def test_a_retry_after_and_a_least_wait_are_honoured() -> None:
    steps = Backoff(PACING, rng=random.Random(1), clock=JumpingClock())
    assert steps.delay(RetryLater("slow down", retry_after=30.0)) == 30.0
    assert steps.delay(RetryLater("1303"), least=5.0) >= 5.0


def test_it_gives_up_after_transient_limit_failures_in_a_row() -> None:
    steps = Backoff(PACING, rng=random.Random(1), clock=JumpingClock())
    error = RetryLater("5000")
    for _ in range(PACING.transient_limit - 1):
        steps.delay(error)
    with pytest.raises(GaveUp) as gave_up:
        steps.delay(error)
    assert gave_up.value.error is error


def test_a_success_in_between_starts_the_count_again() -> None:
    steps = Backoff(PACING, rng=random.Random(1), clock=JumpingClock())
    for _ in range(3 * PACING.transient_limit):
        steps.delay(RetryLater("5000"))
        steps.reset()
    assert steps.failures == 0


async def test_pause_waits_on_the_clock_and_announces_the_wait() -> None:
    clock = JumpingClock(start=0.0)
    steps = Backoff(PACING, rng=random.Random(3), clock=clock)
    announced: list[float] = []

    await steps.pause(RetryLater("busy", retry_after=20.0), announce=announced.append)

    assert announced == [20.0]
    assert clock.time() == 20.0
