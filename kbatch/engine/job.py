"""One job's life: submit (or adopt), follow its task, download its results.

Each step writes its transition before the next one acts
(:class:`~kbatch.engine.recorder.Recorder`): ``submitting`` with the attempt's external task id is
durable before the create is sent (:meth:`~kbatch.engine.admission.Admission.start`), so a
create whose answer was lost (timeout, reset, crash, kill -9) is looked up by that id and adopted,
and sent again only when the provider says it has no such task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from kbatch.engine import faces, outcomes
from kbatch.engine.context import Hold, RunContext
from kbatch.engine.events import EventName
from kbatch.engine.results import download_results
from kbatch.engine.retry import Backoff, GaveUp
from kbatch.engine.stops import Halted
from kbatch.errors import (
    ApiError,
    ExternalIdTaken,
    JobRejected,
    OutcomeUnknown,
    RetryLater,
    RouteNotServed,
    RunFatal,
    StateError,
    TaskNotFound,
)
from kbatch.manifest.jobs import Job
from kbatch.media import unsigned
from kbatch.provider.catalogue import PACK, SYNC_KINDS, JobKind
from kbatch.provider.protocol import target_text
from kbatch.provider.wire import Code, Task, TaskStatus
from kbatch.store.records import AttemptRow, FailureReason, JobRow, JobState


async def wait_to_resend(
    run: RunContext, row: JobRow, hold: Hold, exc: RetryLater, backoff: Backoff
) -> None:
    """A transient refusal of a create. On 1303 (the account's slots are full) give the slots
    back, lower the target (the account's, in a shared state), wait at least ``parallel_wait``
    and take them again; a 1303 while other tasks hold slots is expected, not a sign of a
    failing provider."""
    if exc.code != Code.PARALLEL_LIMIT:
        await backoff.pause(exc, announce=run.announcer(row.id, exc))
        return
    slots = run.slots[PACK[row.kind]]
    if slots.used > hold.slots or run.admission.shared:
        backoff.reset()  # others hold slots (in a shared state, maybe other runners)
    run.admission.crowded(row.kind)
    run.release(row.kind, hold, clean=False, budget=False)
    least = run.options.pacing.parallel_wait
    await backoff.pause(exc, least=least, announce=run.announcer(row.id, exc))
    await slots.acquire(row.slots)
    hold.slots = row.slots


KILLED = "the run ended during the call, before its answer was kept"


def lost_call(row: JobRow, what: str) -> str:
    """Why a call answered at once (tts) whose answer may be lost fails ``lost``: Kling keeps no
    task to look it up by, so it is never called again from here (it may have been paid)."""
    return (
        f"{what}; Kling answers a {row.kind} call at once and keeps nothing to look its "
        "answer up by: it may have been made and charged, and kbatch does not call again by "
        "itself; --retry-failed calls again, which may pay a second time"
    )


class JobLife:
    """A job from where the state has it to where this run can take it."""

    def __init__(self, run: RunContext, row: JobRow, job: Job | None, hold: Hold) -> None:
        self.run = run
        self.row = row
        self.job = job
        self.hold = hold
        #: Left at the provider by an earlier run: its task is checked at once.
        self.resumed = job is None and row.state.at_provider

    async def live(self) -> None:
        """Take the job through its states until it rests (done, failed, or waiting for the
        feed or the next run). A stop of the run ends it; what it did is in the state."""
        run = self.run
        try:
            while True:  # one transition a turn (the steps inline: each await level costs)
                state = self.row.state
                if state.at_provider and self.row.kind in SYNC_KINDS:  # killed mid-call
                    self.fail(FailureReason.LOST, lost_call(self.row, KILLED), None)
                elif state is JobState.PENDING:
                    if not await self._pending():
                        return
                elif state is JobState.SUBMITTING:
                    await self._adopt()
                elif state in (JobState.SUBMITTED, JobState.RUNNING):
                    await self._follow()
                elif state is JobState.SUCCEEDED and run.downloading:
                    self.row = await download_results(run, self.row, self.fail)
                else:
                    return
                if run.stops.reason is not None and self.row.state is JobState.PENDING:
                    return
        except Halted:
            return
        except GaveUp as exc:
            run.stops.gave_up(exc)
        except StateError as exc:
            run.stops.unwritten(exc)
        finally:
            run.release(self.row.kind, self.hold, clean=False)
            run.state.parked.pop(self.row.id, None)
            run.state.results.pop(self.row.id, None)

    async def _pending(self) -> bool:
        run = self.run
        self.job = self.job or run.state.parked.pop(self.row.id, None)
        if self.job is None or not run.stops.may_submit(self.row.kind):
            return False  # the feed sends it when it gets there, or the next run does
        if self.hold.slots == 0 and not self.hold.units:  # a tts is admitted with no slot
            admitted = await run.admit(self.row)
            if admitted is None:
                if self.row.kind in run.stops.not_served and run.stops.may_submit(self.row.kind):
                    self.fail(FailureReason.NOT_SERVED, run.stops.not_served[self.row.kind], None)
                return False
            self.hold = admitted
        elif self.row.kind in run.stops.not_served:
            self.fail(FailureReason.NOT_SERVED, run.stops.not_served[self.row.kind], None)
            return False
        return await self._submit(self.job)

    # -- submitting ----------------------------------------------------------------------------

    async def _submit(self, job: Job) -> bool:
        """Record the attempt's external task id, durably, then send the create. In a shared
        state the record is a claim, which another runner may have won (False)."""
        run = self.run
        media = run.state.media
        unsendable = await media.ready(job) if media is not None else None
        if unsendable is not None:  # before the attempt: nothing is sent or paid for
            self.fail(FailureReason.MEDIA, unsendable, None)
            return True
        await run.rate()
        started = await run.admission.start(self.row, target_text(run.target(self.row)))
        if started is None:
            return False
        self.row = started
        await self._create(job)
        return True

    async def _create(self, job: Job) -> None:
        """Send the create of the attempt recorded in the row until it has a definite answer."""
        run, row = self.run, self.row
        assert row.external_task_id is not None
        backoff = run.backoff()
        callback_url = run.state.callback_url
        written = await _written(self, job)
        if written is None:
            return
        while True:
            await run.admission.before_create(row.id)
            request = written
            if run.state.media is not None:  # fresh URLs for each send (a resend comes later)
                request = run.state.media.sent(request)
            sync = row.kind in SYNC_KINDS  # answered at once: no callback, no lookup
            if callback_url and not sync and "callback_url" not in request:  # the job's own
                request = {**request, "callback_url": callback_url}
            try:
                task = await run.provider.create(
                    run.target(row), request, external_task_id=row.external_task_id
                )
            except OutcomeUnknown as exc:
                if sync:
                    self.fail(FailureReason.LOST, lost_call(row, exc.message), exc.code)
                    return
                message = f"{exc.message}; looking it up"
                run.emit(EventName.UNKNOWN, row.id, message, row=row, code=exc.code)
                await self._adopt()
                return
            except RetryLater as exc:
                await wait_to_resend(run, row, self.hold, exc, backoff)
                if run.stops.reason is not None:
                    self._unsent()
                    return
                await run.rate()
                continue
            except RunFatal as exc:
                run.stops.fatal(exc, PACK[row.kind])
                self._unsent()
                return
            except RouteNotServed as exc:
                run.stops.not_served[row.kind] = exc.message
                self.fail(FailureReason.NOT_SERVED, exc.message, exc.code)
                return
            except ExternalIdTaken as exc:  # the create landed before (another runner's send)
                message = f"{exc.message}; looking the task up"
                run.emit(EventName.UNKNOWN, row.id, message, row=row, code=exc.code)
                await self._adopt(resend=False)
                return
            except (JobRejected, TaskNotFound) as exc:
                self.fail(FailureReason.REJECTED, exc.message, exc.code)
                return
            self._accepted(task, adopted=False)
            if sync and self.row.state is JobState.SUBMITTED and self._observed(task):
                unfinished = f"task {task.task_id} was answered {task.status}"
                self.fail(FailureReason.LOST, lost_call(row, unfinished), None)
            return

    async def _adopt(self, *, resend: bool = True) -> None:
        """A create may have landed: find the task by its external id before sending it again
        (never, with ``resend`` False: the provider said the id is taken)."""
        run, row = self.run, self.row
        assert row.external_task_id is not None
        try:
            found = await run.find(row, row.external_task_id, quiet=False)
        except ApiError as exc:
            message = (
                f"{exc.message}; the create of {row.external_task_id} may have landed and "
                "cannot be looked up: check the provider's task list before --retry-failed"
            )
            self.fail(FailureReason.UNKNOWN_OUTCOME, message, exc.code)
            return
        if found is not None:
            self._accepted(found, adopted=True)
            return
        if not resend:
            message = (
                f"the provider says external id {row.external_task_id} is taken, yet finds no "
                "task by it: check the provider's task list before --retry-failed"
            )
            self.fail(FailureReason.UNKNOWN_OUTCOME, message, None)
            return
        self.job = self.job or run.state.parked.pop(row.id, None)
        if self.job is None or run.stops.reason is not None:
            self._unsent()
            return
        await self._create(self.job)

    def _unsent(self) -> None:
        self.row = self.row.unsent(now=self.run.clock.time())
        self.run.recorder.post(self.row)

    def _accepted(self, task: Task, *, adopted: bool) -> None:
        run, hold = self.run, self.hold
        owner = run.recorder.by_task.get(task.task_id)
        if owner is not None and owner != self.row.id:
            message = (
                f"the provider answered task {task.task_id} for this job, but that task is job "
                f"{owner}'s: kbatch follows one task per job and will not mix their results; "
                "check the provider's task list"
            )
            self.fail(FailureReason.INTEGRITY, message, None)
            return
        if not hold.accepted:
            run.slots[PACK[self.row.kind]].accept(hold.slots)
            hold.accepted = True
        now = run.clock.time()
        submitted = task.created_at / 1000 if adopted and task.created_at else now
        self.row = row = self.row.accepted(task.task_id, submitted_at=submitted, now=now)
        assert row.external_task_id is not None
        attempt = AttemptRow(row.id, row.attempt, row.external_task_id, task.task_id)
        attempt = replace(attempt, started_at=submitted, fingerprint=row.fingerprint)
        run.recorder.post(row, replace(attempt, target=row.target))
        run.state.submitted += not adopted
        name = EventName.ADOPTED if adopted else EventName.SUBMITTED
        run.emit(name, row.id, f"task {task.task_id} (attempt {row.attempt})", row=row)

    # -- following -----------------------------------------------------------------------------

    async def _follow(self) -> None:
        """Poll the task until it ends. Past task_timeout it is *overdue*, not abandoned: it
        still runs, holds its slots and is charged at the provider, so it keeps them here too
        and is followed until it ends (or the run ends with only such tasks left)."""
        run = self.run
        assert self.row.task_id is not None
        # A task an earlier run left is checked at once; and a task is overdue only once this
        # run has seen it still going (so the next run's first look is never skipped).
        submitted = self.row.submitted_at
        age = run.clock.time() - submitted if submitted is not None else 0.0
        watch = run.poller.watch(
            run.target(self.row),
            self.row.task_id,
            key=run.keys.get(self.row.id),  # every job's, noted when the manifest was checked
            age=age,
            at_once=self.resumed,
        )
        deadline = (self.row.submitted_at or run.clock.time()) + run.manifest.limits.task_timeout
        try:
            while True:
                if self.row.id in run.state.overdue or watch.polls == 0:
                    update: Task | TaskNotFound | None = await watch.next()
                else:
                    update = await watch.until(run.clock, deadline - run.clock.time())
                if update is None:
                    self._overdue()
                elif isinstance(update, TaskNotFound):
                    await _lost(self)
                    return
                elif not self._observed(update):
                    return
        finally:
            run.poller.forget(watch)
            run.state.overdue.discard(self.row.id)

    def _observed(self, task: Task) -> bool:
        """Take in a change of status; False when the task has ended."""
        run = self.run
        if task.status.finished and self.row.kind is JobKind.LIP_SYNC:  # and its identify
            task = faces.charged(run, self.row, task)
        if task.status is TaskStatus.PROCESSING and self.row.state is JobState.SUBMITTED:
            self.row = self.row.running(now=run.clock.time())
            run.recorder.post(self.row)
            run.emit(EventName.RUNNING, self.row.id, f"task {self.row.task_id}", row=self.row)
        elif task.status is TaskStatus.SUCCEED:
            self._succeeded(task)
            return False
        elif task.status is TaskStatus.FAILED:
            message = task.status_msg or "the provider failed the task"
            self._attempt_failed(message, task)  # with what the provider charged, if it says
            return False
        return True

    def _overdue(self) -> None:
        run = self.run
        run.state.overdue.add(self.row.id)
        run.state.changed.set()
        timeout = run.manifest.limits.task_timeout
        message = (
            f"task {self.row.task_id} is past task_timeout ({timeout:g}s); it still runs and is "
            "charged at the provider, so it keeps its slot and is followed until it ends"
        )
        run.emit(EventName.OVERDUE, self.row.id, message, row=self.row)

    def _succeeded(self, task: Task) -> None:
        self.row = outcomes.succeeded(self.run, self.row, self.hold, task)

    def _attempt_failed(self, message: str, charged: Task | float) -> None:
        message = unsigned(message)  # a provider may quote the URL it could not fetch
        self.row = outcomes.attempt_failed(self.run, self.row, self.hold, message, charged)

    def fail(
        self,
        reason: FailureReason,
        message: str,
        code: int | str | None,
        charged: float | None = None,
    ) -> JobRow:
        """The job fails for good (until --retry-failed), charged nothing or ``charged``."""
        message = unsigned(message)
        self.row = outcomes.failed(self.run, self.row, self.hold, reason, message, code, charged)
        return self.row


async def _lost(life: JobLife) -> None:
    """The provider no longer knows the task it accepted. Look for it by its external id
    (another route or form may know it) before concluding anything: a task that is "not
    found" is no proof that nothing runs or will be charged. Never resent from here."""
    run, row = life.run, life.row
    assert row.external_task_id is not None
    found = await run.find(row, row.external_task_id)
    if found is not None and found.task_id:
        if found.task_id != row.task_id:
            now = run.clock.time()
            submitted = row.submitted_at or now
            life.row = row.accepted(found.task_id, submitted_at=submitted, now=now)
            run.recorder.post(life.row)
        message = f"task {found.task_id}, found by its external id"
        run.emit(EventName.ADOPTED, row.id, message, row=life.row)
        return
    message = (
        f"the provider no longer knows task {row.task_id} (external id "
        f"{row.external_task_id}), which it had accepted; it may still run and be charged: "
        "check the provider's task list; --retry-failed sends it again, which may pay twice"
    )
    life.fail(FailureReason.LOST, message, None)


async def _written(life: JobLife, job: Job) -> Mapping[str, Any] | None:
    """The request a create sends: the job's; a lip-sync's once identify-face has answered
    (None: the job failed or was put back, and nothing is sent)."""
    written = await faces.request_of(life.run, life.row, job)
    if written is None:
        life._unsent()
        return None
    if isinstance(written, faces.Refused):
        life.fail(written.reason, written.message, written.code, charged=written.charged)
        return None
    return written


__all__ = ["JobLife"]
