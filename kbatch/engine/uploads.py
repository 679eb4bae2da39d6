"""A run's local media: each file uploaded once (or served by the listener), and the URLs a
create sends in place of the paths.

Files are known by content (sha256 + extension). The first job that needs a file starts its
upload (:meth:`Media.prefetch`, as the scheduler reads the job), at most ``uploads_at_once`` at a
time; a job waits for its own files before its attempt starts (:meth:`Media.ready`), so a file
that cannot be uploaded fails only the jobs that need it, with the store's own message, and costs
nothing. The state records each object (``uploads``): a rerun, or another runner of a shared
state, sends nothing again; a claim in the same table keeps two runners from uploading one file
at once, and a HEAD skips an object already in the bucket. URLs are made afresh for each create
(:meth:`Media.sent`) and kept nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kbatch.engine.clock import Clock
from kbatch.engine.mediaserve import Served
from kbatch.engine.objectstore import Bucket, StoreFailed
from kbatch.engine.retry import Backoff, GaveUp
from kbatch.errors import ConfigError, RetryLater
from kbatch.manifest.jobs import Job
from kbatch.media import (
    ImagesBy,
    MediaFile,
    MediaSettings,
    files_of,
    media_file,
    unchanged,
    with_urls,
)
from kbatch.store.protocol import StateStore

#: A claim older than this is taken to be a dead runner's: another takes the upload over.
STALE_CLAIM = 15 * 60.0
#: How often a runner looks again at a file another runner is uploading.
BUSY_PAUSE = 1.0


class ChangedFile(StoreFailed):
    """A local file whose bytes changed after it was checked: never uploaded under the old
    hash's name (nor tried again: the jobs that name it fail, and a new run checks it anew)."""

    def __init__(self, file: MediaFile) -> None:
        super().__init__(
            f"changed since it was checked (its sha256 is no longer {file.sha256[:12]}…); "
            "not uploaded: run kbatch again to check the new file"
        )


