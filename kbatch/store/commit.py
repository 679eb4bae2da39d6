"""Group commit: one slow, durable step (a transaction's fsync, a file system flush) pays for
every request that arrived while the previous one ran.

::

    commits = GroupCommit(apply=write_to_disk)      # apply(items) runs in a thread
    await commits.wait(record)                      # on disk when this returns
    commits.post(record)                            # queued for the next group; returns at once
    await commits.drain()                           # everything asked for so far is done

Items are applied in the order they were asked for, so a :meth:`wait` that returned means every
earlier :meth:`post` is durable too. A failed group (``apply`` raised one of ``failures``) fails
every waiter of that group with the error and tells ``on_failure`` (a post has no one waiting).
An ``apply`` that is a coroutine function is awaited instead.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")


class _Mark:
    """A place in the queue that a :meth:`GroupCommit.drain` waits for (nothing to apply)."""


#: Seconds a post waits for company before its group starts (a wait never waits). What a post
#: records costs nothing to redo, so a few milliseconds more before it is durable cost nothing.
POST_LINGER = 0.01


class GroupCommit(Generic[Item]):
    """Batches items for ``apply``, which runs in a worker thread, one batch at a time."""

    def __init__(
        self,
        apply: Callable[[Sequence[Item]], Any],
        *,
        failures: type[Exception] | tuple[type[Exception], ...] = Exception,
        linger: float = POST_LINGER,
    ) -> None:
        self._apply = apply
        self._linger = linger
        self._timer: asyncio.TimerHandle | None = None
        #: ``apply`` is a coroutine function (an async driver): awaited, not run in a thread.
        self.awaitable = inspect.iscoroutinefunction(apply)
        self._failures = failures
        self._pending: list[tuple[Item | _Mark, asyncio.Future[None] | None]] = []
        self._flusher: asyncio.Task[None] | None = None
        #: Batches applied: items / groups is what the grouping saved.
        self.groups = 0
        #: The first failure, and who to tell of each.
        self.failure: Exception | None = None
        self.on_failure: Callable[[Exception], None] | None = None

    async def wait(self, item: Item) -> None:
        """Apply ``item`` with the next group; return once it is applied (or raise why not).
        A waiter that is cancelled does not cancel the group."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieved)  # a cancelled waiter no longer awaits it
        self._queue(item, future)
        await asyncio.shield(future)

    def post(self, item: Item) -> None:
        """Queue ``item`` for the next group and return at once: the group starts within
        ``linger`` seconds, or with the next :meth:`wait` if that comes sooner."""
        self._pending.append((item, None))
        if self._flushing() or self._timer is not None:
            return  # the running group's loop, or the timer, takes it
        self._timer = asyncio.get_running_loop().call_later(self._linger, self._start)

    async def drain(self) -> None:
        """Wait until every item asked for so far is applied (or has failed); items asked for
        later are not waited for, so a steady stream of posts never keeps a drain waiting."""
        if not self._pending and not self._flushing():
            return
        mark: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue(_Mark(), mark)  # settled after every item queued before it
        flusher = self._flusher
        assert flusher is not None
        await asyncio.wait({mark, flusher}, return_when=asyncio.FIRST_COMPLETED)
        if not mark.done():  # the flusher broke off (a bug in apply): raise it here
            mark.cancel()
            flusher.result()

    def _queue(self, item: Item | _Mark, future: asyncio.Future[None] | None) -> None:
        self._pending.append((item, future))
        self._start()

    def _flushing(self) -> bool:
        return self._flusher is not None and not self._flusher.done()

    def _start(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._flushing():
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            items = [item for item, _ in batch if not isinstance(item, _Mark)]
            if not items:  # only drains' marks: nothing to apply
                _settle(batch, None)
                continue
            try:
                if self.awaitable:
                    await self._apply(items)
                else:
                    await asyncio.to_thread(self._apply, items)
                self.groups += 1
            except self._failures as exc:
                self.failure = self.failure or exc
                _settle(batch, exc)
                if self.on_failure is not None:
                    self.on_failure(exc)
                continue
            _settle(batch, None)


def _settle(
    batch: Sequence[tuple[object, asyncio.Future[None] | None]], error: Exception | None
) -> None:
    for item, future in batch:
        if future is None or future.done():
            continue
        if error is None or isinstance(item, _Mark):  # a drain is told of no failure
            future.set_result(None)
        else:
            future.set_exception(error)


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


__all__ = ["GroupCommit"]
