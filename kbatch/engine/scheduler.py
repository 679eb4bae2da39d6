"""The scheduler: admits the manifest's jobs as slots, the rate and the budget allow, gives each
one a :class:`~kbatch.engine.job.JobLife`, and stops the run as its policy says.

::

    scheduler = Scheduler(batch, provider, on_event=print)
    await scheduler.run()               # returns when every job rests, or the run stops
    scheduler.snapshot()                # how it stands, at any moment (for a progress display)

Work is counted in Kling slots per pack type (:class:`~kbatch.engine.pacing.Slots`); creates pass
a rate limiter (aiolimiter) and the budget; statuses come from one
:class:`~kbatch.engine.polling.Poller`. Kinds of stop (:class:`~kbatch.engine.stops.Stops`): an
interrupt, a provider that stays unavailable, or a state that cannot be written stop everything at
once; a fatal provider answer stops submitting and lets the tasks at the provider be followed; the
budget holds back the jobs that do not fit. Nothing is lost in any of them: the next run resumes
from the state.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

from kbatch.engine import signatures
from kbatch.engine.assembly import assemble
from kbatch.engine.batch import Batch
from kbatch.engine.callbacks import Receiver
from kbatch.engine.clock import Clock, SystemClock
from kbatch.engine.context import Hold, RunContext
from kbatch.engine.events import EventName, OnEvent
from kbatch.engine.job import JobLife
from kbatch.engine.mediaserve import Served
from kbatch.engine.options import Snapshot, StopReason
from kbatch.engine.readahead import read_ahead
from kbatch.engine.readiness import Pipeline
from kbatch.engine.uploads import open_media, serving
from kbatch.errors import ManifestError, StateError
from kbatch.manifest.jobs import Job
from kbatch.provider.catalogue import PACK
from kbatch.provider.config import Listen
from kbatch.provider.protocol import Provider
from kbatch.store.records import FailureReason, JobRow, JobState
from kbatch.words import noun


class Scheduler:
    """One run of a batch over one client."""

    def __init__(
        self,
        batch: Batch,
        provider: Provider,
        on_event: OnEvent,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.batch = batch
        self.run_context = assemble(
            batch,
            provider,
            on_event,
            clock=clock or SystemClock(),
            adopted=self._adopted,
            lost=self._drop,
        )
        self._workers: set[asyncio.Task[None]] = set()
        self._active: set[str] = set()
        self._lives: dict[str, asyncio.Task[None]] = {}
        self._selected = sum(1 for i in batch.ids if batch.options.selects(i))
        self._packs = sorted({PACK[batch.rows[i].kind] for i in batch.ids})
        self._fed = False
        self.pipeline = Pipeline(self.run_context, batch.manifest.graph)
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
            counts={state: run.recorder.counts[state] for state in JobState},
            selected=self._selected,
            in_flight=sum(slots.used for slots in run.slots.values()),
            target=sum(slots.target for slots in run.slots.values()),
            slots={pack: (run.slots[pack].used, run.slots[pack].target) for pack in self._packs},
            units={pack: budget.spent for pack, budget in run.budgets.items()},
            submitted=run.state.submitted,
            uploads=run.state.media.progress if run.state.media is not None else None,
            waiting=len(self.pipeline.waiting),
        )

    def interrupt(self) -> None:
        self.run_context.stops.interrupt()

    # -- the run -------------------------------------------------------------------------------

    async def run(self) -> None:
        run, media = self.run_context, self.batch.manifest.media
        listen = self.batch.options.listen or self.batch.manifest.callbacks
        served = serving(media, listen.public_url if listen else None)
        receiver = await self._listen(served)
        run.state.media = open_media(
            media,
            self.batch.store,
            clock=run.clock,
            backoff=run.backoff,
            emit=lambda message: run.emit(EventName.UPLOAD, None, message),
            served=served,
        )
        try:
            await self._run()
        finally:
            await run.state.media.close()
            if receiver is not None:
                await receiver.close()

    async def _listen(self, served: Served | None = None) -> Receiver | None:
        """Start the callback receiver, if asked for (ConfigError before anything is sent);
        ``served``: the run's media served on the same listener."""
        run = self.run_context
        listen = Listen.chosen(self.batch.options.listen, self.batch.manifest.callbacks)
        if listen is None:
            return None
        secret = signatures.from_environment(os.environ, listen.secret_env)
        routes = served.install if served is not None else None
        self.receiver = receiver = Receiver(
            listen, hint=run.poller.hint, secret=secret, routes=routes
        )
        await receiver.start()
        run.state.callback_url = receiver.callback_url
        run.poller.callbacks = True
        return receiver

    async def _run(self) -> None:
        await self.run_context.admission.course(self._work)

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
        for pack, ids in sorted(run.state.held_by_budget.items()):
            if not ids:  # every job it held back started after all
                continue
            budget, held = run.budgets[pack], len(ids)
            self.notice = (
                f"{held} {pack} {noun(held, 'job')} {'was' if held == 1 else 'were'} not started: "
                f"they could take spending past the {pack} "
                f"budget of {budget.limit or 0:g} units ({budget.spent:g} spent)"
            )
            run.emit(EventName.BUDGET, None, self.notice)
        for pack, message in stops.halted_packs.items():
            self.notice = f"{message}: {pack} jobs were not submitted; top up the pack"
        if overdue and self.notice != overdue:
            self.notice = f"{overdue}; {self.notice}"

    async def _drive(self) -> None:
        await self.run_context.admission.drive(self._feed_pass, self._settle, self.batch.ids)

    async def _feed_pass(self, only: set[str] | None) -> None:
        await self._feed(only)
        self._fed = True
        self.run_context.state.changed.set()

    async def _settle(self) -> None:
        while self._workers:
            await asyncio.wait(set(self._workers))

    async def _stalled(self) -> None:
        """Return when nothing can go on but tasks past task_timeout: the run may end without
        waiting for them (they stay at the provider, and the next run adopts them)."""
        run = self.run_context
        while True:
            await run.state.changed.wait()
            run.state.changed.clear()
            if not run.state.overdue:
                continue
            overdue, admitting = run.state.overdue, run.state.admitting
            busy = [i for i in self._active if i not in overdue and i not in admitting]
            feed_waits = self._fed or any(i not in self._active for i in admitting)
            if not busy and feed_waits:
                self._overdue_notice()  # now: ending the run cancels the lives it counts
                return

    def _overdue_notice(self) -> None:
        run = self.run_context
        count = len(run.state.overdue)
        tasks = "task is" if count == 1 else "tasks are"
        self.notice = (
            f"{count} {tasks} still running at the provider past task_timeout "
            f"({run.manifest.limits.task_timeout:g}s); the next run adopts them (nothing is "
            "sent again)"
        )
        waiting = len(run.state.admitting)
        if waiting:
            self.notice += f"; {waiting} more jobs wait for the slots they hold"

    async def _feed(self, only: set[str] | None = None) -> None:
        """Admit the manifest's pending jobs in order (of ``only``, if given), as slots, the
        rate and the budget allow; the jobs that take from others are read ahead of admission
        and parked in the pipeline, so a ready one goes before the next new job (whole rows
        finish first). Every job read is held in memory (fine to ~100k jobs)."""
        run = self.run_context
        if only is not None and not only:
            return
        await self.pipeline.refresh()
        plain: asyncio.Queue[Job | None] = asyncio.Queue()
        reader = asyncio.create_task(read_ahead(run, self.pipeline, self._active, plain, only))
        try:
            while (job := await plain.get()) is not None:
                if run.stops.reason is not None:
                    return
                await self.pipeline.offer_ready(self._offer_parked)
                _prefetch(self.run_context, job)
                await self._offer(job, again=only is not None)
            await reader  # its ManifestError, if the manifest broke
            await self.pipeline.drain(self._offer_parked, self._active)
        except ManifestError as exc:
            run.emit(EventName.MANIFEST, None, f"{exc}: jobs after it were not run")
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _offer_parked(self, job: Job) -> None:
        _prefetch(self.run_context, job)
        await self._offer(job)

    async def _offer(self, job: Job, *, again: bool = False) -> None:
        """Admit one job. ``again``: the shared state said it is pending, whatever this
        runner last saw of it (another runner may have moved it since)."""
        run = self.run_context
        row = run.recorder.rows.get(job.id)
        if row is None or row.fingerprint != job.fingerprint:
            run.emit(EventName.SKIPPED, job.id, "changed since the run started: run again")
            return
        if _living(self._lives, job.id):  # its resumed life may need to send it again
            made = await self.pipeline.resolve(job)  # as its upstreams' results
            if _living(self._lives, job.id):  # still: else it ended while they were read
                if not isinstance(made, str):  # else it is not sent now: the next run says why
                    run.state.parked[job.id] = made
                return
            row = run.recorder.rows.get(job.id)
            if row is None:
                return
        if not run.options.selects(job.id) or (row.state is not JobState.PENDING and not again):
            return
        if row.state is not JobState.PENDING:  # as the shared state has it now
            row = replace(row, state=JobState.PENDING)
            run.recorder.took(row)
        if self.pipeline.hold(job):  # waits for a job it takes from, or is blocked
            return
        made = await self.pipeline.resolve(job)  # references: the upstreams' results
        if isinstance(made, str):
            JobLife(run, row, job, Hold()).fail(FailureReason.UPSTREAM, made, None)
            self.pipeline.ended(job.id)
            return
        job = made
        hold = await run.admit(row)
        if hold is not None:
            self._spawn(row, job, hold)
        elif row.kind in run.stops.not_served and run.stops.may_submit(row.kind):
            message = run.stops.not_served[row.kind]
            JobLife(run, row, job, Hold()).fail(FailureReason.NOT_SERVED, message, None)

    def _spawn(self, row: JobRow, job: Job | None, hold: Hold) -> None:
        self._active.add(row.id)
        worker = asyncio.create_task(JobLife(self.run_context, row, job, hold).live())
        self._workers.add(worker)
        self._lives[row.id] = worker
        worker.add_done_callback(lambda done: self._ended(row.id, done))

    def _adopted(self, row: JobRow, before: str) -> None:
        """A job of a lapsed lease, now this runner's: follow it from where it stands."""
        if _living(self._lives, row.id):
            return
        run = self.run_context
        run.recorder.took(row)
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
        if self._lives.get(job_id) is worker:  # else the feed gave the job a new life since
            del self._lives[job_id]
            self._active.discard(job_id)
        self.run_context.state.changed.set()
        self.pipeline.ended(job_id)
        if not worker.cancelled() and (failure := worker.exception()) is not None:
            self.run_context.stops.crash(failure)


def _prefetch(run: RunContext, job: Job) -> None:
    """Start the uploads of a job this run will send, ahead of its slots (a job done already
    needs none: a rerun asks the store nothing)."""
    row = run.recorder.rows.get(job.id)
    if run.state.media is None or row is None or not run.options.selects(job.id):
        return
    if row.state is JobState.PENDING:
        run.state.media.prefetch(job)


def _living(lives: dict[str, asyncio.Task[None]], job_id: str) -> bool:
    """A life of the job is still at work. One that has returned sends nothing more, though
    its end (:meth:`Scheduler._ended`, a done callback) may not have run yet: a feed woken by
    the slots it gave back comes first, and must admit the job itself, not park it for that
    life (it would stay pending: the run ended with a job never sent)."""
    worker = lives.get(job_id)
    return worker is not None and not worker.done()


__all__ = ["Batch", "Scheduler"]
