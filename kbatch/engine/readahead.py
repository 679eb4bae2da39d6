"""Reading the manifest ahead of admission, so that whole rows finish first.

:func:`read_ahead` walks the manifest's jobs to the end (expansion is cheap): a job without
references goes to admission in order, through a queue; one that takes from others is parked in
the :class:`~kbatch.engine.readiness.Pipeline` (waiting, or ready), neither admitted nor claimed,
and the scheduler offers the ready ones before each next new job. Each job is read once and
leaves the pipeline once, so none is offered twice. Every job read is held in memory until it
is offered (fine up to about 100k jobs).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

from kbatch.engine.context import RunContext
from kbatch.engine.readiness import Pipeline
from kbatch.manifest.jobs import Job
from kbatch.store.records import JobState


async def jobs_of(run: RunContext) -> AsyncIterator[Job]:
    """The manifest's jobs, read in a thread a few hundred at a time."""
    jobs = run.manifest.jobs()
    while chunk := await asyncio.to_thread(_take, jobs, 256):
        for job in chunk:
            yield job


async def read_ahead(
    run: RunContext,
    pipeline: Pipeline,
    active: set[str],
    plain: asyncio.Queue[Job | None],
    only: set[str] | None,
) -> None:
    """Walk the manifest's jobs (of ``only``, if given) to the end, or to a stop; ``None`` on
    ``plain`` says the walk ended (a ManifestError is raised after it)."""
    try:
        async for job in jobs_of(run):
            if run.stops.reason is not None:
                return
            if only is not None and job.id not in only:
                continue
            if pipeline.graph.upstreams.get(job.id):
                park(run, pipeline, active, job, again=only is not None)
            else:
                plain.put_nowait(job)
    finally:
        plain.put_nowait(None)


def park(run: RunContext, pipeline: Pipeline, active: set[str], job: Job, *, again: bool) -> None:
    """Park a job that takes from others; the scheduler's offer admits it once it is ready.
    ``again``: the shared state said it is pending, whatever this runner last saw of it."""
    row = run.recorder.rows.get(job.id)
    if row is None or row.fingerprint != job.fingerprint or job.id in active:
        pipeline.ready.append(job)  # the offer says or does what it does for these
    elif run.options.selects(job.id) and (row.state is JobState.PENDING or again):
        if row.state is not JobState.PENDING:  # as the shared state has it now
            run.recorder.took(replace(row, state=JobState.PENDING))
        if not pipeline.hold(job):
            pipeline.ready.append(job)
    pipeline.changed.set()


def _take(jobs: Iterator[Job], count: int) -> list[Job]:
    return list(itertools.islice(jobs, count))


__all__ = ["jobs_of", "park", "read_ahead"]
