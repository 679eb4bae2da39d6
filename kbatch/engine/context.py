"""What the jobs of one run share: its fixed services (:class:`RunContext`), built once by
:func:`kbatch.engine.assembly.assemble`, and the state that changes as it goes (:class:`RunState`).

Every :class:`~kbatch.engine.job.JobLife` reads and writes the run through the context, so that
a job's life never reaches into the scheduler.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiolimiter import AsyncLimiter

from kbatch.engine.admission import Admission
from kbatch.engine.clock import Clock
from kbatch.engine.downloads import Syncer
from kbatch.engine.events import Event, EventName, OnEvent, row_fields
from kbatch.engine.options import RunOptions
from kbatch.engine.pacing import Budget, Slots
from kbatch.engine.polling import Poller
from kbatch.engine.recorder import Recorder
from kbatch.engine.retry import Backoff
from kbatch.engine.stops import Halted, Stops
from kbatch.engine.uploads import Media
from kbatch.errors import ApiError, RetryLater, RunFatal
from kbatch.manifest import Manifest
from kbatch.manifest.jobs import Job
from kbatch.provider.catalogue import PACK, JobKind, PackType
from kbatch.provider.protocol import Provider, Target, parse_target
from kbatch.provider.wire import Task
from kbatch.store.records import JobRow, JobState, MediaRow


@dataclass
class Hold:
    """What a job's life holds: slots of its pack, and units reserved in the budget."""

    slots: int = 0
    units: float = 0.0
    accepted: bool = False  # the provider took the task: its slots are surely in use there


