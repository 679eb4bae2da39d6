"""How a job's attempt ends: each function settles the hold (the budget learns what the task
cost, its slots are freed), records the transition with the attempt's end, tells the world, and
returns the job's new row."""

from __future__ import annotations

from kbatch.engine.context import Hold, RunContext
from kbatch.engine.events import EventName
from kbatch.provider.wire import Task
from kbatch.store.records import JobRow, MediaRow


def succeeded(run: RunContext, row: JobRow, hold: Hold, task: Task) -> JobRow:
    units = task.units or 0.0
    now = run.clock.time()
    run.settle(row.kind, hold, units, clean=True)
    ended = row.ended("succeed", units=units, message=None, now=now)
    row = row.succeeded(units=units, now=now)
    media = [
        MediaRow(row.id, index, item.kind.value, item.url, item.extension)
        for index, item in enumerate(task.media)
    ]
    run.journal.note(row, *media, ended)
    if run.manifest.output.download:
        run.results[row.id] = media  # the download needs no read of the state
    files = f"{len(media)} file" + ("" if len(media) == 1 else "s")
    run.emit(EventName.SUCCEEDED, row.id, f"task {row.task_id}, {units:g} units, {files}")
    return row


def attempt_failed(run: RunContext, row: JobRow, hold: Hold, message: str, units: float) -> JobRow:
    """The provider failed the task: pending for another attempt if max_attempts allows."""
    now = run.clock.time()
    run.settle(row.kind, hold, units, clean=False)
    ended = row.ended("failed", units=units, message=message, now=now)
    attempts = run.manifest.limits.max_attempts
    last = row.failures + 1 >= attempts
    row = row.attempt_failed(message, units=units, last=last, now=now)
    run.journal.note(row, ended)
    if last:
        run.emit(EventName.FAILED, row.id, f"{message} (attempt {row.attempt}, no more attempts)")
    else:
        left = attempts - row.failures
        plural = "attempt" if left == 1 else "attempts"
        run.emit(EventName.RETRY, row.id, f"{message}; trying again ({left} {plural} left)")
    return row


def failed(
    run: RunContext,
    row: JobRow,
    hold: Hold,
    reason: str,
    message: str,
    code: int | str | None,
) -> JobRow:
    """The job fails for good (until --retry-failed)."""
    now = run.clock.time()
    run.settle(row.kind, hold, 0.0, clean=False)
    ended = []
    if row.state.at_provider and row.external_task_id:
        ended.append(row.ended(reason, units=None, message=message, now=now))
    row = row.failed(reason, code, message, now=now)
    run.journal.note(row, *ended)
    run.emit(EventName.FAILED, row.id, message)
    return row


__all__ = ["attempt_failed", "failed", "succeeded"]
