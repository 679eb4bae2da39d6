"""The last step of a job's life: every result file of a succeeded job, downloaded.

Files land in ``<output>/<job id>/<index>.<ext>`` (:mod:`kbatch.engine.downloads`), are made
durable in groups (:class:`~kbatch.engine.downloads.Syncer`) and only then recorded. A signed
URL that expired is asked for again once; a result the provider has deleted fails the job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from kbatch.engine import downloads
from kbatch.engine.context import RunContext
from kbatch.engine.events import EventName
from kbatch.engine.options import StopReason
from kbatch.engine.outcomes import media_rows
from kbatch.engine.stops import Halted
from kbatch.errors import JobRejected, RetryLater, RouteNotServed, TaskNotFound
from kbatch.provider.catalogue import SYNC_KINDS
from kbatch.store.records import FailureReason, JobRow, MediaRow

#: How a job fails: reason, message, code.
Fail = Callable[[FailureReason, str, int | str | None], JobRow]


async def download_results(run: RunContext, row: JobRow, fail: Fail) -> JobRow:
    """Download what is not on disk yet; the row as downloaded, or as failed."""
    media = run.state.results.pop(row.id, None)
    if media is None:  # a job resumed from an earlier run
        media = await _read_media(run, row.id)
    output = run.manifest.output.dir
    refreshed = False
    paths: list[str] = []  # relative to the output folder
    for item in media:
        if item.path and (output / item.path).is_file():
            paths.append(item.path)
            continue
        saved = await _save(run, row, item)
        while isinstance(saved, JobRejected | RouteNotServed):
            fresh = None if refreshed else await _fresh_media(run, row)
            refreshed = True
            again = (fresh or {}).get((item.index, item.variant))
            if again is None:
                message = (
                    f"{saved.message}: the result is gone (providers delete results "
                    "after 30 days); --retry-failed generates it again, at a cost"
                )
                return fail(FailureReason.RESULT_GONE, message, saved.code)
            item = replace(item, url=again.url)
            saved = await _save(run, row, item)
        relative = saved.path.relative_to(output).as_posix()
        saved_item = item.saved(relative, size=saved.size, sha256=saved.sha256, host=run.host)
        run.recorder.post(saved_item)
        paths.append(relative)
    row = row.downloaded(now=run.clock.time())
    run.recorder.post(row)
    files = f"{len(media)} file" + ("" if len(media) == 1 else "s")
    folder = output / downloads.safe_name(row.id)
    run.emit(EventName.DOWNLOADED, row.id, f"{files} in {folder}", row=row, files=paths)
    return row


async def _read_media(run: RunContext, job_id: str) -> list[MediaRow]:
    return await asyncio.to_thread(run.recorder.store.media, job_id)


async def _save(
    run: RunContext, row: JobRow, item: MediaRow
) -> downloads.Saved | JobRejected | RouteNotServed:
    """One file, retried while the transfer breaks; the refusal if the file is gone. A disk
    that refuses stops the run (Halted)."""
    output = run.manifest.output.dir
    backoff = run.backoff()
    while True:
        try:
            path = downloads.target(
                output, row.id, index=item.index, extension=item.extension, variant=item.variant
            )
            async with run.downloads:
                saved = await downloads.fetch(
                    run.provider,
                    item.url,
                    path,
                    inside=output,
                    durable=False,
                    guard=run.admission.guard(row.id),
                )
            await run.syncer.sync()  # on disk before the state says so
            return saved
        except RetryLater as exc:
            await backoff.pause(exc, announce=run.announcer(row.id, exc))
        except (JobRejected, RouteNotServed) as exc:
            return exc
        except OSError as exc:
            where = exc.filename or output / downloads.safe_name(row.id)
            run.stops.stop(StopReason.STATE, f"cannot write {where}: {exc.strerror or exc}")
            raise Halted from None


async def _fresh_media(run: RunContext, row: JobRow) -> dict[tuple[int, str], MediaRow] | None:
    """Ask for the task again: signed result URLs expire. None if it is gone."""
    assert row.task_id is not None
    if row.kind in SYNC_KINDS:  # answered at once: Kling has no route to ask it again
        return None
    try:
        task = await run.provider.get(run.target(row), row.task_id)
    except (TaskNotFound, JobRejected, RouteNotServed):
        return None
    media = media_rows(row.id, task)
    run.recorder.post(*media)
    return {(item.index, item.variant): item for item in media}


__all__ = ["download_results"]
