"""The scheduler: admits the manifest's jobs as slots, the rate and the budget allow, gives each
one a :class:`~kbatch.engine.job.JobLife`, and stops the run as its policy says.

::

    scheduler = Scheduler(batch, client, on_event=print)
    await scheduler.run()               # returns when every job rests, or the run stops
    scheduler.snapshot()                # how it stands, at any moment (for a progress display)

Work is counted in Kling slots per pack type (:class:`~kbatch.engine.pacing.Slots`); creates pass
a rate limiter (aiolimiter) and the budget; statuses come from one
:class:`~kbatch.engine.polling.Poller`. Kinds of stop (:class:`~kbatch.engine.context.Stops`): an
interrupt, a provider that stays unavailable, or a state that cannot be written stop everything at
once; a fatal provider answer stops submitting and lets the tasks at the provider be followed; the
budget holds back the jobs that do not fit. Nothing is lost in any of them: the next run resumes
from the state.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Hashable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from aiolimiter import AsyncLimiter

from kbatch.engine.callbacks import Receiver
from kbatch.engine.clock import Clock, SystemClock
from kbatch.engine.context import Hold, Journal, RunContext, Stops
from kbatch.engine.downloads import Syncer
from kbatch.engine.durations import Durations
from kbatch.engine.events import EventName, OnEvent
from kbatch.engine.job import JobLife
from kbatch.engine.options import RunOptions, Snapshot, StopReason
from kbatch.engine.pacing import Budget, Slots
from kbatch.engine.polling import Poller
from kbatch.engine.retry import Backoff
from kbatch.engine.sharing import Sharing
from kbatch.errors import ManifestError, StateError
from kbatch.manifest import Manifest
from kbatch.manifest.jobs import Job
from kbatch.provider.catalogue import PACK, PackType
from kbatch.provider.client import Client
from kbatch.store.protocol import StateStore
from kbatch.store.records import JobRow, JobState


@dataclass
class Batch:
    """What a run works on: a manifest in line with its state (see :func:`kbatch.run.prepare`)."""

    manifest: Manifest
    store: StateStore
    options: RunOptions
    ids: list[str]  # the manifest's jobs, in order
    rows: dict[str, JobRow]
    resumed: list[JobRow]  # at the provider, or succeeded and not yet downloaded
    #: Each job's price key (kind, model, mode, duration), which also says how long it takes.
    keys: Mapping[str, Hashable] = field(default_factory=dict)


def earlier_durations(batch: Batch) -> Durations:
    """What earlier runs' finished tasks say about how long tasks take, as a first guess."""
    durations = Durations()
    for job_id in batch.ids:
        row, key = batch.rows[job_id], batch.keys.get(job_id)
        if key is None or row.state not in (JobState.SUCCEEDED, JobState.DOWNLOADED):
            continue
        if row.submitted_at is not None and row.finished_at is not None:
            durations.remember(key, row.finished_at - row.submitted_at)
    return durations


