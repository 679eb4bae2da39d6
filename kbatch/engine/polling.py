"""Status polling for every task in flight, in as few requests as the provider allows.

::

    poller = Poller(client, floor=1, longest=60, durations=Durations(), backoff=backoff,
                    clock=clock, on_trouble=...)
    watch = poller.watch(JobKind.IMAGE2VIDEO, "8600...", key=pricing.key(kind, request))
    task = await watch.next()         # the task each time its status changes, until it ends
    task = await watch.until(clock, 30.0)   # the same, or None when 30 s pass first

When a task is next looked at follows from how long tasks like it took
(:mod:`kbatch.engine.durations`): sparsely before its end can be due, densely around it. A route
(a kind) is never polled more often than once per ``floor`` seconds (the provider's pace, or
``poll_interval``), and no task waits longer than ``longest`` (``poll_max``). A task a callback
says has ended (:meth:`Poller.hint`) is asked about at once by itself, never asked by itself
twice within ``floor``. When a task is due and two or more tasks of its kind are watched, one
list request (up to 500 tasks a page) reports them all, and every other watched task it mentions
is updated for free; tasks the pages do not show get a single ``get``. A provider whose list
route fails is asked by ``get`` only.
Where the provider answers many tasks by id in one request (Kling's new API), every watched task
of that API is asked for in one round (:mod:`kbatch.engine.batches`), at the pace whenever one
could be ending (:func:`~kbatch.engine.durations.batched_pause`): a round costs no more per task.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field

from kbatch.engine.batches import BATCHED, Batched, Batches
from kbatch.engine.clock import Clock
from kbatch.engine.durations import Durations, batched_pause, next_pause
from kbatch.engine.retry import Backoff, GaveUp
from kbatch.errors import ApiError, JobRejected, RetryLater, RunFatal, TaskNotFound
from kbatch.provider.catalogue import PAGE_SIZE, JobKind
from kbatch.provider.protocol import Provider, Target, kind_of
from kbatch.provider.wire import Task, TaskStatus

Update = Task | TaskNotFound


#: What rounds are paced by: a /v1 target (its kind's list route), or the batched lane.
Lane = Target | Batched


@dataclass(eq=False)
class Watch:
    """One task being followed. ``next()`` gives its next change of status."""

    target: Target  # the job's kind on the /v1 routes, or a model's path
    task_id: str
    due: float
    lane: Lane
    born: float  # when the provider created it (monotonic clock)
    key: Hashable | None = None  # tasks with the same key take about as long
    hinted: bool = False  # a callback told of its end
    urgent: bool = False  # ... and it has not been asked since
    got: float = float("-inf")  # when it was last asked for by itself
    polls: int = 0
    status: TaskStatus | None = None
    updates: asyncio.Queue[Update] = field(default_factory=asyncio.Queue)

    @property
    def kind(self) -> JobKind:
        return kind_of(self.target)

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
    """The task ids of one target that are watched, as a container (no copy per round)."""

    def __init__(self, watches: Mapping[tuple[Target, str], Watch], target: Target) -> None:
        self._watches = watches
        self._target = target

    def __contains__(self, task_id: object) -> bool:
        return (self._target, task_id) in self._watches


class Poller:
    """Follows watched tasks until each ends. Run :meth:`run` as a task; cancel it to stop."""

    def __init__(
        self,
        client: Provider,
        *,
        floor: float,
        longest: float,
        durations: Durations | None = None,
        backoff: Backoff,
        clock: Clock,
        on_trouble: Callable[[ApiError], None],
        list_pages: int = 10,
    ) -> None:
        self._client = client
        self._floor = floor
        self._longest = longest
        self.durations = durations or Durations()
        self._backoff = backoff
        self._clock = clock
        self._on_trouble = on_trouble
        self._list_pages = list_pages
        self._watches: dict[tuple[Target, str], Watch] = {}
        self._wakeup = asyncio.Event()
        self._no_list: set[Lane] = set()
        self._gets = asyncio.Semaphore(16)
        self._last_round: dict[Lane, float] = {}
        self._batches = Batches(client, floor=floor, clock=clock)
        self._by_id: dict[str, Watch] = {}
        #: Callbacks are being received: poll sparsely (the safety net) while they arrive.
        self.callbacks = False
        #: Finished tasks found by polling without a callback, in a row: 2 and callbacks are
        #: taken to be failing (polling turns dense again until one arrives).
        self.missed = 0
        self._unheard: dict[str, float] = {}  # ends found by polling, waiting for a callback
        #: Status requests sent, by route form: how much polling costs can be measured.
        self.requests: dict[str, int] = defaultdict(int)
        #: Task statuses learnt (one per task per poll round): requests / this is the economy.
        self.observations = 0

    def watch(
        self,
        target: Target,
        task_id: str,
        *,
        key: Hashable | None = None,
        age: float = 0.0,
        at_once: bool = False,
    ) -> Watch:
        """Follow a task created ``age`` seconds ago: first checked when tasks like it may end,
        or at once (a task an earlier run left, whose state may have changed long ago)."""
        now = self._clock.monotonic()
        lane = BATCHED if self._client.status_batch(target) > 0 else target
        watch = Watch(target, task_id, now, lane, born=now - max(age, 0.0), key=key)
        if not at_once:
            watch.due = now + self._pause(watch, now)
        self._watches[target, task_id] = watch
        self._by_id[task_id] = watch
        self._wakeup.set()
        return watch

    def forget(self, watch: Watch) -> None:
        if self._watches.get((watch.target, watch.task_id)) is watch:
            del self._watches[watch.target, watch.task_id]
        if self._by_id.get(watch.task_id) is watch:
            del self._by_id[watch.task_id]

    def hint(self, task_id: str) -> bool:
        """A callback said this task ended: ask the provider about it at once, by itself
        (unless it was asked less than ``floor`` ago: then as soon as that has passed), and
        believe what it answers. False when no such task is watched."""
        if self._unheard.pop(task_id, None) is not None:
            self.missed = 0  # its callback came, only later than a poll: callbacks work
        watch = self._by_id.get(task_id)
        if watch is None:
            return False
        watch.hinted = watch.urgent = True
        self._wakeup.set()
        return True

    @property
    def sparse(self) -> bool:
        """Callbacks arrive: polling is only the safety net."""
        return self.callbacks and self.missed < 2

    async def run(self) -> None:
        while True:
            if not self._watches:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            now = self._clock.monotonic()
            urgent = [w for w in self._watches.values() if w.urgent]
            ready = [w for w in urgent if w.got + self._floor <= now]
            if ready:  # a callback's task: one get each, whatever the route's round
                for watch in ready:
                    watch.urgent = False
                await asyncio.gather(*(self._get(watch) for watch in ready))
                continue
            starts = self._round_starts()
            soonest = min([*starts.values(), *(w.got + self._floor for w in urgent)])
            if soonest > now:
                self._wakeup.clear()
                await self._clock.wait(self._wakeup.wait(), soonest - now)
                continue
            due: dict[Lane, list[Watch]] = defaultdict(list)
            for watch in self._watches.values():
                if watch.due <= now and starts[watch.lane] <= now:
                    due[watch.lane].append(watch)
            for lane in due:
                self._last_round[lane] = now
            await asyncio.gather(*(self._round(lane, found) for lane, found in due.items()))

    def _round_starts(self) -> dict[Lane, float]:
        """When each lane's next round may start: its soonest due task, but never sooner than
        ``floor`` after its last round (the provider's pace)."""
        soonest: dict[Lane, float] = {}
        for watch in self._watches.values():
            soonest[watch.lane] = min(soonest.get(watch.lane, watch.due), watch.due)
        last = self._last_round
        return {
            lane: max(due, last.get(lane, -self._floor) + self._floor)
            for lane, due in soonest.items()
        }

    def _pause(self, watch: Watch, now: float) -> float:
        if self.sparse:
            return self._longest
        window = self.durations.expect(watch.kind, watch.key)
        pause = batched_pause if watch.lane is BATCHED else next_pause
        return pause(age=now - watch.born, window=window, floor=self._floor, longest=self._longest)

    async def _round(self, lane: Lane, due: list[Watch]) -> None:
        """Check the due tasks of a kind. While two or more of its tasks are watched, one list
        page answers for all of them, due or not (those not due are updated for free): tasks
        created apart are rarely due in the same turn, so waiting for two to be due would
        leave the list route mostly unused."""
        missing = due
        if isinstance(lane, Batched):
            watched = [w for w in self._watches.values() if w.lane is lane]
            seen = await self._by_batch(watched)
            self._last_round[lane] = self._batches.last  # its requests are paced one by one
            missing = [w for w in due if w.task_id not in seen]
        elif lane not in self._no_list:
            watched_count = sum(1 for t, _ in self._watches if t == lane)
            if watched_count >= 2:
                missing = await self._by_list(lane, due, watched_count)
        await asyncio.gather(*(self._get(watch) for watch in missing))

    async def _by_list(self, target: Target, due: list[Watch], watched: int) -> list[Watch]:
        """Read list pages until every due task is seen; return those that were not.
        ``watched``: how many tasks of the kind are watched (it sizes the pages)."""
        wanted = {w.task_id for w in due}
        size = page_size(watched)
        pages = min(self._list_pages, watched // size + 2)
        only = _Watched(self._watches, target)
        kind = kind_of(target)
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
                self._no_list.add(target)  # not listed: single gets from now on
                break
            finally:
                self.requests["list"] += 1
            self._backoff.reset()
            for task in found.tasks:
                watch = self._watches.get((target, task.task_id))
                if watch is not None:
                    self._observe(watch, task)
                    wanted.discard(task.task_id)
            if not wanted or found.size < size:
                break
        return [w for w in due if w.task_id in wanted]

    async def _by_batch(self, watched: list[Watch]) -> set[str]:
        """Ask for every watched task of the batched lane, as many ids a request as the
        provider takes (:class:`~kbatch.engine.batches.Batches`), one request per ``floor``:
        the ids it answered for (or that wait for the next round after a failure). A batch the
        provider refuses as a whole is halved, never resent whole, and the size it accepts is
        kept for later rounds; the one id it cannot take is left for a single get."""
        size = self._batches.size(watched[0].target) if watched else 0
        answered: set[str] = set()
        for start in range(0, len(watched), size or len(watched) + 1):
            answered |= await self._ask(watched[start : start + size])
        return answered

    async def _ask(self, chunk: list[Watch]) -> set[str]:
        ids = [watch.task_id for watch in chunk]
        await self._batches.pace()
        self.requests["batch"] += 1
        try:
            tasks = await self._client.statuses(chunk[0].target, ids)
        except JobRejected:
            self._batches.refused(len(chunk))
            if len(chunk) == 1:
                return set()
            half = len(chunk) // 2
            return (await self._ask(chunk[:half])) | (await self._ask(chunk[half:]))
        except RunFatal as exc:
            self._on_trouble(exc)
            return set(ids)
        except ApiError as exc:
            self._failed(exc, chunk)
            return set(ids)
        self._backoff.reset()
        self._batches.accepted(len(chunk))
        for task in tasks:
            watch = self._by_id.get(task.task_id)
            if watch is not None and watch.lane is BATCHED:
                self._observe(watch, task, sent=self._batches.last)
        return {task.task_id for task in tasks}

    async def _get(self, watch: Watch) -> None:
        async with self._gets:
            if self._watches.get((watch.target, watch.task_id)) is not watch:
                return
            self.requests["get"] += 1
            watch.got = self._clock.monotonic()
            try:
                task = await self._client.get(watch.target, watch.task_id)
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

    def _observe(self, watch: Watch, task: Task, sent: float | None = None) -> None:
        watch.polls += 1
        self.observations += 1
        now = self._clock.monotonic()
        if task.status is not watch.status or task.status.finished:
            watch.status = task.status
            watch.updates.put_nowait(task)
        if task.status.finished:
            self.forget(watch)
            if task.status is TaskStatus.SUCCEED:
                self.durations.observe(watch.kind, watch.key, _took(task, now - watch.born))
            if self.callbacks:
                self._heard(watch, now)
            return
        base = now if sent is None else sent  # a batch's: the next round a pace after it
        watch.due = base + self._pause(watch, base)

    def _heard(self, watch: Watch, now: float) -> None:
        """Count finished tasks found without a callback (one that does not come within a
        grace period: a poll may simply have been first); when callbacks stop, every watched
        task goes back to the dense schedule at once."""
        was = self.sparse
        if watch.hinted:
            self.missed = 0
        else:
            self._unheard[watch.task_id] = now
        grace = max(10.0, 3 * self._floor)
        for task_id, found in list(self._unheard.items()):
            if now - found > grace:
                del self._unheard[task_id]
                self.missed += 1
        if was and not self.sparse:
            for other in self._watches.values():
                other.due = min(other.due, now + self._pause(other, now))

    def _failed(self, exc: ApiError, watches: Iterable[Watch]) -> None:
        """A status request failed: try these again later; tell the engine when it persists."""
        try:
            delay = self._backoff.delay(exc)
        except GaveUp:
            self._on_trouble(exc)
            delay = self._floor
        now = self._clock.monotonic()
        for watch in watches:
            watch.due = now + max(delay, self._floor)


def _took(task: Task, seen: float) -> float:
    """How long a finished task ran: by the provider's own times where it gives them (not by
    when it was noticed, which would feed the lag back into the windows)."""
    if task.created_at is not None and task.updated_at is not None:
        ran = (task.updated_at - task.created_at) / 1000
        if 0 < ran <= seen + 60:  # a clock far off is not believed
            return ran
    return seen
