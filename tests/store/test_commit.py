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


async def test_a_post_and_the_wait_just_after_it_share_one_group() -> None:
    """A task's end is posted, the next attempt's row waited for at once: one group, not two
    (the wait does not queue behind a group started for the post alone)."""
    applied: list[list[str]] = []
    commits: GroupCommit[str] = GroupCommit(lambda items: applied.append(list(items)), linger=5.0)
    commits.post("succeeded")
    await asyncio.sleep(0)  # the post's group has not started on its own
    await commits.wait("submitting")

    assert applied == [["succeeded", "submitting"]]


async def test_a_post_alone_is_applied_after_its_linger_or_at_a_drain() -> None:
    applied: list[list[str]] = []
    commits: GroupCommit[str] = GroupCommit(lambda items: applied.append(list(items)), linger=0.01)
    commits.post("running")
    await commits.drain()  # starts it at once
    assert applied == [["running"]]

    commits.post("downloaded")
    assert applied == [["running"]]
    for _ in range(400):  # the linger's timer starts it, no drain needed
        if commits.groups == 2:
            break
        await asyncio.sleep(0.005)
    assert applied == [["running"], ["downloaded"]]


async def test_a_drain_waits_for_what_was_asked_before_it_not_for_later_posts() -> None:
    """A downstream job reads its upstream's results once a drain returns: the drain covers
    every earlier post, and does not wait on the groups of later ones."""
    applied: list[list[int]] = []
    entered = threading.Event()
    gates = [threading.Event(), threading.Event()]

    def apply(items: Sequence[int]) -> None:
        entered.set()
        gates[len(applied)].wait(5)
        applied.append(list(items))

    commits: GroupCommit[int] = GroupCommit(apply, linger=5.0)
    commits.post(0)
    drained = asyncio.create_task(commits.drain())  # starts the group now, not at the linger
    assert await asyncio.to_thread(entered.wait, 5)
    commits.post(1)  # while the first group is applied: the next group's
    gates[0].set()
    await drained

    assert applied == [[0]]  # the drain did not wait for the group of the later post
    gates[1].set()
    await commits.drain()
    assert applied == [[0], [1]]


async def test_a_drain_with_nothing_queued_returns_at_once() -> None:
    commits: GroupCommit[int] = GroupCommit(lambda items: None)
    await commits.drain()
    assert commits.groups == 0
