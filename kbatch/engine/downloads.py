"""Result files: streamed to a temporary file beside the target, checked, renamed into place.

::

    path = target(output_dir, job_id, index=0, extension="mp4")   # out/<name>/<job id>/0.mp4
    saved = await fetch(client, url, path)                         # Saved(path, size, sha256)

A body shorter than its declared length is never kept under the target's name. An interrupted
download leaves ``.<name>.part`` beside the target; the next attempt asks for the rest with an HTTP
``Range`` request and starts over when the server ignores it. The file is fsynced before the
rename, and the rename is atomic, so the target is either absent or complete.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from kbatch.errors import RetryLater
from kbatch.provider import made
from kbatch.provider.protocol import Provider
from kbatch.store.commit import GroupCommit

_UNSAFE = re.compile(r"[^A-Za-z0-9_.=+@-]")
_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "webp", "mp4", "mov", "webm"})
_EXTENSIONS |= {"json", "mp3", "wav", "m4a", "aac"}  # slice records: records, trial files
_NAME_LIMIT = 128


@dataclass(frozen=True, slots=True)
class Saved:
    """A result file on disk: its size and sha256 as written."""

    path: Path
    size: int
    sha256: str


def safe_name(job_id: str) -> str:
    """A job id as one folder name: only ``A-Z a-z 0-9 _ . = + @ -``, never ``.`` or ``..``,
    never hidden, at most 128 characters. Job ids are already held to this by the manifest; this is
    the second fence."""
    name = _UNSAFE.sub("_", job_id)[:_NAME_LIMIT]
    if not name or name.startswith("."):
        name = "_" + name[: _NAME_LIMIT - 1]
    return name


def target(output_dir: Path, job_id: str, *, index: int, extension: str, variant: str = "") -> Path:
    """Where a job's result file goes: ``<output_dir>/<job id>/<index>.<extension>``, and its
    watermarked copy ``<index>.watermark.<extension>`` (a sound's wav, variant ``wav``:
    ``<index>.wav`` beside its ``<index>.mp3``). Only the name is computed here;
    :func:`fetch` checks on disk that it stays inside (links).

    >>> target(Path("out"), "cat", index=0, extension="mp4", variant="watermark").as_posix()
    'out/cat/0.watermark.mp4'
    """
    suffix = extension.lower() if extension.lower() in _EXTENSIONS else "bin"
    middle = f".{_UNSAFE.sub('_', variant)}" if variant and variant != suffix else ""
    return output_dir / safe_name(job_id) / f"{int(index)}{middle}.{suffix}"


def partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.part")


class Syncer:
    """Makes finished files durable in groups: one ``syncfs`` of the output folder's file system
    for every file finished while the last one ran, instead of two fsyncs per file (the file,
    then its folder). The state's group commit (:class:`~kbatch.store.commit.GroupCommit`) does
    the same for records. Where ``syncfs`` is missing (not Linux), ``os.sync`` does it for every
    disk."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._commits: GroupCommit[None] = GroupCommit(self._flush, failures=OSError)

    @property
    def syncs(self) -> int:
        """Flushes done: files / syncs is the grouping."""
        return self._commits.groups

    async def sync(self) -> None:
        """Return once every file written before the call is on disk. OSError if it cannot be."""
        await self._commits.wait(None)

    def _flush(self, _: Sequence[None]) -> None:
        _sync_file_system(self.folder)


def _sync_file_system(folder: Path) -> None:
    if _SYNCFS is None:
        os.sync()
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        if _SYNCFS(fd) != 0:
            number = ctypes.get_errno()
            raise OSError(number, os.strerror(number), str(folder))
    finally:
        os.close(fd)


def _find_syncfs() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return None


_SYNCFS = _find_syncfs()


