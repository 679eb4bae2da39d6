"""How hard the engine pushes: Kling slots per pack, the budget, and the retry settings.

::

    slots = Slots(limit=5)
    await slots.acquire(4)          # an image task with n=4; waits in line for room
    slots.accept(4)                 # the provider took the task
    slots.crowded()                 # another create got 1303: lower the target to what it took
    slots.release(4, clean=True, accepted=True)   # ended well: the target creeps back up

Kling limits *parallel tasks*, counted in slots (1 per video, ``n`` per image task) per pack type;
queries take none. :class:`Slots` never lets more than its target be in use, except that one task
may always run when nothing else does (so a task larger than a lowered target still runs). The
target starts at ``max_in_flight``, drops to the slots of the tasks the provider has accepted when
it answers 1303, and rises by one each time as many tasks as the target have ended cleanly since:
it probes for room about once per generation of tasks, not after every task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from kbatch.provider.catalogue import PackType


@dataclass(frozen=True, slots=True)
class Pacing:
    """Retry and concurrency settings that are not in the manifest. Seconds."""

    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    #: Consecutive transient failures of one step (or of all polls) before the run stops with
    #: "the provider is unavailable", leaving every job where it is for the next run.
    transient_limit: int = 8
    #: The least wait after a 1303 (parallel tasks over the account's limit).
    parallel_wait: float = 1.0
    downloads: int = 8
    #: List pages one status round may read per kind before falling back to single gets.
    list_pages: int = 10


class Slots:
    """Slots of one pack type, handed out in the order asked for."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.target = limit
        self.used = 0
        self.accepted = 0
        self._clean = 0  # tasks ended cleanly since the target last changed
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    def fits(self, count: int) -> bool:
        return self.used == 0 or self.used + count <= self.target

    def ready(self, count: int) -> bool:
        """:meth:`acquire` would return at once."""
        return not self._waiting and self.fits(count)

    async def acquire(self, count: int) -> None:
        if not self._waiting and self.fits(count):
            self.used += count
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (count, future)
        self._waiting.append(entry)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(count, clean=False)  # granted as we were cancelled: give it back
            else:
                with contextlib.suppress(ValueError):  # _wake may have dropped it already
                    self._waiting.remove(entry)
                self._wake()
            raise

    def take(self, count: int, *, accepted: bool) -> None:
        """Count slots a task already holds at the provider (a resumed run), whatever the target."""
        self.used += count
        if accepted:
            self.accepted += count

    def accept(self, count: int) -> None:
        """The provider took a task holding ``count`` of the slots in use."""
        self.accepted += count

    def release(self, count: int, *, clean: bool, accepted: bool = False) -> None:
        self.used = max(0, self.used - count)
        if accepted:
            self.accepted = max(0, self.accepted - count)
        if clean and self.target < self.limit:
            self._clean += 1
            if self._clean >= self.target:
                self.target += 1
                self._clean = 0
        self._wake()

    def crowded(self) -> None:
        """The provider refused a task with 1303: it has room for no more than it accepted."""
        self.target = max(1, min(self.target, self.accepted))
        self._clean = 0

    def _wake(self) -> None:
        while self._waiting and self.fits(self._waiting[0][0]):
            count, future = self._waiting.popleft()
            if not future.done():
                self.used += count
                future.set_result(None)


class Budget:
    """Units: spent plus reserved for tasks that may still charge. Spent counts each finished
    attempt's charge as the provider reported it (``billing[]``, ``final_unit_deduction``) or,
    when it reported none, its estimate (never nothing: outcomes.cost); a task paid from the
    cash balance, wholly or in part, counts its price in units (its estimate), so one budget
    holds whatever paid. A job is admitted only if its estimate fits under the limit with both."""

    def __init__(self, limit: float | None, spent: float) -> None:
        self.limit = limit
        self.spent = spent
        self.reserved = 0.0

    def admit(self, estimate: float) -> bool:
        if self.limit is not None and self.spent + self.reserved + estimate > self.limit + 1e-9:
            return False
        self.reserved += estimate
        return True

    def reserve(self, estimate: float) -> None:
        """Count a task already at the provider (a resumed run), whatever the limit."""
        self.reserved += estimate

    @classmethod
    def per_pack(
        cls, limits: Mapping[PackType, float], spent: Mapping[PackType, float]
    ) -> dict[PackType, Budget]:
        """One budget per pack type (a pack without a limit gets none), with what it spent."""
        return {pack: cls(limits.get(pack), spent.get(pack, 0.0)) for pack in PackType}

    def settle(self, estimate: float, units: float) -> None:
        """A task ended: its reservation becomes what it actually cost."""
        self.reserved = max(0.0, self.reserved - estimate)
        self.spent += units
