"""Status polling for every task in flight, in as few requests as the provider allows.

::

    poller = Poller(client, first=10, longest=60, backoff=backoff, clock=clock, on_trouble=...)
    watch = poller.watch(JobKind.IMAGE2VIDEO, "8600...")
    task = await watch.next()         # the task each time its status changes, until it ends
    task = await watch.until(clock, 30.0)   # the same, or None when 30 s pass first

A task is checked ``first`` seconds after it is watched, then at intervals growing by half each
time, up to ``longest``. When a task is due and two or more tasks of its kind are watched, one list
request (up to 500 tasks a page) reports them all, and every other watched task it mentions is
updated for free; tasks the pages do not show get a single ``get``. A provider whose list route
fails is asked by ``get`` only.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from kbatch.engine.clock import Clock
from kbatch.engine.retry import Backoff, GaveUp
from kbatch.errors import ApiError, RetryLater, RunFatal, TaskNotFound
from kbatch.provider.catalogue import PAGE_SIZE, JobKind
from kbatch.provider.client import Client
from kbatch.provider.wire import Task, TaskStatus

Update = Task | TaskNotFound


@dataclass(eq=False)
class Watch:
    """One task being followed. ``next()`` gives its next change of status."""

    kind: JobKind
    task_id: str
    due: float
    polls: int = 0
    status: TaskStatus | None = None
    updates: asyncio.Queue[Update] = field(default_factory=asyncio.Queue)

    async def next(self) -> Update:
        return await self.updates.get()

    async def until(self, clock: Clock, seconds: float) -> Update | None:
        """The next change of status, or None if ``seconds`` pass first."""
        if not self.updates.empty():
            return self.updates.get_nowait()
        if seconds <= 0:
            return None
        return await clock.wait(self.updates.get(), seconds)


def page_size(watched: int) -> int:
    """List pages big enough for twice the tasks watched (newest first, ours are near the top),
    in steps of 50, from 50 to the API's 500: a 500-task page costs the provider and us far
    more to build and read than the few tasks in flight need."""
    return min(PAGE_SIZE, max(50, -(-2 * watched // 50) * 50))


class _Watched:
    """The task ids of one kind that are watched, as a container (no copy per round)."""

    def __init__(self, watches: Mapping[tuple[JobKind, str], Watch], kind: JobKind) -> None:
        self._watches = watches
        self._kind = kind

    def __contains__(self, task_id: object) -> bool:
        return (self._kind, task_id) in self._watches


class Poller:
    """Follows watched tasks until each ends. Run :meth:`run` as a task; cancel it to stop."""

    def __init__(
        self,
        client: Client,
        *,
        first: float,
        longest: float,
        backoff: Backoff,
        clock: Clock,
        on_trouble: Callable[[ApiError], None],
        list_pages: int = 10,
    ) -> None:
        self._client = client
        self._first = first
        self._longest = longest
        self._backoff = backoff
        self._clock = clock
        self._on_trouble = on_trouble
        self._list_pages = list_pages
        self._watches: dict[tuple[JobKind, str], Watch] = {}
        self._wakeup = asyncio.Event()
        self._no_list: set[JobKind] = set()
        self._gets = asyncio.Semaphore(16)
        #: Status requests sent, by route form: how much polling costs can be measured.
        self.requests: dict[str, int] = defaultdict(int)
        #: Task statuses learnt (one per task per poll round): requests / this is the economy.
        self.observations = 0

    def watch(self, kind: JobKind, task_id: str, *, at_once: bool = False) -> Watch:
        """Follow a task: first checked after ``first`` seconds, or at once (a task an earlier
        run left, whose state may have changed long ago)."""
        now = self._clock.monotonic()
        watch = Watch(kind, task_id, due=now if at_once else now + self._first)
        self._watches[kind, task_id] = watch
        self._wakeup.set()
        return watch

    def forget(self, watch: Watch) -> None:
        if self._watches.get((watch.kind, watch.task_id)) is watch:
            del self._watches[watch.kind, watch.task_id]

    async def run(self) -> None:
        while True:
            if not self._watches:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            now = self._clock.monotonic()
            soonest = min(w.due for w in self._watches.values())
            if soonest > now:
                self._wakeup.clear()
                await self._clock.wait(self._wakeup.wait(), soonest - now)
                continue
            due: dict[JobKind, list[Watch]] = defaultdict(list)
            for watch in self._watches.values():
                if watch.due <= now:
                    due[watch.kind].append(watch)
            await asyncio.gather(*(self._round(kind, watches) for kind, watches in due.items()))

    async def _round(self, kind: JobKind, due: list[Watch]) -> None:
        """Check the due tasks of a kind. While two or more of its tasks are watched, one list
        page answers for all of them, due or not (those not due are updated for free): tasks
        created apart are rarely due in the same turn, so waiting for two to be due would
        leave the list route mostly unused."""
        missing = due
        watched = sum(1 for k, _ in self._watches if k is kind)
        if watched >= 2 and kind not in self._no_list:
            missing = await self._by_list(kind, due, watched)
        await asyncio.gather(*(self._get(watch) for watch in missing))

    async def _by_list(self, kind: JobKind, due: list[Watch], watched: int) -> list[Watch]:
        """Read list pages until every due task is seen; return those that were not.
        ``watched``: how many tasks of the kind are watched (it sizes the pages)."""
        wanted = {w.task_id for w in due}
        size = page_size(watched)
        pages = min(self._list_pages, watched // size + 2)
        only = _Watched(self._watches, kind)
        for page in range(1, pages + 1):
            try:
                found = await self._client.page(kind, page=page, page_size=size, only=only)
            except RetryLater as exc:
                self._failed(exc, due)
                return []
            except RunFatal as exc:
                self._on_trouble(exc)
                return []
            except ApiError:
                self._no_list.add(kind)  # this provider does not list: single gets from now on
                break
            finally:
                self.requests["list"] += 1
            self._backoff.reset()
            for task in found.tasks:
                watch = self._watches.get((kind, task.task_id))
                if watch is not None:
                    self._observe(watch, task)
                    wanted.discard(task.task_id)
            if not wanted or found.size < size:
                break
        return [w for w in due if w.task_id in wanted]

    async def _get(self, watch: Watch) -> None:
        async with self._gets:
            if self._watches.get((watch.kind, watch.task_id)) is not watch:
                return
            self.requests["get"] += 1
            try:
                task = await self._client.get(watch.kind, watch.task_id)
            except TaskNotFound as exc:
                self.forget(watch)
                watch.updates.put_nowait(exc)
                return
            except RunFatal as exc:
                self._on_trouble(exc)
                return
            except ApiError as exc:
                self._failed(exc, [watch])
                return
        self._backoff.reset()
        self._observe(watch, task)

    def _observe(self, watch: Watch, task: Task) -> None:
        watch.polls += 1
        self.observations += 1
        interval = min(self._longest, self._first * 1.5**watch.polls)
        watch.due = self._clock.monotonic() + interval
        if task.status is not watch.status or task.status.finished:
            watch.status = task.status
            watch.updates.put_nowait(task)
        if task.status.finished:
            self.forget(watch)

    def _failed(self, exc: ApiError, watches: Iterable[Watch]) -> None:
        """A status request failed: try these again later; tell the engine when it persists."""
        try:
            delay = self._backoff.delay(exc)
        except GaveUp:
            self._on_trouble(exc)
            delay = self._first
        now = self._clock.monotonic()
        for watch in watches:
            watch.due = now + max(delay, self._first)
