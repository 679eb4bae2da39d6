"""What the jobs of one run share: the stop policy, the journal of the state, admission.

The scheduler builds one :class:`RunContext`; every :class:`~kbatch.engine.job.JobLife` reads
and writes the run through it, so that a job's life never reaches into the scheduler.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiolimiter import AsyncLimiter

from kbatch.engine.clock import Clock
from kbatch.engine.downloads import Syncer
from kbatch.engine.events import Event, EventName, OnEvent, row_fields
from kbatch.engine.options import RunOptions, StopReason
from kbatch.engine.pacing import Budget, Slots
from kbatch.engine.polling import Poller
from kbatch.engine.retry import Backoff, GaveUp
from kbatch.errors import ApiError, RetryLater, RunFatal, StateError
from kbatch.manifest import Manifest
from kbatch.manifest.jobs import Job
from kbatch.provider.catalogue import PACK, JobKind, PackType
from kbatch.provider.client import Client
from kbatch.provider.wire import ACCOUNT_CODES, AUTH_CODES, Code, Task
from kbatch.store.protocol import StateStore
from kbatch.store.records import JobRow, JobState, MediaRow, Record

Emit = Callable[[EventName, str | None, str], None]


class Halted(Exception):
    """This job's life stops because the run stops."""


class Stops:
    """The run's stop policy: why it stops, and what may still be submitted.

    An interrupt, a provider that stays unavailable, or a state that cannot be written stop
    everything at once (``halted`` is set and the workers are cancelled). A fatal answer stops
    submitting and lets the tasks at the provider be followed; 1102 (an exhausted pack) stops
    only that pack's submissions.
    """

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self.reason: StopReason | None = None
        self.message: str | None = None
        self.halted_packs: dict[PackType, str] = {}
        self.not_served: dict[JobKind, str] = {}
        self.halted = asyncio.Event()
        self.bug: BaseException | None = None

    def may_submit(self, kind: JobKind) -> bool:
        return self.reason is None and PACK[kind] not in self.halted_packs

    def stop(self, reason: StopReason, message: str) -> None:
        """Stop everything now: the workers are cancelled, the state keeps what they did."""
        if self.reason in (None, StopReason.FATAL):
            self.reason, self.message = reason, message
            self._emit(EventName.STOP, None, message)
        self.halted.set()

    def interrupt(self) -> None:
        self.stop(StopReason.INTERRUPTED, "interrupted: the state is saved; run again to resume")

    def unwritten(self, exc: StateError) -> None:
        self.stop(StopReason.STATE, str(exc))

    def gave_up(self, exc: GaveUp) -> None:
        self.stop(
            StopReason.UNAVAILABLE,
            f"the provider kept failing ({exc.error.message}); run again later to finish: "
            "nothing is lost",
        )

    def fatal(self, exc: ApiError, pack: PackType) -> None:
        """A fatal answer: stop submitting (only this pack's jobs for an exhausted pack)."""
        if exc.code == Code.PACK_EXHAUSTED:
            if pack not in self.halted_packs:
                self.halted_packs[pack] = exc.message
                self._emit(
                    EventName.STOP, None, f"{exc.message}: no more {pack} jobs are submitted"
                )
            return
        if self.reason is None:
            self.reason = StopReason.FATAL
            self.message = advice(exc)
            self._emit(EventName.STOP, None, self.message)

    def trouble(self, exc: ApiError) -> None:
        """Polling cannot go on: the provider refuses (fatal) or keeps failing."""
        if isinstance(exc, RunFatal):
            self.stop(StopReason.FATAL, advice(exc))
        else:
            self.stop(
                StopReason.UNAVAILABLE,
                f"status checks kept failing ({exc.message}); run again later to finish",
            )

    def crash(self, exc: BaseException) -> None:
        """A bug: stop the run and show it."""
        self.bug = self.bug or exc
        self.halted.set()


def advice(exc: ApiError) -> str:
    """What to do about a fatal answer."""
    code = exc.code
    if code in AUTH_CODES:
        what = "check the API key (or KLING_ACCESS_KEY/KLING_SECRET_KEY) in the environment"
    elif code in ACCOUNT_CODES:
        what = "top up the account or its resource pack"
    elif code == Code.IP_POLICY:
        what = "add this machine's IP address to the account's allow-list"
    else:
        what = "fix the account, then run again"
    return f"{exc.message}: {what}; tasks already at the provider are kept and followed next run"


