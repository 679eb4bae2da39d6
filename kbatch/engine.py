"""The scheduler: every job of a run through submit, poll and download, exactly once.

Each job follows DESIGN.md's state machine, and every transition goes to the state file, in order.
The external task id of an attempt is on disk before its create is sent (:meth:`Engine._record`
waits for it), so a create whose answer was lost (timeout, reset, crash, kill -9) is looked up by
that id and adopted, and sent again only when the provider says it has no such task. The later
transitions are queued for the next group commit without waiting (:meth:`Engine._note`): a crash
may lose the last of them, and the next run then polls or downloads again, at no cost.

Work is counted in Kling slots per pack type (:class:`~kbatch.pacing.Slots`); creates pass a rate
limiter (aiolimiter) and the budget; transient failures are retried with backoff and full jitter
without using up a job's attempts, up to a bound after which the run stops as "unavailable";
statuses come from :class:`~kbatch.polling.Poller`.

Kinds of stop: an interrupt (SIGINT/SIGTERM), a provider that stays unavailable, or a state file
that cannot be written stop everything at once; a fatal provider answer (credentials, arrears, IP
policy) stops submitting and lets the tasks at the provider be followed (1102, an exhausted pack,
stops only that pack's jobs); the budget holds back the jobs that do not fit. Nothing is lost in
any of them: the next run resumes from the state file.
"""

from __future__ import annotations

import asyncio
import enum
import fnmatch
import itertools
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiolimiter import AsyncLimiter

from kbatch import download
from kbatch.client import Client, Timeouts
from kbatch.errors import (
    ApiError,
    JobRejected,
    ManifestError,
    OutcomeUnknown,
    RetryLater,
    RouteNotServed,
    RunFatal,
    StateError,
    TaskNotFound,
)
from kbatch.jobs import Job
from kbatch.kling import PACK, JobKind, PackType
from kbatch.manifest import Manifest
from kbatch.pacing import Budget, Pacing, Slots, backoff
from kbatch.polling import Poller, Watch
from kbatch.state import AttemptRow, JobRow, JobState, MediaRow, Record, State, external_task_id
from kbatch.wire import Task, TaskStatus

if TYPE_CHECKING:
    from kbatch.report import Input


class StopReason(enum.StrEnum):
    INTERRUPTED = "interrupted"  # SIGINT / SIGTERM
    FATAL = "fatal"  # the provider refuses every further request (credentials, arrears, ...)
    UNAVAILABLE = "unavailable"  # the provider kept failing: try again later
    STATE = "state"  # the state file cannot be written (disk full)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What ``kbatch run`` takes from the command line; None leaves the manifest's value."""

    max_in_flight: int | None = None
    budget: float | None = None
    only: tuple[str, ...] = ()
    retry_failed: bool = False
    state_path: Path | None = None
    pacing: Pacing = field(default_factory=Pacing)
    timeouts: Timeouts = field(default_factory=Timeouts)
    seed: int | None = None

    def selects(self, job_id: str) -> bool:
        return not self.only or any(fnmatch.fnmatchcase(job_id, glob) for glob in self.only)


@dataclass(frozen=True, slots=True)
class Event:
    """Something a run did, for the log: ``name`` is a transition or a notice."""

    name: str
    job: str | None
    message: str
    time: float = field(default_factory=time.time)
    data: Mapping[str, Any] = field(default_factory=dict)


OnEvent = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """How a run stands, for a progress display: jobs of the manifest by state, slots in use
    and their target over both pack types, units spent, and how many creates were accepted."""

    counts: Mapping[JobState, int]
    selected: int  # jobs this run means to finish (--only)
    in_flight: int
    target: int
    units: float
    submitted: int  # creates the provider accepted in this run


