"""Readiness: a job that takes from others (``job:<id>``) waits for them, and is sent their results.

A job in a pipeline is *waiting* while a job it takes from has not succeeded with its files on
disk (or, when results stay remote, not succeeded), *ready* once all have, and *blocked* when one
failed for good (or is blocked itself): a blocked job is never sent, and stays so until that
job is retried (``--retry-failed``), when it waits again. Readiness is state, not a barrier:
the scheduler offers ready downstream jobs before the manifest's next new job, so rows finish
early and results are used long before Kling clears them.

What a ready job is sent in place of each reference (:meth:`Pipeline.resolve`): the upstream's
result URL while Kling keeps it (30 days after the task ended, less a margin), else its file
from disk (an image goes as base64). The file's pixels and size are checked against Kling's
rules before the downstream is created, so Kling is never paid for a job it would refuse; an
output that cannot be sent fails the downstream with a reason naming the upstream.
"""

from __future__ import annotations

import asyncio
import collections
import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kbatch.engine.context import RunContext
from kbatch.engine.events import EventName
from kbatch.images import ImageInput, ImageProblem, ImageSource, Inspector, check_dimensions
from kbatch.manifest.graph import Graph
from kbatch.manifest.jobs import Job
from kbatch.manifest.records import element_number
from kbatch.manifest.references import (
    RATIO_FIELDS,
    TAKES,
    Form,
    OutputType,
    Reference,
    field_name,
    found_in,
    replaced,
)
from kbatch.store.records import JobRow, JobState, MediaRow

DAY = 86400.0
#: How long Kling keeps a task's results (its URLs answer) after the task ends.
RESULTS_KEPT = 30 * DAY
#: A result URL is sent only while it has at least this long left (the downstream may wait for
#: slots, and Kling fetches the URL when it starts the task).
URL_MARGIN = 2 * DAY


#: Offers one job to admission (the scheduler's).
Offer = Callable[[Job], Awaitable[None]]


class Standing(enum.Enum):
    READY = "ready"
    WAITING = "waiting"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Where a job stands, and for a blocked one, which upstream blocks it and why."""

    standing: Standing
    upstream: str | None = None
    why: str = ""


def judge(upstreams: tuple[str, ...], rows: Mapping[str, JobRow], *, download: bool) -> Verdict:
    """A job's standing from the rows of the jobs it takes from."""
    waiting = None
    for upstream in upstreams:
        row = rows.get(upstream)
        if row is None:
            waiting = waiting or upstream
        elif row.state is JobState.FAILED:
            return Verdict(Standing.BLOCKED, upstream, f"failed: {row.error_message or ''}")
        elif row.state is JobState.BLOCKED:
            return Verdict(Standing.BLOCKED, upstream, "is blocked itself")
        elif not row.state.done(download):
            waiting = waiting or upstream
    if waiting is not None:
        return Verdict(Standing.WAITING, waiting)
    return Verdict(Standing.READY)