class Journal:
    """The run's view of its state: every record goes to the store in order, and the current
    job rows and their counts by state stay in memory (no read of the store per refresh)."""

    def __init__(self, store: StateStore, rows: dict[str, JobRow], ids: Iterable[str]) -> None:
        self.store = store
        self.rows = rows
        self.counts: Counter[JobState] = Counter(rows[i].state for i in ids)
        #: Which job each task id belongs to: a task is one job's, never two.
        self.by_task: dict[str, str] = {r.task_id: r.id for r in rows.values() if r.task_id}

    async def record(self, *records: Record) -> None:
        """Write and wait until durable: for the transition that precedes spending."""
        await self.store.write(*records)
        self._count(records)

    def note(self, *records: Record) -> None:
        """Queue for the next group commit without waiting. For the steps that cost nothing to
        redo: if lost in a crash, the next run takes the earlier step up again (polls,
        downloads) without a second create. Commits keep order, so the next :meth:`record`
        makes it durable too."""
        self.store.post(*records)
        self._count(records)

    def took(self, row: JobRow) -> None:
        """A row the shared state wrote for this runner (a claim, a take-over): count it."""
        self._count((row,))

    def _count(self, records: Iterable[Record]) -> None:
        for row in records:
            if isinstance(row, JobRow):
                old = self.rows.get(row.id)
                if old is not None:
                    self.counts[old.state] -= 1
                self.counts[row.state] += 1
                self.rows[row.id] = row
                if row.task_id:
                    self.by_task[row.task_id] = row.id


@dataclass
class Hold:
    """What a job's life holds: slots of its pack, and units reserved in the budget."""

    slots: int = 0
    units: float = 0.0
    accepted: bool = False  # the provider took the task: its slots are surely in use there


@dataclass
class RunContext:
    """Everything the jobs of a run share."""

    manifest: Manifest
    options: RunOptions
    client: Client
    clock: Clock
    journal: Journal
    stops: Stops
    slots: dict[PackType, Slots]
    budgets: dict[PackType, Budget]  # one per resource pack: different currencies
    limiter: AsyncLimiter
    poller: Poller
    rng: random.Random
    syncer: Syncer
    on_event: OnEvent
    downloads: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(8))
    #: Jobs the feed reached while their resumed life was still busy: it may send them again.
    parked: dict[str, Job] = field(default_factory=dict)
    #: The media of jobs that just succeeded: their download needs no read of the state.
    results: dict[str, list[MediaRow]] = field(default_factory=dict)
    submitted: int = 0
    #: Jobs held back by each pack's budget.
    held_by_budget: Counter[PackType] = field(default_factory=Counter)
    #: Jobs whose task is past task_timeout: still running at the provider, slots still held.
    overdue: set[str] = field(default_factory=set)
    #: Jobs waiting in admission for slots.
    admitting: set[str] = field(default_factory=set)
    #: Set whenever one of the two above grows: the scheduler checks whether the run can go on.
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    #: Each job's price key, which also tells how long its task takes.
    keys: Mapping[str, Hashable] = field(default_factory=dict)
    #: Where the provider posts callbacks, when this run receives them.
    callback_url: str | None = None
    #: This machine, recorded with each file it downloads.
    host: str = field(default_factory=socket.gethostname)
    #: Claims and leases, when the state is shared with other runners.
    sharing: Any = None  # kbatch.engine.sharing.Sharing (which imports this module)

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

    def backoff(self) -> Backoff:
        return Backoff(self.options.pacing, rng=self.rng, clock=self.clock)

    def announcer(self, job_id: str, exc: ApiError) -> Callable[[float], None]:
        """What tells of a pause before trying again."""

        def announce(seconds: float) -> None:
            message = f"{exc.message}; trying again in {seconds:.1f}s"
            self.emit(EventName.WAIT, job_id, message, code=exc.code, seconds=round(seconds, 3))

        return announce

    async def find(
        self, kind: JobKind, external_id: str, *, job_id: str, quiet: bool = True
    ) -> Task | None:
        """The task created with this external id, or None. Transient failures are retried; a
        fatal answer stops submitting (Halted); another refusal is None when ``quiet``, else
        raised."""
        backoff = self.backoff()
        while True:
            try:
                return await self.client.find(kind, external_id)
            except RetryLater as exc:
                await backoff.pause(exc, announce=self.announcer(job_id, exc))
            except RunFatal as exc:
                self.stops.fatal(exc, PACK[kind])
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
            self.held_by_budget[PACK[row.kind]] += 1
            return None
        hold = Hold(0, row.estimate)
        slots = self.slots[PACK[row.kind]]
        try:
            if not slots.ready(row.slots):
                self.admitting.add(row.id)
                self.changed.set()
            await slots.acquire(row.slots)
        finally:
            hold.slots = row.slots
            self.admitting.discard(row.id)
        if not self.stops.may_submit(row.kind) or row.kind in self.stops.not_served:
            self.release(row.kind, hold, clean=False)  # things changed while it waited
            return None
        return hold

    def release(self, kind: JobKind, hold: Hold, *, clean: bool, budget: bool = True) -> None:
        if hold.slots:
            if self.sharing is not None:
                self.sharing.ended(kind, clean=clean)
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


__all__ = ["Emit", "Halted", "Hold", "Journal", "RunContext", "Stops", "advice"]