class Media:
    """The media of one run (a run without ``media:`` has one that sends every request as is)."""

    def __init__(
        self,
        settings: MediaSettings | None,
        store: StateStore,
        *,
        clock: Clock,
        backoff: Callable[[], Backoff],
        emit: Callable[[str], None] = lambda message: None,
        bucket: Bucket | None = None,
        served: Served | None = None,
    ) -> None:
        self.settings = settings
        self._store = store
        self._clock = clock
        self._backoff = backoff
        self._emit = emit
        self.bucket = bucket
        self.served = served
        self._gate = asyncio.Semaphore(settings.at_once if settings else 1)
        self._uploads: dict[str, asyncio.Task[None]] = {}
        self._files: dict[str, MediaFile] = {}  # path -> file
        #: uploaded (PUT), present (HEAD found it), known (the state had it), failed; bytes.
        self.counts: Counter[str] = Counter()

    @property
    def active(self) -> bool:
        return self.settings is not None and self.settings.active

    @property
    def progress(self) -> tuple[int, int, int] | None:
        """(files ready in the store, files started, bytes uploaded); None without uploads."""
        if not self._uploads:
            return None
        done = [task for task in self._uploads.values() if task.done() and not task.cancelled()]
        ready = sum(1 for task in done if task.exception() is None)
        return ready, len(self._uploads), self.counts["bytes"]

    @property
    def _images(self) -> bool:
        return self.settings is not None and self.settings.images is ImagesBy.URL

    def files(self, job: Job) -> list[MediaFile]:
        """The local files the job sends by URL (OSError if one is gone since validation)."""
        if not self.active:
            return []
        return [self._file(path) for path in files_of(job.request, images=self._images)]

    def _file(self, path: str) -> MediaFile:
        if path not in self._files:
            self._files[path] = media_file(path)
            if self.served is not None:
                self.served.allow(self._files[path])
        return self._files[path]

    def prefetch(self, job: Job) -> None:
        """Start the uploads of the job's files that have not started (no wait)."""
        if self.bucket is None:
            if self.served is not None:
                self._known(job)
            return
        try:
            files = self.files(job)
        except OSError:
            return  # ready() says so, for the job
        for file in files:
            if file.name not in self._uploads:
                self._uploads[file.name] = asyncio.create_task(self._upload(file))

    def _known(self, job: Job) -> None:
        with contextlib.suppress(OSError):  # ready() says so, for the job
            self.files(job)

    async def ready(self, job: Job) -> str | None:
        """Wait for the job's files to be in the store; the reason it cannot be sent, if not."""
        if not self.active:
            return None
        try:
            files = self.files(job)
        except OSError as exc:
            return f"a local file cannot be read: {exc.strerror or type(exc).__name__}"
        self.prefetch(job)
        for file in files:
            task = self._uploads.get(file.name)
            if task is None:
                continue
            try:
                await asyncio.shield(task)
            except StoreFailed as exc:
                return f"{Path(file.path).name} could not be uploaded to {self.bucket}: {exc}"
        return None

    def sent(self, request: Any) -> Any:
        """The request with each local file as a fresh URL (never kept, never logged)."""
        if not self.active:
            return request
        urls = {}
        for path in files_of(request, images=self._images):
            try:  # a job an earlier run left unanswered is sent again without ready()
                urls[path] = self._url(self._file(path))
            except OSError:
                continue  # gone since: sent as it is, and the provider refuses it
        return with_urls(request, urls, images=self._images)

    def _url(self, file: MediaFile) -> str:
        assert self.settings is not None
        if self.bucket is not None:
            return self.bucket.sign(file.name, self.settings.expires)
        assert self.served is not None
        return self.served.url(file)

    async def _upload(self, file: MediaFile) -> None:
        assert self.bucket is not None
        where = str(self.bucket.where)
        async with self._gate:
            while True:
                claim = self._store.claim_upload(
                    where, file.name, file.size, now=self._clock.time(), stale=STALE_CLAIM
                )
                if claim == "done":
                    self.counts["known"] += 1
                    return
                if claim == "mine":
                    break
                await self._clock.sleep(BUSY_PAUSE)  # another runner uploads it: wait for it
            try:
                await self._send(file)
            except BaseException:
                self.counts["failed"] += 1
                self._store.unclaim_upload(where, file.name)
                raise
            self._store.uploaded(where, file.name, now=self._clock.time())

    async def _send(self, file: MediaFile) -> None:
        assert self.bucket is not None
        backoff = self._backoff()
        while True:
            try:
                if await self.bucket.exists(file.name):
                    self.counts["present"] += 1
                    return
                if not unchanged(file):
                    raise ChangedFile(file)
                self._emit(f"uploading {Path(file.path).name} ({file.size:,} bytes)")
                await self.bucket.put(file.name, Path(file.path), file.content_type)
            except ChangedFile:
                raise
            except StoreFailed as exc:
                try:
                    await backoff.pause(RetryLater(str(exc)), announce=self._announce(exc))
                except GaveUp:
                    raise exc from None
                continue
            self.counts["uploaded"] += 1
            self.counts["bytes"] += file.size
            self._emit(f"uploaded {Path(file.path).name}")
            return

    def _announce(self, exc: StoreFailed) -> Callable[[float], None]:
        def announce(seconds: float) -> None:
            self._emit(f"{exc}; trying the upload again in {seconds:.1f}s")

        return announce

    async def close(self) -> None:
        """Cancel uploads nobody waits for any more (the run ends)."""
        for task in self._uploads.values():
            task.cancel()
        await asyncio.gather(*self._uploads.values(), return_exceptions=True)


def serving(settings: MediaSettings | None, public_url: str | None) -> Served | None:
    """What serves the files when the manifest says ``serve: true`` (ConfigError without a
    listener: the files must be reachable before any job is sent)."""
    if settings is None or not settings.serve:
        return None
    if public_url is None:
        raise ConfigError(
            "media: {serve: true} serves the files from the callback listener: run with "
            "--listen HOST:PORT and --public-url URL (or callbacks: in the manifest)"
        )
    return Served(public_url, expires=settings.expires)


def open_media(
    settings: MediaSettings | None,
    store: StateStore,
    *,
    clock: Clock,
    backoff: Callable[[], Backoff],
    emit: Callable[[str], None],
    served: Served | None,
) -> Media:
    """The run's media: the bucket opened from the AWS environment when there is a store."""
    bucket = None
    if settings is not None and settings.store is not None:
        try:
            bucket = Bucket.open(settings.store)
        except StoreFailed as exc:
            raise ConfigError(str(exc)) from None
    return Media(
        settings, store, clock=clock, backoff=backoff, emit=emit, bucket=bucket, served=served
    )


__all__ = ["BUSY_PAUSE", "STALE_CLAIM", "ChangedFile", "Media", "open_media", "serving"]