@dataclass
class Plan:
    """A manifest brought in line with its state file, ready to run. Holds the run lock."""

    manifest: Manifest
    state: State
    options: RunOptions
    ids: list[str]  # the manifest's jobs, in order
    rows: dict[str, JobRow]
    resumed: list[JobRow]  # at the provider, or succeeded and not yet downloaded
    pending: int  # selected jobs to submit
    inputs: dict[str, tuple[Input, ...]] = field(default_factory=dict)  # for the gallery

    @property
    def idle(self) -> bool:
        return not self.resumed and not self.pending

    def close(self) -> None:
        self.state.close()


@dataclass
class _Hold:
    """What a job's worker holds: slots of its pack, and units reserved in the budget."""

    slots: int = 0
    units: float = 0.0
    accepted: bool = False  # the provider took the task: its slots are surely in use there


class _Halted(Exception):
    """This worker stops because the run stops."""


class Engine:
    """One run of a Plan over one client. Use :func:`execute`."""

    def __init__(self, plan: Plan, client: Client, on_event: OnEvent) -> None:
        self.plan = plan
        self.manifest = plan.manifest
        self.state = plan.state
        self.options = plan.options
        self.client = client
        self.rows = plan.rows
        self._emit_to = on_event
        limits = self.manifest.limits
        self.limits = limits
        pacing = self.options.pacing
        self.pacing = pacing
        in_flight = self.options.max_in_flight or limits.max_in_flight
        self.slots = {pack: Slots(in_flight) for pack in PackType}
        budget = self.options.budget if self.options.budget is not None else limits.budget_units
        self.budget = Budget(budget, self.state.units())
        self.limiter = AsyncLimiter(1, 60.0 / limits.submit_per_minute)
        self.rng = random.Random(self.options.seed)
        self.poller = Poller(
            client,
            first=limits.poll_interval,
            longest=limits.poll_max,
            pacing=pacing,
            on_trouble=self._trouble,
            rng=self.rng,
        )
        self._downloads = asyncio.Semaphore(pacing.downloads)
        self._syncer = download.Syncer(self.manifest.output.dir)
        self.state.on_failure = self._unwritten  # a transition queued by _note was not written
        self._workers: set[asyncio.Task[None]] = set()
        self._active: set[str] = set()
        self._parked: dict[str, Job] = {}
        self._results: dict[str, list[MediaRow]] = {}  # media of jobs just succeeded
        self._halted_packs: dict[PackType, str] = {}
        self._not_served: dict[JobKind, str] = {}
        self._held_by_budget = 0
        self.stop: StopReason | None = None
        self.stop_message: str | None = None
        self.notice: str | None = None
        self._halt = asyncio.Event()
        self._bug: BaseException | None = None
        self._counts: Counter[JobState] = Counter(self.rows[i].state for i in plan.ids)
        self._selected = sum(1 for i in plan.ids if self.options.selects(i))
        self._submitted = 0

    def snapshot(self) -> Snapshot:
        return Snapshot(
            counts={state: self._counts[state] for state in JobState},
            selected=self._selected,
            in_flight=sum(slots.used for slots in self.slots.values()),
            target=sum(slots.target for slots in self.slots.values()),
            units=self.budget.spent,
            submitted=self._submitted,
        )

    # -- the run -------------------------------------------------------------------------------

    async def run(self) -> None:
        poller = asyncio.create_task(self.poller.run())
        for row in self.plan.resumed:
            hold = _Hold()
            if row.state.at_provider:
                accepted = row.state is not JobState.SUBMITTING
                self.slots[PACK[row.kind]].take(row.slots, accepted=accepted)
                self.budget.reserve(row.estimate)
                hold = _Hold(row.slots, row.estimate, accepted)
            self._spawn(row, None, hold)
        drive = asyncio.create_task(self._drive())
        halt = asyncio.create_task(self._halt.wait())
        try:
            await asyncio.wait({drive, halt}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (drive, halt, *self._workers):
                task.cancel()
            await asyncio.gather(drive, halt, *self._workers, return_exceptions=True)
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
            await self.state.drain()
        failure = drive.exception() if drive.done() and not drive.cancelled() else None
        if isinstance(failure, StateError):
            self._stop(StopReason.STATE, str(failure))
        elif failure is not None:
            self._bug = self._bug or failure
        if self._bug is not None:
            raise self._bug
        if self._held_by_budget:
            self.notice = (
                f"{self._held_by_budget} jobs were not started: they could take spending past "
                f"the budget of {self.budget.limit:g} units ({self.budget.spent:g} spent)"
            )
            self._emit("budget", None, self.notice)
        for pack, message in self._halted_packs.items():
            self.notice = f"{message}: {pack} jobs were not submitted; top up the pack"

    def interrupt(self) -> None:
        self._stop(StopReason.INTERRUPTED, "interrupted: the state is saved; run again to resume")

    async def _drive(self) -> None:
        await self._feed()
        while self._workers:
            await asyncio.wait(set(self._workers))

    async def _feed(self) -> None:
        """Admit the manifest's pending jobs in order, as slots, the rate and the budget allow."""
        try:
            async for job in self._jobs():
                if self.stop is not None:
                    return
                row = self.rows.get(job.id)
                if row is None or row.fingerprint != job.fingerprint:
                    self._emit("skipped", job.id, "changed since the run started: run again")
                    continue
                if job.id in self._active:
                    self._parked[job.id] = job  # its resumed worker may need to send it again
                    continue
                if row.state is JobState.PENDING and self.options.selects(job.id):
                    hold = await self._admit(row)
                    if hold is not None:
                        self._spawn(row, job, hold)
        except ManifestError as exc:
            self._emit("manifest", None, f"{exc}: jobs after it were not run")

    async def _jobs(self) -> AsyncIterator[Job]:
        """The manifest's jobs, read in a thread a few hundred at a time."""
        jobs = self.manifest.jobs()
        while chunk := await asyncio.to_thread(_take, jobs, 256):
            for job in chunk:
                yield job

    async def _admit(self, row: JobRow) -> _Hold | None:
        """Reserve budget and slots for a job about to be submitted; None if it is not to be
        submitted now (the run stops, its pack is exhausted, the budget, a route not served)."""
        pack = PACK[row.kind]
        if not await self._may_submit(row):
            return None
        if not self.budget.admit(row.estimate):
            self._held_by_budget += 1
            return None
        hold = _Hold(0, row.estimate)
        try:
            await self.slots[pack].acquire(row.slots)
        finally:
            hold.slots = row.slots
        if not await self._may_submit(row):  # things changed while it waited for a slot
            self._release(row, hold, clean=False)
            return None
        return hold

    async def _may_submit(self, row: JobRow) -> bool:
        if self.stop is not None or PACK[row.kind] in self._halted_packs:
            return False
        if row.kind in self._not_served:
            await self._fail(row, _Hold(), "not_served", self._not_served[row.kind], None)
            return False
        return True

    def _spawn(self, row: JobRow, job: Job | None, hold: _Hold) -> None:
        self._active.add(row.id)
        worker = asyncio.create_task(self._work(row, job, hold))
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    # -- one job -------------------------------------------------------------------------------

    async def _work(self, row: JobRow, job: Job | None, hold: _Hold) -> None:
        try:
            while True:
                if row.state is JobState.PENDING:
                    job = job or self._parked.pop(row.id, None)
                    if job is None or PACK[row.kind] in self._halted_packs:
                        return  # the feed will send it when it gets there, or the next run
                    if hold.slots == 0:
                        admitted = await self._admit(row)
                        if admitted is None:
                            return
                        hold = admitted
                    row = await self._submit(row, job, hold)
                elif row.state is JobState.SUBMITTING:
                    row = await self._adopt(row, job, hold)
                elif row.state in (JobState.SUBMITTED, JobState.RUNNING):
                    row = await self._follow(row, hold)
                elif row.state is JobState.SUCCEEDED and self.manifest.output.download:
                    row = await self._save(row)
                else:
                    return
                if self.stop is not None and row.state is JobState.PENDING:
                    return
        except _Halted:
            return
        except StateError as exc:
            self._stop(StopReason.STATE, str(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: stop the run and show it
            self._bug = self._bug or exc
            self._halt.set()
        finally:
            self._release(row, hold, clean=False)
            self._active.discard(row.id)
            self._parked.pop(row.id, None)
            self._results.pop(row.id, None)

    async def _submit(self, row: JobRow, job: Job, hold: _Hold) -> JobRow:
        await self._rate()
        attempt = row.attempt + 1
        external = external_task_id(self.state.salt, row.id, row.fingerprint, attempt)
        now = time.time()
        row = replace(
            row,
            state=JobState.SUBMITTING,
            attempt=attempt,
            external_task_id=external,
            task_id=None,
            submitted_at=None,
            finished_at=None,
            updated_at=now,
        )
        await self._record(row, AttemptRow(row.id, attempt, external, started_at=now))
        return await self._create(row, job, hold)

    async def _create(self, row: JobRow, job: Job, hold: _Hold) -> JobRow:
        """Send the create of the attempt recorded in ``row`` until it has a definite answer."""
        assert row.external_task_id is not None
        pack = PACK[row.kind]
        transient = 0
        while True:
            try:
                task = await self.client.create(
                    row.kind, job.request, external_task_id=row.external_task_id
                )
            except OutcomeUnknown as exc:
                self._emit("unknown", row.id, f"{exc.message}; looking it up")
                return await self._adopt(row, job, hold)
            except RetryLater as exc:
                slots = self.slots[pack]
                if exc.code == 1303:
                    alone = slots.used <= hold.slots
                    slots.crowded()
                    self._release(row, hold, clean=False, budget=False)
                    transient = transient + 1 if alone else 0
                    await self._retry_pause(row, exc, transient, self.pacing.parallel_wait)
                    await slots.acquire(row.slots)
                    hold.slots = row.slots
                else:
                    transient += 1
                    await self._retry_pause(row, exc, transient, 0.0)
                if self.stop is not None:
                    return await self._unsent(row)
                await self._rate()
                continue
            except RunFatal as exc:
                self._fatal(exc, pack)
                return await self._unsent(row)
            except RouteNotServed as exc:
                self._not_served[row.kind] = exc.message
                return await self._fail(row, hold, "not_served", exc.message, exc.code)
            except (JobRejected, TaskNotFound) as exc:
                return await self._fail(row, hold, "rejected", exc.message, exc.code)
            return await self._accepted(row, hold, task, adopted=False)

    async def _adopt(self, row: JobRow, job: Job | None, hold: _Hold) -> JobRow:
        """A create may have landed: find the task by its external id before sending it again."""
        assert row.external_task_id is not None
        transient = 0
        while True:
            try:
                found = await self.client.find(row.kind, row.external_task_id)
            except RetryLater as exc:
                transient += 1
                await self._retry_pause(row, exc, transient, 0.0)
                continue
            except RunFatal as exc:
                self._fatal(exc, PACK[row.kind])
                raise _Halted from None
            except ApiError as exc:
                message = (
                    f"{exc.message}; the create of {row.external_task_id} may have landed and "
                    "cannot be looked up: check the provider's task list before --retry-failed"
                )
                return await self._fail(row, hold, "unknown_outcome", message, exc.code)
            if found is not None:
                return await self._accepted(row, hold, found, adopted=True)
            job = job or self._parked.pop(row.id, None)
            if job is None or self.stop is not None:
                return await self._unsent(row)
            return await self._create(row, job, hold)

    async def _unsent(self, row: JobRow) -> JobRow:
        """The attempt's create is known not to have made a task: back to pending, same attempt."""
        row = replace(row, state=JobState.PENDING, attempt=row.attempt - 1, updated_at=time.time())
        self._note(row)
        return row

    async def _accepted(self, row: JobRow, hold: _Hold, task: Task, *, adopted: bool) -> JobRow:
        if not hold.accepted:
            self.slots[PACK[row.kind]].accept(hold.slots)
            hold.accepted = True
        now = time.time()
        submitted = task.created_at / 1000 if adopted and task.created_at else now
        row = replace(
            row,
            state=JobState.SUBMITTED,
            task_id=task.task_id,
            submitted_at=submitted,
            updated_at=now,
        )
        assert row.external_task_id is not None
        attempt = AttemptRow(
            row.id, row.attempt, row.external_task_id, task.task_id, started_at=submitted
        )
        self._note(row, attempt)
        self._submitted += not adopted
        verb = "adopted" if adopted else "submitted"
        self._emit(verb, row.id, f"task {task.task_id} (attempt {row.attempt})")
        return row

    async def _follow(self, row: JobRow, hold: _Hold) -> JobRow:
        """Poll the task until it ends or times out."""
        assert row.task_id is not None
        watch = self.poller.watch(row.kind, row.task_id)
        deadline = (row.submitted_at or time.time()) + self.limits.task_timeout
        try:
            while True:
                update = await self._next(watch, deadline)
                if update is None:
                    message = (
                        f"task {row.task_id} took longer than task_timeout "
                        f"({self.limits.task_timeout:g}s); it may still finish at the provider"
                    )
                    return await self._fail(row, hold, "timeout", message, None)
                if isinstance(update, TaskNotFound):
                    message = f"the provider no longer knows task {row.task_id}"
                    return await self._failed_attempt(row, hold, message, 0.0)
                if update.status is TaskStatus.PROCESSING and row.state is JobState.SUBMITTED:
                    row = replace(row, state=JobState.RUNNING, updated_at=time.time())
                    self._note(row)
                    self._emit("running", row.id, f"task {row.task_id}")
                elif update.status is TaskStatus.SUCCEED:
                    return await self._succeeded(row, hold, update)
                elif update.status is TaskStatus.FAILED:
                    message = update.status_msg or "the provider failed the task"
                    return await self._failed_attempt(row, hold, message, update.units or 0.0)
        finally:
            self.poller.forget(watch)

    async def _next(self, watch: Watch, deadline: float) -> Task | TaskNotFound | None:
        remaining = deadline - time.time()
        if remaining <= 0:
            return None
        try:
            async with asyncio.timeout(remaining):  # no task per wait, unlike wait_for
                return await watch.next()
        except TimeoutError:
            return None

    async def _succeeded(self, row: JobRow, hold: _Hold, task: Task) -> JobRow:
        units = task.units or 0.0
        now = time.time()
        self._settle(row, hold, units, clean=True)
        row = replace(
            row,
            state=JobState.SUCCEEDED,
            units=row.units + units,
            finished_at=now,
            updated_at=now,
            error_reason=None,
            error_code=None,
            error_message=None,
        )
        media = [
            MediaRow(row.id, index, item.kind.value, item.url, item.extension)
            for index, item in enumerate(task.media)
        ]
        self._note(row, *media, self._ended(row, "succeed", units, None, now))
        if self.manifest.output.download:
            self._results[row.id] = media  # the download step needs no read of the state
        self._emit(
            "succeeded", row.id, f"task {row.task_id}, {units:g} units, {_files(len(media))}"
        )
        return row

    async def _failed_attempt(self, row: JobRow, hold: _Hold, message: str, units: float) -> JobRow:
        """The provider failed the task: another attempt if max_attempts allows, else failed."""
        now = time.time()
        self._settle(row, hold, units, clean=False)
        failures = row.failures + 1
        ended = self._ended(row, "failed", units, message, now)
        row = replace(row, units=row.units + units, failures=failures, updated_at=now)
        if failures >= self.limits.max_attempts:
            row = replace(row, state=JobState.FAILED, finished_at=now)
            row = _with_error(row, "provider_failed", None, message)
            self._note(row, ended)
            self._emit("failed", row.id, f"{message} (attempt {row.attempt}, no more attempts)")
            return row
        row = replace(row, state=JobState.PENDING, error_message=message)
        self._note(row, ended)
        left = self.limits.max_attempts - failures
        self._emit("retry", row.id, f"{message}; trying again ({left} attempts left)")
        return row

    async def _save(self, row: JobRow) -> JobRow:
        """Download every result file of a succeeded job."""
        media = self._results.pop(row.id, None)
        if media is None:  # a job resumed from an earlier run
            media = await asyncio.to_thread(self.state.media, row.id)
        refreshed = False
        output = self.manifest.output.dir
        for item in media:
            if item.path and (output / item.path).is_file():
                continue
            transient = 0
            while True:
                try:
                    path = download.target(
                        output, row.id, index=item.index, extension=item.extension
                    )
                    async with self._downloads:
                        saved = await download.fetch(
                            self.client, item.url, path, inside=output, durable=False
                        )
                    await self._syncer.sync()  # on disk before the state says so
                    break
                except RetryLater as exc:
                    transient += 1
                    await self._retry_pause(row, exc, transient, 0.0)
                except (JobRejected, RouteNotServed) as exc:
                    fresh = None if refreshed else await self._fresh_media(row)
                    refreshed = True
                    if fresh is None or len(fresh) <= item.index:
                        message = (
                            f"{exc.message}: the result is gone (providers delete results "
                            "after 30 days); --retry-failed generates it again, at a cost"
                        )
                        return await self._fail(row, _Hold(), "result_gone", message, exc.code)
                    item = replace(item, url=fresh[item.index].url)
                except OSError as exc:
                    where = exc.filename or output / download.safe_name(row.id)
                    self._stop(StopReason.STATE, f"cannot write {where}: {exc.strerror or exc}")
                    raise _Halted from None
            relative = saved.path.relative_to(output).as_posix()
            item = replace(item, path=relative, size=saved.size, sha256=saved.sha256)
            self._note(item)
        now = time.time()
        row = replace(row, state=JobState.DOWNLOADED, updated_at=now)
        self._note(row)
        folder = output / download.safe_name(row.id)
        self._emit("downloaded", row.id, f"{_files(len(media))} in {folder}")
        return row

    async def _fresh_media(self, row: JobRow) -> list[MediaRow] | None:
        """Ask for the task again: signed result URLs expire. None if it is gone."""
        assert row.task_id is not None
        try:
            task = await self.client.get(row.kind, row.task_id)
        except (TaskNotFound, JobRejected, RouteNotServed):
            return None
        media = [
            MediaRow(row.id, index, item.kind.value, item.url, item.extension)
            for index, item in enumerate(task.media)
        ]
        self._note(*media)
        return media

    async def _fail(
        self, row: JobRow, hold: _Hold, reason: str, message: str, code: int | str | None
    ) -> JobRow:
        now = time.time()
        self._settle(row, hold, 0.0, clean=False)
        records: list[Record] = []
        if row.state.at_provider and row.external_task_id:
            records.append(self._ended(row, reason, None, message, now))
        row = replace(row, state=JobState.FAILED, finished_at=now)
        row = _with_error(row, reason, code, message)
        self._note(row, *records)
        self._emit("failed", row.id, message)
        return row

    # -- plumbing ------------------------------------------------------------------------------

    def _ended(
        self, row: JobRow, outcome: str, units: float | None, message: str | None, now: float
    ) -> AttemptRow:
        assert row.external_task_id is not None
        return AttemptRow(
            row.id,
            row.attempt,
            row.external_task_id,
            row.task_id,
            started_at=row.submitted_at or now,
            ended_at=now,
            outcome=outcome,
            units=units,
            message=message,
        )

    async def _record(self, row: Record, *more: Record) -> None:
        """Write a transition and wait until it is on disk: for the one that precedes spending
        (``submitting``, before the create)."""
        await self.state.write(row, *more)
        self._count(row)

    def _note(self, row: Record, *more: Record) -> None:
        """Queue a transition for the next group commit without waiting for it. For the steps
        that cost nothing to redo: if it is lost in a crash, the state on disk is an earlier
        step, which the next run takes up again (polls, downloads) without a second create.
        Commits keep order, so the next :meth:`_record` makes it durable too."""
        self.state.post(row, *more)
        self._count(row)

    def _unwritten(self, exc: StateError) -> None:
        self._stop(StopReason.STATE, str(exc))

    def _count(self, row: Record) -> None:
        if isinstance(row, JobRow):
            old = self.rows.get(row.id)
            if old is not None:
                self._counts[old.state] -= 1
            self._counts[row.state] += 1
            self.rows[row.id] = row

    async def _rate(self) -> None:
        await self.limiter.acquire()
        if self.stop is not None:
            raise _Halted

    async def _retry_pause(self, row: JobRow, exc: ApiError, transient: int, least: float) -> None:
        """Wait before trying again; stop the run when the provider keeps failing."""
        if transient >= self.pacing.transient_limit:
            self._stop(
                StopReason.UNAVAILABLE,
                f"the provider kept failing ({exc.message}); run again later to finish: "
                "nothing is lost",
            )
            raise _Halted
        wait = backoff(transient, self.pacing, retry_after=exc.retry_after, rng=self.rng)
        delay = max(least, wait)
        self._emit("wait", row.id, f"{exc.message}; trying again in {delay:.1f}s")
        await asyncio.sleep(delay)

    def _release(self, row: JobRow, hold: _Hold, *, clean: bool, budget: bool = True) -> None:
        if hold.slots:
            self.slots[PACK[row.kind]].release(hold.slots, clean=clean, accepted=hold.accepted)
            hold.slots, hold.accepted = 0, False
        if budget and hold.units:
            self.budget.settle(hold.units, 0.0)
            hold.units = 0.0

    def _settle(self, row: JobRow, hold: _Hold, units: float, *, clean: bool) -> None:
        self.budget.settle(hold.units, units)
        hold.units = 0.0
        self._release(row, hold, clean=clean)

    def _fatal(self, exc: ApiError, pack: PackType) -> None:
        """A fatal answer: stop submitting (only this pack for 1102, an exhausted pack)."""
        if exc.code == 1102:
            if pack not in self._halted_packs:
                self._halted_packs[pack] = exc.message
                self._emit("stop", None, f"{exc.message}: no more {pack} jobs are submitted")
            return
        if self.stop is None:
            self.stop = StopReason.FATAL
            self.stop_message = _advice(exc)
            self._emit("stop", None, self.stop_message)

    def _trouble(self, exc: ApiError) -> None:
        """Polling cannot go on: the provider refuses (fatal) or keeps failing."""
        if isinstance(exc, RunFatal):
            self._stop(StopReason.FATAL, _advice(exc))
        else:
            self._stop(
                StopReason.UNAVAILABLE,
                f"status checks kept failing ({exc.message}); run again later to finish",
            )

    def _stop(self, reason: StopReason, message: str) -> None:
        """Stop everything now: the workers are cancelled, the state keeps what they did."""
        if self.stop in (None, StopReason.FATAL):
            self.stop, self.stop_message = reason, message
            self._emit("stop", None, message)
        self._halt.set()

    def _emit(self, name: str, job: str | None, message: str) -> None:
        self._emit_to(Event(name, job, message))


def _with_error(row: JobRow, reason: str, code: int | str | None, message: str) -> JobRow:
    return replace(
        row,
        error_reason=reason,
        error_code=None if code is None else str(code),
        error_message=message,
    )


def _advice(exc: ApiError) -> str:
    code = exc.code
    if code in (1000, 1001, 1002, 1003, 1004):
        what = "check the API key (or KLING_ACCESS_KEY/KLING_SECRET_KEY) in the environment"
    elif code in (1100, 1101, 1102):
        what = "top up the account or its resource pack"
    elif code == 1304:
        what = "add this machine's IP address to the account's allow-list"
    else:
        what = "fix the account, then run again"
    return f"{exc.message}: {what}; tasks already at the provider are kept and followed next run"


def _take(jobs: Iterator[Job], count: int) -> list[Job]:
    return list(itertools.islice(jobs, count))


def _files(count: int) -> str:
    return f"{count} file" + ("" if count == 1 else "s")


__all__ = ["Engine", "Event", "OnEvent", "Plan", "RunOptions", "Snapshot", "StopReason"]
