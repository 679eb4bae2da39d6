"""How a job's attempt ends: each function settles the hold (the budget learns what the task
cost, its slots are freed), records the transition with the attempt's end, tells the world, and
returns the job's new row."""

from __future__ import annotations

from dataclasses import replace

from kbatch.engine.context import Hold, RunContext
from kbatch.engine.events import EventName
from kbatch.provider import made
from kbatch.provider.wire import ChargeType, MediaKind, Task
from kbatch.store.records import AttemptOutcome, Charged, Cost, FailureReason, JobRow, MediaRow


def usable(url: str | None) -> bool:
    """A result URL kbatch may download: http(s), with a host.

    >>> usable("https://cdn.example/0.mp4"), usable(""), usable("ftp://x/0.mp4")
    (True, False, False)
    """
    if made.is_record(url):  # slice records: an element's or a voice's record, held inline
        return True
    return url is not None and url.startswith(("http://", "https://")) and len(url) > 8


def media_rows(job_id: str, task: Task) -> list[MediaRow]:
    """A finished task's result files, and the watermarked copy of each that has one."""
    rows, index = [], -1
    for item in task.media:
        index += not item.variant  # a variant (a sound's wav) is another file of the result
        row = MediaRow(job_id, index, item.kind.value, item.url, item.extension, made_id=item.id)
        rows.append(replace(row, variant=item.variant) if item.variant else row)
        if usable(item.watermark_url):
            assert item.watermark_url is not None
            watermark = MediaRow(job_id, index, item.kind.value, item.watermark_url, item.extension)
            rows.append(replace(watermark, variant="watermark"))
    return rows


def cost(task: Task, estimate: float) -> Cost:
    """What a finished task cost: the provider's charge when it reported one (units of a pack,
    cash of a currency), else the attempt's estimate, marked estimated: a charge never reported
    must not count as free, or the budget would undercount.

    A task paid in cash, wholly or in part (units and cash), counts against the units budget
    at its price in Kling's table (its estimate), or at the units it reported if those are
    more: the cash paid for the rest of that price. The cash itself is kept as reported.

    >>> from kbatch.provider.wire import Charge, TaskStatus
    >>> cost(Task("t", TaskStatus.SUCCEED), 2.5).charged
    <Charged.ESTIMATED: 'estimated'>
    >>> paid = Charge(ChargeType.UNIT, "1.6", "video"), Charge(ChargeType.CASH, "2", currency="USD")
    >>> paid = cost(Task("t", TaskStatus.SUCCEED, charges=paid), 2.5)
    >>> paid.charged.value, paid.units, paid.charged_units, paid.pack, paid.amount, paid.currency
    ('reported', 2.5, 1.6, 'video', 2.0, 'USD')
    >>> cash = Charge(ChargeType.CASH, "0.56", currency="USD", cash_type="balance"),
    >>> cash = cost(Task("t", TaskStatus.SUCCEED, charges=cash), 4.0)
    >>> cash.units, cash.charged_units, cash.amount, cash.cash_type
    (4.0, None, 0.56, 'balance')
    """
    units = task.units
    cash = [c for c in task.charges if c.type is ChargeType.CASH]
    if units is None and not cash:
        return Cost.estimated(estimate)
    known = [c.value for c in cash if c.value is not None]
    counted = units or 0.0
    if cash and (known and sum(known) > 0):  # paid in cash: the price in units is counted
        counted = max(counted, estimate)
    return Cost(
        counted,
        Charged.REPORTED,
        units,
        next((c.package_type for c in task.charges if c.package_type), None),
        round(sum(known), 9) if known else None,
        next((c.currency for c in cash if c.currency), None),
        next((c.cash_type for c in cash if c.cash_type), None),
    )


def _said(cost: Cost) -> str:
    """A cost as the event says it."""
    if cost.charged is Charged.ESTIMATED:
        return f"{cost.units:g} units (estimated: no charge reported)"
    cash = f", {cost.amount:g} {cost.currency or 'cash'}" if cost.amount is not None else ""
    return f"{cost.units:g} units{cash}"


def succeeded(run: RunContext, row: JobRow, hold: Hold, task: Task) -> JobRow:
    """The task ended well; or, without a usable result URL, the provider failed it after all
    (an empty url has been seen): never a download of nothing."""
    bad = [item.url for item in task.media if not usable(item.url)]
    if bad or not task.media:
        what = f"an unusable result URL ({bad[0]!r})" if bad else "no result"
        message = f"the provider reported task {task.task_id} done with {what}"
        return attempt_failed(run, row, hold, message, task)
    charge = cost(task, row.estimate)
    now = run.clock.time()
    run.settle(row.kind, hold, charge.units, clean=True)
    ended = row.ended(AttemptOutcome.SUCCEEDED, units=charge, message=None, now=now)
    row = row.succeeded(units=charge, now=now)
    media = media_rows(row.id, task)
    run.learn(row, sum(1 for item in task.media if item.kind is MediaKind.IMAGE))
    run.recorder.post(row, *media, ended)
    if run.downloading:
        run.state.results[row.id] = media  # the download needs no read of the state
    files = f"{len(media)} file" + ("" if len(media) == 1 else "s")
    message = f"task {row.task_id}, {_said(charge)}, {files}"
    run.emit(EventName.SUCCEEDED, row.id, message, row=row, results=len(media))
    return row


def attempt_failed(
    run: RunContext, row: JobRow, hold: Hold, message: str, charged: Task | float
) -> JobRow:
    """The provider failed the task: pending for another attempt if max_attempts allows.
    ``charged`` is the task (what it reported it cost, else the estimate counts) or units
    already known to be charged."""
    now = run.clock.time()
    charge = cost(charged, row.estimate) if isinstance(charged, Task) else Cost.reported(charged)
    run.settle(row.kind, hold, charge.units, clean=False)
    ended = row.ended(AttemptOutcome.FAILED, units=charge, message=message, now=now)
    attempts = run.manifest.limits.max_attempts
    last = row.failures + 1 >= attempts
    row = row.attempt_failed(message, units=charge, last=last, now=now)
    run.recorder.post(row, ended)
    if last:
        said = f"{message} (attempt {row.attempt}, no more attempts)"
        run.emit(EventName.FAILED, row.id, said, row=row)
    else:
        left = attempts - row.failures
        plural = "attempt" if left == 1 else "attempts"
        said = f"{message}; trying again ({left} {plural} left)"
        run.emit(EventName.RETRY, row.id, said, row=row, attempts_left=left)
    return row


def failed(
    run: RunContext,
    row: JobRow,
    hold: Hold,
    reason: FailureReason,
    message: str,
    code: int | str | None,
    charged: float | None = None,
) -> JobRow:
    """The job fails for good (until --retry-failed); ``charged``: units the provider reported
    for this attempt all the same (a lip-sync's face identification)."""
    now = run.clock.time()
    charge = None if charged is None else Cost.reported(charged)
    run.settle(row.kind, hold, 0.0 if charge is None else charge.units, clean=False)
    ended = []
    if row.state.at_provider and row.external_task_id:
        outcome = AttemptOutcome(reason.value)
        ended.append(row.ended(outcome, units=charge, message=message, now=now))
    row = row.failed(reason, code, message, now=now, units=charge)
    run.recorder.post(row, *ended)
    run.emit(EventName.FAILED, row.id, message, row=row)
    return row


__all__ = ["attempt_failed", "cost", "failed", "media_rows", "succeeded", "usable"]
