"""Local media that Kling takes by URL: the manifest's ``media:`` settings, the files a job
names, each file's content address, and a local video checked as a URL's is.

A manifest with ``media: {store: s3://bucket/prefix}`` (or ``{serve: true}``) may name a local
file where Kling takes only a URL (omni video's and motion control's reference ``video``). The
expansion writes such a value as ``local:<absolute path>`` (:func:`local_value`); the engine
uploads the file once, by its sha256 (:func:`object_key`), and sends a fresh URL in its place
(:func:`with_urls`). With ``images: url`` the job's local images go the same way.

::

    info = local_video_info(Path("clip.mp4"), OMNI_REFERENCE)   # VideoProblem if Kling refuses
    request = with_urls(job.request, {"/abs/clip.mp4": "https://...signed"}, images=False)
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from kbatch.images import ImageInput, ImageSource
from kbatch.movie import Movie, RangeReader, read_movie
from kbatch.videos import VideoInfo, VideoLimits, VideoProblem

#: How a local file is written in a request once the manifest allows the media store.
LOCAL_SCHEME = "local:"
#: How long a presigned URL (or a served path) stays valid by default: Kling may queue a task.
DEFAULT_EXPIRY = 24 * 3600.0
#: Uploads at once by default.
DEFAULT_AT_ONCE = 4
#: The install command a manifest asking for a store without the extra is told.
INSTALL_S3 = "pip install 'kbatch[s3]'"
#: A local video's header is read from the file up to this many bytes.
LOCAL_BUDGET = 64 * 1024 * 1024
#: What a local video is told when the manifest has no way to send it.
NO_STORE = (
    "is a local file: Kling takes videos by URL only; set media: {store: s3://bucket/prefix} "
    "or media: {serve: true} to send it (docs/media.md), or upload it and give its URL"
)
_TYPES = {".mp4": "video/mp4", ".mov": "video/quicktime", ".m4v": "video/x-m4v"}


class ImagesBy(StrEnum):
    """How a job's local images are sent: inline (base64, the default) or by the store's URL."""

    BASE64 = "base64"
    URL = "url"


#: The stores a manifest may name: S3 (and S3-compatible), Google Cloud Storage, Azure Blob.
STORE_SCHEMES = ("s3", "gs", "az", "azure")
STORE_FORMS = "s3://bucket/prefix, gs://bucket/prefix or az://container/prefix"


@dataclass(frozen=True, slots=True)
class StoreUrl:
    """``s3://bucket/prefix`` (or ``gs://``, ``az://``/``azure://`` container): where objects go
    (the prefix without slashes at its ends)."""

    scheme: str
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, text: str) -> StoreUrl:
        """ValueError (a sentence) for anything but one of :data:`STORE_FORMS`."""
        parts = urlsplit(text.strip())
        if parts.scheme not in STORE_SCHEMES:
            given = f"{parts.scheme}://" if parts.scheme else "a path"
            raise ValueError(f"takes {STORE_FORMS}, not {given}")
        if not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"takes {parts.scheme}://bucket/prefix: a bucket and no query")
        return cls(parts.scheme, parts.netloc, parts.path.strip("/"))

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.prefix}".rstrip("/")


@dataclass(frozen=True, slots=True)
class MediaSettings:
    """A manifest's ``media:``: a store (or serving from the listener), images' way, expiry."""

    store: StoreUrl | None = None
    serve: bool = False
    images: ImagesBy = ImagesBy.BASE64
    expires: float = DEFAULT_EXPIRY  # seconds a URL stays valid
    at_once: int = DEFAULT_AT_ONCE  # uploads in parallel

    @property
    def active(self) -> bool:
        return self.store is not None or self.serve


@dataclass(frozen=True, slots=True)
class MediaFile:
    """One local file sent by URL: its path, content address and size."""

    path: str
    sha256: str
    size: int
    suffix: str

    @property
    def name(self) -> str:
        """The object's name: its content's hash and its extension (``<sha256>.mp4``)."""
        return f"{self.sha256}{self.suffix}"

    @property
    def content_type(self) -> str:
        return _TYPES.get(self.suffix) or (
            mimetypes.guess_type(f"x{self.suffix}")[0] or "application/octet-stream"
        )


_SIGNED_QUERY = re.compile(
    r"\?[^\s\"'<>]*(?:Signature|X-Amz-|X-Goog-|[?&]sig=)[^\s\"'<>]*", re.IGNORECASE
)
_SERVED_TOKEN = re.compile(r"/kbatch/media/[^/\s\"'<>]+/")


def unsigned(message: str) -> str:
    """``message`` without the secret parts of a URL it quotes: a presigned query, a served
    path's token. A provider may quote the URL it could not fetch; it is kept nowhere."""
    message = _SIGNED_QUERY.sub("?…", message)
    return _SERVED_TOKEN.sub("/kbatch/media/…/", message)


def local_value(path: Path) -> str:
    """A local file as a request holds it."""
    return f"{LOCAL_SCHEME}{path}"


def local_path(value: Any) -> str | None:
    """The absolute path of a ``local:`` value, else None."""
    if isinstance(value, str) and value.startswith(LOCAL_SCHEME):
        return value.removeprefix(LOCAL_SCHEME)
    return None