class Scheduler:
    """One run of a batch over one client."""

    def __init__(
        self,
        batch: Batch,
        client: Client,
        on_event: OnEvent,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.batch = batch
        options, limits = batch.options, batch.manifest.limits
        clock = clock or SystemClock()
        rng = random.Random(options.seed)
        pacing = options.pacing
        in_flight = options.max_in_flight or limits.max_in_flight
        spent = batch.store.units()
        journal = Journal(batch.store, batch.rows, batch.ids)
        self.run_context = run = RunContext(
            manifest=batch.manifest,
            options=options,
            client=client,
            clock=clock,
            journal=journal,
            stops=Stops(lambda name, job, message: run.emit(name, job, message)),
            slots={pack: Slots(in_flight) for pack in PackType},
            budgets=Budget.per_pack(options.budgets(limits.budget_units), spent),
            limiter=AsyncLimiter(1, 60.0 / limits.submit_per_minute),
            poller=Poller(
                client,
                floor=limits.poll_interval or batch.manifest.provider.spec.poll_floor,
                longest=limits.poll_max,
                durations=earlier_durations(batch),
                backoff=Backoff(pacing, rng=rng, clock=clock),
                clock=clock,
                on_trouble=lambda exc: run.stops.trouble(exc),
                list_pages=pacing.list_pages,
            ),
            rng=rng,
            syncer=Syncer(batch.manifest.output.dir),
            on_event=on_event,
            downloads=asyncio.Semaphore(pacing.downloads),
            keys=batch.keys,
        )
        batch.store.on_failure = run.stops.unwritten  # a queued transition was not written
        self._workers: set[asyncio.Task[None]] = set()
        self._active: set[str] = set()
        self._lives: dict[str, asyncio.Task[None]] = {}
        shared = batch.store.shared
        self.sharing = run.sharing = (
            Sharing(shared, run, salt=batch.store.salt, adopted=self._adopted, lost=self._drop)
            if shared is not None
            else None
        )
        self._selected = sum(1 for i in batch.ids if options.selects(i))
        self._packs = sorted({PACK[batch.rows[i].kind] for i in batch.ids})
        self._fed = False
        self.notice: str | None = None
        self.receiver: Receiver | None = None  # when this run receives callbacks

    @property
    def stop(self) -> StopReason | None:
        return self.run_context.stops.reason

    @property
    def stop_message(self) -> str | None:
        return self.run_context.stops.message

    def snapshot(self) -> Snapshot:
        run = self.run_context
        return Snapshot(
            counts={state: run.journal.counts[state] for state in JobState},
            selected=self._selected,
            in_flight=sum(slots.used for slots in run.slots.values()),
            target=sum(slots.target for slots in run.slots.values()),
            slots={pack: (run.slots[pack].used, run.slots[pack].target) for pack in self._packs},
            units={pack: budget.spent for pack, budget in run.budgets.items()},
            submitted=run.submitted,
        )

    def interrupt(self) -> None:
        self.run_context.stops.interrupt()

    # -- the run -------------------------------------------------------------------------------

    async def run(self) -> None:
        receiver = await self._listen()
        try:
            await self._run()
        finally:
            if receiver is not None:
                await receiver.close()

    async def _listen(self) -> Receiver | None:
        """Start the callback receiver, if asked for (ConfigError before anything is sent)."""
        run = self.run_context
        listen = self.batch.options.listen or self.batch.manifest.callbacks
        if listen is None:
            return None
        self.receiver = receiver = Receiver(listen, hint=run.poller.hint)
        await receiver.start()
        run.callback_url = receiver.callback_url
        run.poller.callbacks = True
        return receiver

    async def _run(self) -> None:
        if self.sharing is None:
            await self._work()
            return
        await self.sharing.start(slot_limit=self.run_context.slots[PackType.VIDEO].limit)
        tend = asyncio.create_task(self.sharing.tend())
        try:
            await self._work()
        finally:
            tend.cancel()
            await asyncio.gather(tend, return_exceptions=True)
            await self.sharing.leave()

    async def _work(self) -> None:
        run = self.run_context
        poller = asyncio.create_task(run.poller.run())
        for row in self.batch.resumed:
            self._spawn(row, None, self._resumed_hold(row))
        drive = asyncio.create_task(self._drive())
        halt = asyncio.create_task(run.stops.halted.wait())
        stall = asyncio.create_task(self._stalled())
        try:
            await asyncio.wait({drive, halt, stall}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (drive, halt, stall, *self._workers):
                task.cancel()
            await asyncio.gather(drive, halt, stall, *self._workers, return_exceptions=True)
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
            await self.batch.store.drain()
        self._conclude(drive)

    def _resumed_hold(self, row: JobRow) -> Hold:
        """Count what a task a previous run left at the provider holds, whatever the limits."""
        if not row.state.at_provider:
            return Hold()
        run = self.run_context
        accepted = row.state is not JobState.SUBMITTING
        run.slots[PACK[row.kind]].take(row.slots, accepted=accepted)
        run.budgets[PACK[row.kind]].reserve(row.estimate)
        return Hold(row.slots, row.estimate, accepted)

    def _conclude(self, drive: asyncio.Task[None]) -> None:
        overdue = self.notice  # set when the run ended with only overdue tasks left
        stops = self.run_context.stops
        failure = drive.exception() if drive.done() and not drive.cancelled() else None
        if isinstance(failure, StateError):
            stops.stop(StopReason.STATE, str(failure))
        elif failure is not None:
            stops.crash(failure)
        if stops.bug is not None:
            raise stops.bug
        run = self.run_context
        for pack, held in sorted(run.held_by_budget.items()):
            budget = run.budgets[pack]
            self.notice = (
                f"{held} {pack} jobs were not started: they could take spending past the {pack} "
                f"budget of {budget.limit or 0:g} units ({budget.spent:g} spent)"
            )
            run.emit(EventName.BUDGET, None, self.notice)
        for pack, message in stops.halted_packs.items():
            self.notice = f"{message}: {pack} jobs were not submitted; top up the pack"
        if overdue and self.notice != overdue:
            self.notice = f"{overdue}; {self.notice}"

    async def _drive(self) -> None:
        if self.sharing is not None:
            await self.sharing.drive(self._feed_pass, self._settle, self.batch.ids)
            return
        await self._feed_pass(None)
        await self._settle()

    async def _feed_pass(self, only: set[str] | None) -> None:
        await self._feed(only)
        self._fed = True
        self.run_context.changed.set()

    async def _settle(self) -> None:
        while self._workers:
            await asyncio.wait(set(self._workers))

    async def _stalled(self) -> None:
        """Return when nothing can go on but tasks past task_timeout: the run may end without
        waiting for them (they stay at the provider, and the next run adopts them)."""
        run = self.run_context
        while True:
            await run.changed.wait()
            run.changed.clear()
            if not run.overdue:
                continue
            busy = [i for i in self._active if i not in run.overdue and i not in run.admitting]
            feed_waits = self._fed or any(i not in self._active for i in run.admitting)
            if not busy and feed_waits:
                self._overdue_notice()  # now: ending the run cancels the lives it counts
                return

    def _overdue_notice(self) -> None:
        run = self.run_context
        count = len(run.overdue)
        tasks = "task is" if count == 1 else "tasks are"
        self.notice = (
            f"{count} {tasks} still running at the provider past task_timeout "
            f"({run.manifest.limits.task_timeout:g}s); the next run adopts them (nothing is "
            "sent again)"
        )
        waiting = len(run.admitting)
        if waiting:
            self.notice += f"; {waiting} more jobs wait for the slots they hold"

    async def _feed(self, only: set[str] | None = None) -> None:
        """Admit the manifest's pending jobs in order (of ``only``, if given), as slots, the
        rate and the budget allow."""
        run = self.run_context
        if only is not None and not only:
            return
        try:
            async for job in self._jobs():
                if run.stops.reason is not None:
                    return
                if only is not None and job.id not in only:
                    continue
                await self._offer(job, again=only is not None)
        except ManifestError as exc:
            run.emit(EventName.MANIFEST, None, f"{exc}: jobs after it were not run")

    async def _offer(self, job: Job, *, again: bool = False) -> None:
        """Admit one job. ``again``: the shared state said it is pending, whatever this
        runner last saw of it (another runner may have moved it since)."""
        run = self.run_context
        row = run.journal.rows.get(job.id)
        if row is None or row.fingerprint != job.fingerprint:
            run.emit(EventName.SKIPPED, job.id, "changed since the run started: run again")
            return
        if job.id in self._active:
            run.parked[job.id] = job  # its resumed life may need to send it again
            return
        if not run.options.selects(job.id) or (row.state is not JobState.PENDING and not again):
            return
        if row.state is not JobState.PENDING:  # as the shared state has it now
            row = replace(row, state=JobState.PENDING)
            run.journal.took(row)
        hold = await run.admit(row)
        if hold is not None:
            self._spawn(row, job, hold)
        elif row.kind in run.stops.not_served and run.stops.may_submit(row.kind):
            JobLife(run, row, job, Hold()).fail("not_served", run.stops.not_served[row.kind], None)

    async def _jobs(self) -> AsyncIterator[Job]:
        """The manifest's jobs, read in a thread a few hundred at a time."""
        jobs = self.batch.manifest.jobs()
        while chunk := await asyncio.to_thread(_take, jobs, 256):
            for job in chunk:
                yield job

    def _spawn(self, row: JobRow, job: Job | None, hold: Hold) -> None:
        self._active.add(row.id)
        worker = asyncio.create_task(JobLife(self.run_context, row, job, hold).live())
        self._workers.add(worker)
        self._lives[row.id] = worker
        worker.add_done_callback(lambda done: self._ended(row.id, done))

    def _adopted(self, row: JobRow, before: str) -> None:
        """A job of a lapsed lease, now this runner's: follow it from where it stands."""
        if row.id in self._active:
            return
        run = self.run_context
        run.journal.took(row)
        whose = f"runner {before}" if before else "no runner"
        message = f"taken over from {whose} (its lease lapsed), at {row.state}"
        run.emit(EventName.TAKEN_OVER, row.id, message, row=row)
        self._spawn(row, None, self._resumed_hold(row))

    def _drop(self, job_id: str) -> None:
        """Another runner has the job now: stop its life here (its holds are given back)."""
        worker = self._lives.get(job_id)
        if worker is not None:
            worker.cancel()

    def _ended(self, job_id: str, worker: asyncio.Task[None]) -> None:
        """A life ended: an exception that is not the run's is a bug, which stops the run."""
        self._workers.discard(worker)
        self._active.discard(job_id)
        if self._lives.get(job_id) is worker:
            del self._lives[job_id]
        self.run_context.changed.set()
        if not worker.cancelled() and (failure := worker.exception()) is not None:
            self.run_context.stops.crash(failure)


def _take(jobs: Iterator[Job], count: int) -> list[Job]:
    return list(itertools.islice(jobs, count))


__all__ = ["Batch", "Scheduler"]