class Pipeline:
    """The run's jobs that take from others: held while they wait, offered once ready,
    blocked when an upstream fails for good."""

    def __init__(self, run: RunContext, graph: Graph) -> None:
        self.run = run
        self.graph = graph
        self.download = run.options.downloads(run.manifest.output.download)
        self.waiting: dict[str, Job] = {}
        self.ready: collections.deque[Job] = collections.deque()
        self.changed = asyncio.Event()
        self.blocked = 0  # jobs this run found blocked
        self._inspector = Inspector()
        #: A shared state: the rows as the state last had them (other runners' work too).
        self._others: dict[str, JobRow] = {}

    async def refresh(self) -> None:
        """In a shared state, read the rows again: an upstream another runner made is done."""
        if self.run.admission.shared and self.graph.piped:
            self._others = await asyncio.to_thread(self.run.recorder.store.load)

    def row(self, job_id: str) -> JobRow | None:
        """A job's latest row: this runner's, or the shared state's when it is newer."""
        mine, theirs = self.run.recorder.rows.get(job_id), self._others.get(job_id)
        if theirs is not None and (mine is None or theirs.updated_at > mine.updated_at):
            return theirs
        return mine

    def _judge(self, job_id: str) -> Verdict:
        ups = self.graph.upstreams[job_id]
        rows = {up: row for up in ups if (row := self.row(up)) is not None}
        return judge(ups, rows, download=self.download)

    def hold(self, job: Job) -> bool:
        """Whether the job must not be offered now: it waits (kept here) or is blocked."""
        if not self.graph.upstreams.get(job.id):
            return False
        verdict = self._judge(job.id)
        if verdict.standing is Standing.READY:
            return False
        if verdict.standing is Standing.BLOCKED:
            self._block(job.id, verdict)
        else:
            self.waiting[job.id] = job
        return True

    def ended(self, job_id: str) -> None:
        """A job's life ended: its waiting dependents may be ready, or blocked, now."""
        for dependent in self.graph.dependents.get(job_id, ()):
            job = self.waiting.get(dependent)
            if job is None:
                continue
            verdict = self._judge(dependent)
            if verdict.standing is Standing.WAITING:
                continue
            del self.waiting[dependent]
            if verdict.standing is Standing.READY:
                self.ready.append(job)
            else:
                self._block(dependent, verdict)
                self.ended(dependent)  # and the jobs that take from it
        self.changed.set()

    def _block(self, job_id: str, verdict: Verdict) -> None:
        run = self.run
        row = run.recorder.rows[job_id]
        if row.state is not JobState.PENDING:
            return
        assert verdict.upstream is not None
        row = row.blocked(verdict.upstream, verdict.why, now=run.clock.time())
        run.recorder.post(row)
        self.blocked += 1
        run.emit(EventName.BLOCKED, job_id, row.error_message or "", row=row)

    async def resolve(self, job: Job) -> Job | str:
        """The job with each reference replaced by what is sent for it; or why it cannot be
        sent (a reason naming the upstream)."""
        found = list(found_in(job.request))
        if not found:
            return job
        # The upstreams' result rows may still wait for their group commit (a record's
        # download takes no time): read them once they are written.
        await self.run.recorder.store.drain()
        return await asyncio.to_thread(self._resolve, job, found)

    def _resolve(self, job: Job, found: list[tuple[tuple[str | int, ...], Reference]]) -> Job | str:
        values: dict[Reference, Any] = {}
        for path, reference in found:
            name = field_name(path)
            value = self._value(reference, name)
            if isinstance(value, Problem):
                return str(value)
            values[reference] = value
        return replace(job, request=replaced(job.request, values))

    def _value(self, reference: Reference, name: str) -> Any:
        run = self.run
        upstream = reference.job_id
        row = self.row(upstream)
        assert row is not None
        taking = TAKES[name]
        media = _result(run.recorder.store.media(upstream), reference.position, taking.output)
        redo = f"make it again with kbatch run --redo {upstream}"
        if media is None:
            return Problem(f"job {upstream} has no result #{reference.position}: {redo}")
        path = run.manifest.output.dir / media.path if media.path else None
        if path is not None and taking.output is OutputType.IMAGE:
            problem = self._check(path, name)
            if problem is not None:
                return Problem(f"job {upstream}'s image {media.path} {problem}: Kling refuses it")
        ended = row.finished_at or row.updated_at
        if taking.form is Form.ID:  # Kling keeps the ids it made as long as their files
            if media.made_id is None:
                return Problem(f"Kling gave no id for the {taking.output} of job {upstream}")
            if run.clock.time() < ended + RESULTS_KEPT - URL_MARGIN:
                if taking.output is OutputType.ELEMENT:  # a number in Kling's /v1 examples
                    return element_number(media.made_id)
                return media.made_id
            return Problem(
                f"the {taking.output} id of job {upstream} is no longer kept by Kling (ids "
                f"are cleared 30 days after the task): {redo}"
            )
        if run.clock.time() < ended + RESULTS_KEPT - URL_MARGIN and media.url:
            return ImageInput(ImageSource.URL, media.url) if _is_image(taking.output) else media.url
        if taking.form is Form.URL_OR_FILE and path is not None and path.is_file():
            return ImageInput(ImageSource.FILE, str(path))
        return Problem(
            f"the {taking.output} of job {upstream} is no longer kept by Kling (results are "
            f"cleared 30 days after the task) and {name} cannot take it from disk: {redo}"
        )

    def _check(self, path: Path, name: str) -> str | None:
        """Kling's rules of an image, on the upstream's downloaded file."""
        try:
            info = self._inspector.inspect(ImageInput(ImageSource.FILE, str(path)))
            if info is not None:
                check_dimensions(info, main=name in RATIO_FIELDS)
        except ImageProblem as exc:
            return str(exc)
        return None

    async def offer_ready(self, offer: Offer) -> None:
        """Offer the jobs that became ready, first come first."""
        while self.ready:
            await offer(self.ready.popleft())

    async def drain(self, offer: Offer, active: set[str]) -> None:
        """After the manifest's last job: offer waiting jobs as they become ready, until none
        waits, or nothing they wait for can still end in this run (no job at work here: an
        upstream this run does not select, or holds back for the budget)."""
        while True:
            await self.offer_ready(offer)
            if self.ready:
                continue
            if not self.waiting or not active or self.run.stops.reason is not None:
                return
            self.changed.clear()
            await self.changed.wait()


class Problem(str):
    """Why a reference cannot be sent."""


def _is_image(output: OutputType) -> bool:
    return output is OutputType.IMAGE


def _result(media: list[MediaRow], position: int, output: OutputType) -> MediaRow | None:
    """A job's ``position``-th result of this type (its watermarked copies and other
    variants aside): a video-to-audio's audio for an audio field, its video for a video one."""
    results = sorted(
        (m for m in media if not m.variant and m.kind == output.value), key=lambda m: m.index
    )
    return results[position] if position < len(results) else None


__all__ = ["RESULTS_KEPT", "URL_MARGIN", "Pipeline", "Standing", "Verdict", "judge"]