def is_local(text: str) -> bool:
    """Whether a manifest's string names a local file (no URL scheme, not a simulator sample)."""
    stripped = text.strip()
    if not stripped or "://" in stripped or stripped.startswith(("simulator:", LOCAL_SCHEME)):
        return False
    return not stripped.lower().startswith("data:")


def media_file(path: str) -> MediaFile:
    """A file's content address (its sha256, read once per process per version of the file).
    OSError if it cannot be read."""
    stat = Path(path).stat()
    return _digest(path, stat.st_size, stat.st_mtime_ns)


def unchanged(file: MediaFile) -> bool:
    """Whether the file's bytes still have the hash they had when it was checked (read again
    now, not from the cache: an edit within one mtime tick is seen too). False if unreadable."""
    try:
        return _digest.__wrapped__(file.path, 0, 0).sha256 == file.sha256
    except OSError:
        return False


@lru_cache(maxsize=4096)
def _digest(path: str, size: int, mtime: int) -> MediaFile:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return MediaFile(path, digest.hexdigest(), size, Path(path).suffix.lower())


def files_of(request: Mapping[str, Any], *, images: bool) -> Iterator[str]:
    """The local paths a request sends by URL: its ``local:`` values, and with ``images`` its
    local images."""
    for value in _walk(request):
        path = local_path(value)
        if path is not None:
            yield path
        elif images and isinstance(value, ImageInput) and value.source is ImageSource.FILE:
            yield value.value


def _walk(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _walk(item)
    else:
        yield value


def with_urls(value: Any, urls: Mapping[str, str], *, images: bool) -> Any:
    """``value`` with each local file in ``urls`` written as its URL."""
    path = local_path(value)
    if path is not None:
        return urls.get(path, value)
    if images and isinstance(value, ImageInput) and value.source is ImageSource.FILE:
        url = urls.get(value.value)
        return ImageInput(ImageSource.URL, url) if url is not None else value
    if isinstance(value, Mapping):
        return {key: with_urls(item, urls, images=images) for key, item in value.items()}
    if isinstance(value, list):
        return [with_urls(item, urls, images=images) for item in value]
    return value


def fingerprinted(value: Any) -> Any:
    """``value`` with each ``local:`` file as its content hash (a job's fingerprint does not
    change when the project folder moves, and does when the file does)."""
    path = local_path(value)
    if path is not None:
        try:
            return f"sha256:{media_file(path).sha256}"
        except OSError:
            return value
    if isinstance(value, Mapping):
        return {key: fingerprinted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [fingerprinted(item) for item in value]
    return value


class _FileReader:
    """:class:`kbatch.movie.RangeReader`'s reads, from a local file."""

    def __init__(self, path: str, size: int) -> None:
        self.size: int | None = size
        self.fetched = 0
        self._handle = Path(path).open("rb")  # noqa: SIM115 (closed by close())

    async def read(self, offset: int, length: int) -> bytes:
        if self.fetched + length > LOCAL_BUDGET:
            from kbatch.movie import OverBudget

            raise OverBudget
        self._handle.seek(offset)
        data = self._handle.read(length)
        self.fetched += len(data)
        return data

    def close(self) -> None:
        self._handle.close()


def local_video_info(path: str, limits: VideoLimits) -> VideoInfo:
    """A local video checked as a URL's is (type, size, duration, pixels) from its own bytes;
    VideoProblem naming every rule it breaks (or that it cannot be read)."""
    try:
        size = Path(path).stat().st_size
        reader = _FileReader(path, size)
    except OSError as exc:
        raise VideoProblem(f"cannot be read: {exc.strerror or type(exc).__name__}") from None
    suffix = Path(path).suffix.lower()
    try:
        if suffix not in _TYPES:
            raise VideoProblem(f"is a {suffix or 'file without extension'}; Kling takes MP4 or MOV")
        movie = _finish(read_movie(cast(RangeReader, reader), size))
    finally:
        reader.close()
    if movie is None:
        raise VideoProblem("is not an MP4 or MOV video: its first bytes are not such a header")
    info = VideoInfo(
        _TYPES[suffix],
        size,
        movie.duration,
        movie.width,
        movie.height,
        movie.container,
        reader.fetched,
    )
    problems = limits.problems(info)
    if problems:
        raise VideoProblem("; ".join(problems))
    return info


def _finish(work: Any) -> Movie | None:
    """Run a coroutine that never waits (its reads are a file's) to its end, without a loop."""
    try:
        work.send(None)
    except StopIteration as done:
        return cast("Movie | None", done.value)
    work.close()
    raise RuntimeError("a local read waited")  # pragma: no cover - reads never wait


__all__ = [
    "DEFAULT_EXPIRY",
    "INSTALL_S3",
    "LOCAL_SCHEME",
    "NO_STORE",
    "STORE_FORMS",
    "STORE_SCHEMES",
    "ImagesBy",
    "MediaFile",
    "MediaSettings",
    "StoreUrl",
    "files_of",
    "fingerprinted",
    "is_local",
    "local_path",
    "local_value",
    "local_video_info",
    "media_file",
    "unchanged",
    "unsigned",
    "with_urls",
]
