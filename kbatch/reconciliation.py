"""A manifest's jobs brought into its state: the rows to write before a run (new jobs pending,
an edited job afresh under its id with what it cost kept, ``--retry-failed``, ``--redo``,
blocked jobs waiting again, removed jobs marked), shared by the run and the dry run."""

from __future__ import annotations

import glob
from collections.abc import Collection, Mapping
from dataclasses import replace

from kbatch import pricing
from kbatch.engine.options import RunOptions
from kbatch.intake import Seen
from kbatch.manifest.graph import Graph
from kbatch.store import JobRow, JobState


def reconcile(
    rows: Mapping[str, JobRow],
    seen: Seen,
    prices: pricing.PriceTable,
    options: RunOptions,
    now: float,
    redo: Collection[str] = (),
) -> tuple[list[JobRow], list[str]]:
    """The rows to write so the state matches the manifest, and the ids of edited jobs (and of
    those ``redo`` makes again: ``--redo``, with their dependents)."""
    changed: list[JobRow] = []
    reset: list[str] = []
    for job_id, job in seen.items():
        row = rows.get(job_id)
        estimate = prices.price(job.price)
        if row is None:
            row = JobRow(job_id, job.kind, job.fingerprint, slots=job.slots, estimate=estimate)
            row = replace(row, created_at=now, updated_at=now)
        elif row.fingerprint != job.fingerprint:  # edited: a new job under the same id
            reset.append(job_id)
            row = JobRow(  # what the old job cost stays counted, as it was charged
                job_id,
                job.kind,
                job.fingerprint,
                slots=job.slots,
                estimate=estimate,
                units=row.units,
                charged=row.charged,
                charged_units=row.charged_units,
                charged_amount=row.charged_amount,
                charged_currency=row.charged_currency,
                created_at=row.created_at,
                updated_at=now,
            )
        elif job_id in redo and row.state in _REDOABLE:  # made again on purpose: --redo
            reset.append(job_id)
            row = _redone(row, estimate, now)
        elif row.state is JobState.FAILED and options.retry_failed and options.selects(job_id):
            row = row.retried(estimate=estimate, now=now)
        elif row.state is JobState.BLOCKED:  # waits again: the run blocks it if still so
            row = row.unblocked(now=now)
        elif row.state is JobState.PENDING and row.estimate != estimate:  # pricing: changed
            row = replace(row, estimate=estimate, updated_at=now)
        elif row.removed:  # back in the manifest, unedited
            row = replace(row, removed=False, updated_at=now)
        else:
            continue
        changed.append(row)
    changed.extend(
        replace(row, removed=True, updated_at=now)
        for job_id, row in rows.items()
        if not row.removed and job_id not in seen
    )
    return changed, reset


#: The states --redo makes a job again from (one at the provider is left to end).
_REDOABLE = frozenset({JobState.SUCCEEDED, JobState.DOWNLOADED, JobState.FAILED, JobState.BLOCKED})


def _redone(row: JobRow, estimate: float, now: float) -> JobRow:
    """Pending again, its attempts counted on (each new attempt has a new external task id),
    what it cost kept."""
    return replace(
        row,
        state=JobState.PENDING,
        failures=0,
        task_id=None,
        submitted_at=None,
        finished_at=None,
        estimate=estimate,
        error_reason=None,
        error_code=None,
        error_message=None,
        updated_at=now,
    )


def with_dependents(options: RunOptions, graph: Graph, rows: Mapping[str, JobRow]) -> RunOptions:
    """``--retry-failed --only IDS``: the blocked jobs that take from the failed jobs retried
    (directly or not) are selected too, so they run once their upstream succeeds."""
    if not (options.retry_failed and options.only and graph.piped):
        return options
    failed = [i for i, row in rows.items() if row.state is JobState.FAILED and options.selects(i)]
    extra = tuple(
        glob.escape(job_id)  # an id is matched as written, never as a glob
        for job_id in graph.below(failed)
        if (row := rows.get(job_id)) is not None
        and row.state is JobState.BLOCKED
        and not options.selects(job_id)
    )
    return replace(options, only=options.only + extra) if extra else options


def blocked_after(graph: Graph, rows: Mapping[str, JobRow]) -> set[str]:
    """The jobs a run of these (reconciled) rows would find blocked: every job that takes,
    directly or not, from one that failed for good and is not retried."""
    failed = [i for i, row in rows.items() if row.state is JobState.FAILED]
    return set(graph.below(failed)) if failed and graph.piped else set()


__all__ = ["blocked_after", "reconcile", "with_dependents"]
