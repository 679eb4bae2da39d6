"""Slots, budget and backoff: the engine's pacing, by itself."""

from __future__ import annotations

import asyncio
import random

import pytest

from kbatch.engine.pacing import Budget, Pacing, Slots
from kbatch.engine.retry import backoff


async def test_slots_are_handed_out_in_order_and_never_over_the_target() -> None:
    slots = Slots(4)
    await slots.acquire(3)
    order: list[str] = []

    async def take(name: str, count: int) -> None:
        await slots.acquire(count)
        order.append(name)

    big = asyncio.create_task(take("big", 4))
    small = asyncio.create_task(take("small", 1))
    await asyncio.sleep(0)
    assert order == [] and slots.used == 3  # "small" fits but waits behind "big"
    slots.release(3, clean=True)
    await asyncio.gather(big)
    assert order == ["big"] and slots.used == 4
    slots.release(4, clean=True)
    await small
    assert order == ["big", "small"]


async def test_1303_lowers_the_target_to_what_was_accepted_and_it_recovers_slowly() -> None:
    slots = Slots(5)
    for _ in range(4):
        await slots.acquire(1)
    slots.accept(3)
    slots.crowded()  # the fourth was refused: the account holds the 3 it took
    assert slots.target == 3
    slots.release(1, clean=False)  # the refused one lets go
    assert not slots.fits(1)
    for _ in range(3):  # one generation of clean finishes raises the target by one
        slots.release(1, clean=True, accepted=True)
    assert slots.target == 4 and slots.accepted == 0 and slots.used == 0


async def test_a_task_larger_than_a_lowered_target_still_runs_alone() -> None:
    slots = Slots(9)
    slots.target = 2
    await asyncio.wait_for(slots.acquire(4), timeout=5)
    assert slots.used == 4


async def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    slots = Slots(1)
    await slots.acquire(1)
    first = asyncio.create_task(slots.acquire(1))
    second = asyncio.create_task(slots.acquire(1))
    await asyncio.sleep(0)
    first.cancel()
    slots.release(1, clean=True)
    await second
    assert slots.used == 1 and first.cancelled()


def test_the_budget_admits_only_what_fits_with_spending_and_reservations() -> None:
    budget = Budget(10, spent=4)
    assert budget.admit(5)
    assert not budget.admit(1.5)
    budget.settle(5, 3.5)  # the task cost less than estimated
    assert budget.spent == 7.5 and budget.reserved == 0
    assert budget.admit(2.5) and not budget.admit(0.01)
    assert Budget(None, spent=1e9).admit(1e9)


@pytest.mark.parametrize("failures", [1, 2, 5, 20])
def test_backoff_is_jittered_under_its_cap_and_honours_retry_after(failures: int) -> None:
    pacing = Pacing(backoff_base=1, backoff_cap=8)
    rng = random.Random(failures)
    delays = [backoff(failures, pacing, rng=rng) for _ in range(200)]
    ceiling = min(8, 2 ** (failures - 1))
    assert all(0 <= d <= ceiling for d in delays)
    assert max(delays) > ceiling / 2  # full jitter spreads over the whole range
    assert backoff(failures, pacing, retry_after=30, rng=rng) == 30