async def fetch(
    client: Provider,
    url: str,
    path: Path,
    *,
    inside: Path | None = None,
    durable: bool = True,
    guard: Callable[[], None] | None = None,
) -> Saved:
    """Download ``url`` to ``path``. ``guard`` is called before the part file is opened, before
    each chunk is written and before the rename: it raises to stop (a shared state's lease that
    another runner took over); the part is kept for whoever goes on with it, unless the file is
    in place already. The part file is locked while it is written: another runner on this
    machine waits (RetryLater) rather than write into it too.

    RetryLater when the transfer breaks (the part is kept for a resume); JobRejected when the
    file is gone; OSError when the disk refuses (the part is removed), PermissionError when
    ``path`` leads out of ``inside`` (a folder that is a link).
    On return the file is fsynced; with ``durable=False`` it is not yet, and the caller awaits a
    :class:`Syncer` before it counts on the file (many downloads, one flush).

    The quick metadata calls (mkdir, open, rename) are made in the event loop: a thread hop each
    cost more than the calls, and ran a whole run at a sixth less jobs a second. What may take long
    runs in a thread: hashing a part left by an interrupted download, and the fsyncs."""
    part = partial(path)
    if guard is not None:
        guard()
    opened = _open(path, part, inside, resume=False)
    if opened is None:  # a part file with data: hashing it may take a while
        opening = asyncio.ensure_future(asyncio.to_thread(_open, path, part, inside, resume=True))
        try:
            opened = await asyncio.shield(opening)
        except asyncio.CancelledError:  # the thread goes on: close what it opens
            opening.add_done_callback(_close_opened)
            raise
        assert opened is not None
    out, have, digest = opened
    try:
        try:
            size, digest = await _transfer(client, url, out, have, digest, guard)
        except BaseException:
            out.close()  # what came is kept in the part file for a resume
            if path.exists():  # someone else finished it meanwhile: nothing to resume
                part.unlink(missing_ok=True)
            raise
        if not durable:
            _finish(out, part, path, durable=False)  # no fsync: quick
        else:
            finishing = asyncio.ensure_future(
                asyncio.to_thread(_finish, out, part, path, durable=True)
            )
            try:
                await asyncio.shield(finishing)  # once begun, the file is closed whatever happens
            except asyncio.CancelledError:
                finishing.add_done_callback(lambda done: _closed(done, out))
                raise
    except OSError:
        part.unlink(missing_ok=True)
        raise
    return Saved(path, size, digest.hexdigest())


async def _transfer(
    client: Provider,
    url: str,
    out: BinaryIO,
    have: int,
    digest: Any,
    guard: Callable[[], None] | None,
) -> tuple[int, Any]:
    """Write the rest of ``url`` (from ``have`` bytes on) to ``out``: its size and digest."""
    record = made.record_bytes(url)  # slice records: an element's or voice's JSON, held inline
    if record is not None:
        out.seek(0)
        out.truncate()
        out.write(record)
        return len(record), hashlib.sha256(record)
    async with client.download(url, offset=have) as body:
        if body.offset != have:  # the server sent the whole file: start over
            out.seek(0)
            out.truncate()
            have, digest = 0, hashlib.sha256()
        size = have
        async for chunk in body.chunks:
            if guard is not None:
                guard()
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
        if body.total is not None and size != body.total:
            raise RetryLater(f"download {url}: got {size} of {body.total} bytes")
    if guard is not None:
        guard()
    return size, digest


def _open(
    path: Path, part: Path, inside: Path | None, *, resume: bool
) -> tuple[BinaryIO, int, Any] | None:
    """Make the job's folder, check it is not a link (out of ``inside``), and open the part file
    at its end, hashing what it holds; without ``resume``, None instead of hashing a part that
    holds data. The part is opened without following a link either."""
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    if inside is not None and folder.is_symlink():
        raise PermissionError(f"{path} leads out of the output folder {inside} (a link?)")
    fd = os.open(part, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when it is closed
    except BlockingIOError:
        os.close(fd)
        raise RetryLater(f"another kbatch run on this machine is writing {part} now") from None
    out = os.fdopen(fd, "r+b")
    have = os.fstat(fd).st_size
    if have and not resume:
        out.close()
        return None
    digest = hashlib.sha256()
    if have:
        digest.update(out.read(have))
        out.seek(have)
    return out, have, digest


def _close_opened(opening: asyncio.Future[tuple[BinaryIO, int, Any] | None]) -> None:
    if not opening.cancelled() and opening.exception() is None and (opened := opening.result()):
        opened[0].close()


def _closed(finishing: asyncio.Future[None], out: BinaryIO) -> None:
    if finishing.cancelled() or finishing.exception() is not None:
        out.close()


def _finish(out: BinaryIO, part: Path, path: Path, *, durable: bool) -> None:
    """Close the file and rename it into place; with ``durable``, fsync it first and its folder
    after, so that the name is on disk and whole (else a :class:`Syncer` will)."""
    with out:
        out.flush()
        if durable:
            os.fsync(out.fileno())
    part.replace(path)
    if durable:
        _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
