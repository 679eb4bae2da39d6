"""Group commit: many waiters, one slow step; order kept; a failure told to every waiter."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from kbatch.store.commit import GroupCommit


async def test_writes_that_arrive_together_share_one_group() -> None:
    applied: list[list[int]] = []
    gate = threading.Event()

    def apply(items: Sequence[int]) -> None:
        gate.wait(5)  # the first group is slow: the others queue behind it
        applied.append(list(items))

    commits: GroupCommit[int] = GroupCommit(apply)
    first = asyncio.create_task(commits.wait(0))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(commits.wait(i)) for i in range(1, 20)]
    await asyncio.sleep(0)  # each has asked
    commits.post(20)
    gate.set()
    await asyncio.gather(first, *rest)
    await commits.drain()

    assert [item for group in applied for item in group] == list(range(21))  # asked order
    assert commits.groups == len(applied) <= 3


async def test_a_failed_group_fails_its_waiters_and_tells_on_failure() -> None:
    def apply(items: Sequence[str]) -> None:
        raise OSError("disk full")

    told: list[Exception] = []
    commits: GroupCommit[str] = GroupCommit(apply, failures=OSError)
    commits.on_failure = told.append
    commits.post("queued")

    with pytest.raises(OSError, match="disk full"):
        await commits.wait("waited")
    await commits.drain()

    assert commits.failure is not None and told[0] is commits.failure