@dataclass
class RunState:
    """What changes as a run goes, beyond the job rows (those are the recorder's)."""

    #: Jobs the feed reached while their resumed life was still busy: it may send them again.
    parked: dict[str, Job] = field(default_factory=dict)
    #: The media of jobs that just succeeded: their download needs no read of the state.
    results: dict[str, list[MediaRow]] = field(default_factory=dict)
    submitted: int = 0
    #: Jobs held back by each pack's budget (ids: a job refused in two passes, or both by this
    #: runner's budget and by a shared state's claim, is one job held back).
    held_by_budget: defaultdict[PackType, set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )
    #: Jobs whose task is past task_timeout: still running at the provider, slots still held.
    overdue: set[str] = field(default_factory=set)
    #: Jobs waiting in admission for slots.
    admitting: set[str] = field(default_factory=set)
    #: Set whenever one of the two above grows: the scheduler checks whether the run can go on.
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    #: Where the provider posts callbacks, once this run receives them.
    callback_url: str | None = None
    #: The run's local media (media: in the manifest): uploads and the URLs sent for them.
    media: Media | None = None
    #: Per price key of a job whose slots are known only at its end (an omni-image series,
    #: ``auto``: Kling counts the images it made), the most one such task has held.
    held: dict[Hashable, int] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class RunContext:
    """Everything the jobs of a run share: services fixed for the run, and its :class:`RunState`."""

    manifest: Manifest
    options: RunOptions
    provider: Provider
    clock: Clock
    recorder: Recorder
    stops: Stops
    slots: dict[PackType, Slots]
    budgets: dict[PackType, Budget]  # one per resource pack: different currencies
    limiter: AsyncLimiter
    poller: Poller
    rng: random.Random
    syncer: Syncer
    on_event: OnEvent
    admission: Admission
    downloads: asyncio.Semaphore
    #: Each job's price key, which also tells how long its task takes.
    keys: Mapping[str, Hashable]
    #: Each job's target (its kind's route, or a model's path); a job not named is its kind's.
    targets: Mapping[str, Target]
    #: This machine, recorded with each file it downloads.
    host: str
    state: RunState = field(default_factory=RunState)

    def emit(
        self,
        name: EventName,
        job: str | None,
        message: str,
        *,
        row: JobRow | None = None,
        **data: Any,
    ) -> None:
        """Tell of an event; ``row`` (the job as it now stands) and ``data`` become its fields."""
        fields = {**row_fields(row), **data} if row is not None else data
        self.on_event(Event(name, job, message, time=self.clock.time(), data=fields))

    @property
    def downloading(self) -> bool:
        return self.options.downloads(self.manifest.output.download)

    def target(self, row: JobRow) -> Target:
        """Where the job's task is: where its current attempt was sent, as the state recorded
        it (whatever ``provider.api`` now picks); for a job about to start an attempt, or one
        an older kbatch sent, where the manifest sends it."""
        if row.target is not None and row.state is not JobState.PENDING:
            return parse_target(row.kind, row.target)
        return self.targets.get(row.id, row.kind)

    def backoff(self) -> Backoff:
        return Backoff(self.options.pacing, rng=self.rng, clock=self.clock)

    def announcer(self, job_id: str, exc: ApiError) -> Callable[[float], None]:
        """What tells of a pause before trying again."""

        def announce(seconds: float) -> None:
            message = f"{exc.message}; trying again in {seconds:.1f}s"
            self.emit(EventName.WAIT, job_id, message, code=exc.code, seconds=round(seconds, 3))

        return announce

    async def find(self, row: JobRow, external_id: str, *, quiet: bool = True) -> Task | None:
        """The task created with this external id, or None. Transient failures are retried; a
        fatal answer stops submitting (Halted); another refusal is None when ``quiet``, else
        raised."""
        backoff = self.backoff()
        while True:
            try:
                return await self.provider.find(self.target(row), external_id)
            except RetryLater as exc:
                await backoff.pause(exc, announce=self.announcer(row.id, exc))
            except RunFatal as exc:
                self.stops.fatal(exc, PACK[row.kind])
                raise Halted from None
            except ApiError:
                if quiet:
                    return None
                raise

    async def rate(self) -> None:
        """Wait for the create rate; Halted if the run stopped meanwhile."""
        await self.limiter.acquire()
        if self.stops.reason is not None:
            raise Halted

    async def admit(self, row: JobRow) -> Hold | None:
        """Reserve budget and slots for a job about to be submitted; None if it is not to be
        submitted now (the run stops, its pack is exhausted, the budget, a route not served)."""
        if not self.stops.may_submit(row.kind) or row.kind in self.stops.not_served:
            return None
        if not self.budgets[PACK[row.kind]].admit(row.estimate):
            self.state.held_by_budget[PACK[row.kind]].add(row.id)
            return None
        hold = Hold(0, row.estimate)
        slots = self.slots[PACK[row.kind]]
        need = self.need(row)
        try:
            if need and not slots.ready(need):
                self.state.admitting.add(row.id)
                self.state.changed.set()
            if need:  # a call answered at once (tts) holds no slot: it waits for none
                await slots.acquire(need)
        finally:
            hold.slots = need
            self.state.admitting.discard(row.id)
        if not self.stops.may_submit(row.kind) or row.kind in self.stops.not_served:
            self.release(row.kind, hold, clean=False)  # things changed while it waited
            return None
        return hold

    def need(self, row: JobRow) -> int:
        """The slots to reserve for a job: its bound, or, for a task whose count Kling learns
        only at its end (an ``auto`` series), the most a finished one like it has held."""
        learnt = self.state.held.get(self.keys.get(row.id)) if row.kind in LEARNT_SLOTS else None
        return row.slots if learnt is None else min(row.slots, learnt)

    def learn(self, row: JobRow, held: int) -> None:
        """A task of a job in :data:`LEARNT_SLOTS` ended having held ``held`` slots."""
        key = self.keys.get(row.id)
        if row.kind in LEARNT_SLOTS and key is not None:
            self.state.held[key] = max(held, self.state.held.get(key, 0))

    def release(self, kind: JobKind, hold: Hold, *, clean: bool, budget: bool = True) -> None:
        if hold.slots:
            self.admission.ended(kind, clean=clean)
            self.slots[PACK[kind]].release(hold.slots, clean=clean, accepted=hold.accepted)
            hold.slots, hold.accepted = 0, False
        if budget and hold.units:
            self.budgets[PACK[kind]].settle(hold.units, 0.0)
            hold.units = 0.0

    def settle(self, kind: JobKind, hold: Hold, units: float, *, clean: bool) -> None:
        """A task ended: its reservation becomes what it cost, and its slots are free."""
        self.budgets[PACK[kind]].settle(hold.units, units)
        hold.units = 0.0
        self.release(kind, hold, clean=clean)


#: Kinds whose tasks' slots are known only when they end: an omni-image series (its images).
LEARNT_SLOTS = frozenset({JobKind.OMNI_IMAGE})


__all__ = ["LEARNT_SLOTS", "Hold", "RunContext", "RunState"]
