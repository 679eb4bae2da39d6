"""The manifest's ``media:`` section, and local files in fields Kling takes by URL only.

::

    media:
      store: s3://my-bucket/kbatch      # or serve: true (the run's --listen and --public-url)
      images: url                       # local images by the store's URL too (default base64)
      expires: 24h                      # how long a sent URL stays valid
      uploads_at_once: 4

With a store (or ``serve``), a local path in omni video's or motion control's ``video`` is
taken relative to the manifest, written ``local:<absolute path>`` and checked from its own bytes
(:func:`kbatch.media.local_video_info`); without either, it is refused where it is named, with
the way to send it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbatch.manifest.document import Document
from kbatch.manifest.issues import IssueLog
from kbatch.manifest.jobs import Job
from kbatch.media import (
    DEFAULT_AT_ONCE,
    DEFAULT_EXPIRY,
    INSTALL_S3,
    NO_STORE,
    ImagesBy,
    MediaSettings,
    StoreUrl,
    files_of,
    is_local,
    local_value,
    media_file,
)
from kbatch.provider.catalogue import JobKind

#: The fields that take a video by URL only, per kind.
URL_ONLY: Mapping[JobKind, tuple[str, ...]] = {
    JobKind.OMNI_VIDEO: ("video",),
    JobKind.MOTION_CONTROL: ("video",),
    JobKind.VIDEO2AUDIO: ("video_url",),  # slice audio
    JobKind.LIP_SYNC: ("video_url",),  # slice faces (issue 31)
    JobKind.VOICE: ("voice_url",),  # slice records: an audio or a video
}
#: The same inside a field, by path (slice records: an element's reference video).
URL_ONLY_INSIDE: Mapping[JobKind, tuple[tuple[str | int, ...], ...]] = {
    JobKind.ELEMENT: (("element_video_list", "refer_videos", 0, "video_url"),),
}


#: The longest a presigned S3 or GCS URL may last (their V4 signatures' limit).
MAX_SIGNED = 7 * 24 * 3600.0

#: What a broken ``media:`` section stands for while the jobs are checked: their local videos
#: are checked from their bytes, not refused a second time for want of a store.
UNSOUND = MediaSettings(serve=True)


def read_media(
    document: Document,
    given: Any,
    log: IssueLog,
    seconds: Callable[[Any], float],
    *,
    sound: bool = True,
) -> MediaSettings | None:
    """``media:`` as settings (the schema checked its shape, ``sound`` says whether it found it
    right; ``seconds`` reads "24h" as the loader does); None when absent, :data:`UNSOUND` when
    broken (the problem is said once, here, and the jobs' local videos are still checked)."""
    if not isinstance(given, dict):
        return None
    if not sound:
        return UNSOUND
    store = None
    if "store" in given:
        try:
            store = StoreUrl.parse(str(given["store"]))
        except ValueError as exc:
            log.add(document.issue(("media", "store"), f"{given['store']!r} {exc}"))
            return UNSOUND
        if importlib.util.find_spec("obstore") is None:
            message = f"a media store needs the s3 extra, which is not installed: {INSTALL_S3}"
            log.add(document.issue(("media", "store"), message))
            return UNSOUND
    serve = bool(given.get("serve", False))
    if store is not None and serve:
        log.add(document.issue(("media", "serve"), "give store or serve, not both"))
        return UNSOUND
    if store is None and not serve:
        log.add(document.issue(("media",), "media needs store: s3://bucket/prefix or serve: true"))
        return UNSOUND
    try:
        expires = seconds(given.get("expires", DEFAULT_EXPIRY))
    except ValueError as exc:
        log.add(document.issue(("media", "expires"), str(exc)))
        return UNSOUND
    if expires < 60:
        log.add(document.issue(("media", "expires"), "at least 60 s: Kling fetches it later"))
        return UNSOUND
    if store is not None and store.scheme in ("s3", "gs") and expires > MAX_SIGNED:
        message = "at most 168h: S3's and GCS's presigned URLs last 7 days at most"
        log.add(document.issue(("media", "expires"), message))
        return UNSOUND
    images = ImagesBy(given.get("images", ImagesBy.BASE64.value))
    at_once = int(given.get("uploads_at_once", DEFAULT_AT_ONCE))
    return MediaSettings(store, serve, images, expires, at_once)


def localized(
    kind: JobKind, request: dict[str, Any], base_dir: Path, media: MediaSettings | None
) -> dict[str, Any]:
    """The request with each local video in a URL-only field written ``local:<path>`` (when the
    manifest can send it); else unchanged, and the video check refuses the path."""
    if media is None or not media.active:
        return request
    out = request
    for name in URL_ONLY.get(kind, ()):
        value = request.get(name)
        if isinstance(value, str) and is_local(value):
            path = (base_dir / Path(value.strip()).expanduser()).resolve()
            out = {**out, name: local_value(path)}
    for where in URL_ONLY_INSIDE.get(kind, ()):
        out = _localized_at(out, where, base_dir)
    return out


def _localized_at(value: Any, where: tuple[str | int, ...], base_dir: Path) -> Any:
    """``value`` with the local file at ``where`` (if there is one) written ``local:``."""
    if not where:
        if isinstance(value, str) and is_local(value):
            return local_value((base_dir / Path(value.strip()).expanduser()).resolve())
        return value
    head, *rest = where
    if isinstance(value, dict) and head in value:
        return {**value, head: _localized_at(value[head], tuple(rest), base_dir)}
    if isinstance(value, list) and isinstance(head, int) and head < len(value):
        items = list(value)
        items[head] = _localized_at(value[head], tuple(rest), base_dir)
        return items
    return value


@dataclass
class Uploads:
    """The distinct local files a manifest's jobs send by URL: how many, how many bytes."""

    sizes: dict[str, int] = field(default_factory=dict)  # sha256 -> bytes
    paths: dict[str, str] = field(default_factory=dict)  # sha256 -> the first path naming it
    media: MediaSettings | None = None

    def add(self, jobs: Iterable[Job], media: MediaSettings | None) -> None:
        if media is None or not media.active:
            return
        self.media = media
        images = media.images is ImagesBy.URL
        for job in jobs:
            for path in files_of(job.request, images=images):
                try:
                    found = media_file(path)
                except OSError:
                    continue
                self.sizes.setdefault(found.sha256, found.size)
                self.paths.setdefault(found.sha256, path)

    @property
    def count(self) -> int:
        return len(self.sizes)

    @property
    def bytes(self) -> int:
        return sum(self.sizes.values())

    def lines(self, *, most: int = 10) -> list[str]:
        """What a run will upload (or serve), for ``validate``, ``plan`` and ``--dry-run``:
        the count, the bytes, and the first ``most`` files. Nothing is asked of the store."""
        if self.media is None or not self.count:
            return []
        files = "file" if self.count == 1 else "files"
        size = f"{self.count} local {files} ({self.bytes:,} bytes)"
        if self.media.store is not None:
            head = f"media: {size} will be uploaded to {self.media.store} (once each, by "
            head += "content; those already there are not sent again)"
        else:
            head = f"media: {size} will be served from the callback listener (--public-url)"
        shown = [f"  {path} ({self.sizes[sha]:,} bytes)" for sha, path in self.paths.items()]
        more = [f"  ... and {self.count - most} more"] if 0 < most < self.count else []
        return [head, *shown[:most], *more]


__all__ = ["NO_STORE", "URL_ONLY", "Uploads", "localized", "read_media"]
