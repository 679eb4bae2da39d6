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

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from kbatch.client import Client
from kbatch.errors import RetryLater

_UNSAFE = re.compile(r"[^A-Za-z0-9_.=+@-]")
_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "webp", "mp4", "mov", "webm"})
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


def target(output_dir: Path, job_id: str, *, index: int, extension: str) -> Path:
    """Where a job's result file goes: ``<output_dir>/<job id>/<index>.<extension>``.
    PermissionError if that leads out of the output folder (a job folder that is a link)."""
    suffix = extension.lower() if extension.lower() in _EXTENSIONS else "bin"
    path = output_dir / safe_name(job_id) / f"{int(index)}.{suffix}"
    root = output_dir.resolve()
    if not path.resolve().is_relative_to(root):
        raise PermissionError(f"{path} leads out of the output folder {root} (a link?)")
    return path


def partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.part")


async def fetch(client: Client, url: str, path: Path) -> Saved:
    """Download ``url`` to ``path``. RetryLater when the transfer breaks (the part is kept for a
    resume); JobRejected when the file is gone; OSError when the disk refuses (the part is
    removed)."""
    part = partial(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    digest = hashlib.sha256()
    try:
        async with client.download(url, offset=have) as body:
            if body.offset != have:  # the server sent the whole file: start over
                have = 0
            mode = "r+b" if have else "wb"
            with part.open(mode) as out:
                if have:
                    digest.update(out.read(have))
                    out.seek(have)
                    out.truncate()
                size = have
                async for chunk in body.chunks:
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            if body.total is not None and size != body.total:
                raise RetryLater(f"download {url}: got {size} of {body.total} bytes")
    except OSError:
        part.unlink(missing_ok=True)
        raise
    part.replace(path)
    _fsync_dir(path.parent)
    return Saved(path, size, digest.hexdigest())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
