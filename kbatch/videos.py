"""Reference videos (omni video, motion control): checked by their URL before any money is spent.

Kling takes a video by URL only, so kbatch never holds the file; it asks the server as little as
it can: a HEAD for the content type and size (a ranged GET of the first bytes where HEAD is
refused, as many presigned URLs do), then the MP4/MOV header (:mod:`kbatch.movie`) from small
ranged reads: the first 64 KiB, and when the ``moov`` box sits after the media data (as most
encoders leave it), one more read where it starts. At most ``budget`` bytes are read in all; a
server that ignores ``Range`` is read from the start and let go at the budget. Whatever could not
be learnt within it is None (unknown), never a guess. A server that dribbles its header out (64
ranged reads without it, or :data:`DEADLINE` seconds in all) or answers with a malformed header
is a :class:`VideoProblem`, as a refusal is.

::

    info = await check_video(url, OMNI_REFERENCE)        # or check_video_sync(...) in the loader
    info.duration, info.width, info.height               # 5.0, 1920, 1080; VideoProblem if not

The messages of :class:`VideoProblem` read after the value as the manifest wrote it, as image
problems do; they never carry the URL, whose query may hold a signature.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp

from kbatch.movie import (
    MOST_REQUESTS,
    HttpRefused,
    Malformed,
    Movie,
    RangeReader,
    TooManyRequests,
    children,
    parse_moov,
    read_movie,
)

MB = 1_000_000
#: At most this many bytes of a video are read to learn its duration and size.
BUDGET = 2 * 1024 * 1024
#: Seconds one video's check may take in all, however its server answers (each request has its
#: own ``timeout`` too): a server that drips its header out is a problem, not a wait.
DEADLINE = 20.0
#: Content types that may hold an MP4 or MOV (the bytes decide for the generic ones).
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/x-m4v", "application/mp4"})
GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream", ""})

T = TypeVar("T")


class VideoProblem(ValueError):
    """A video input cannot be used; the message says why. The loader makes it an Issue."""


class VideoUnreachable(VideoProblem):
    """The video's server could not be asked (down, slow, a 5xx): perhaps only for now."""


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """What Kling takes for one use of a video (a caller picks the constant for its use)."""

    use: str  # named in messages: "the omni reference video"
    max_bytes: int
    min_seconds: float
    max_seconds: float
    min_side: int
    max_side: int
    max_area: int | None = None  # pixels, width x height
    min_ratio: float | None = None  # width / height
    max_ratio: float | None = None

    def problems(self, info: VideoInfo) -> list[str]:
        """Every rule ``info`` breaks; what is unknown breaks none."""
        out = []
        if info.size is not None and info.size > self.max_bytes:
            out.append(f"is {info.size / MB:.1f} MB; {self.use} takes at most {self._mb} MB")
        if info.duration is not None and not (
            self.min_seconds <= info.duration <= self.max_seconds
        ):
            out.append(
                f"lasts {info.duration:.1f} s; {self.use} takes "
                f"{self.min_seconds:g} to {self.max_seconds:g} s"
            )
        if info.width is not None and info.height is not None:
            out.extend(self._pixels(info.width, info.height))
        return out

    @property
    def _mb(self) -> str:
        return f"{self.max_bytes / MB:g}"

    def _pixels(self, width: int, height: int) -> list[str]:
        size = f"is {width}x{height}"
        out = []
        if min(width, height) < self.min_side or max(width, height) > self.max_side:
            out.append(f"{size}; {self.use} takes sides of {self.min_side} to {self.max_side} px")
        if self.max_area is not None and width * height > self.max_area:
            out.append(f"{size}; {self.use} takes at most {self.max_area:,} pixels")
        ratio = width / height
        low, high = self.min_ratio or 0.0, self.max_ratio or float("inf")
        if not low <= ratio <= high:
            span = f"{low:g} to {high:g}" if high < float("inf") else f"at least {low:g}"
            out.append(f"{size} (aspect ratio {ratio:.2f}); {self.use} takes {span}")
        return out


#: Omni video's reference video (feature_video or base_video) on kling-3.0-omni (section 3 of
#: KLING_API.md). Its page says 3 to 15.5 s and the changelog 3 to 15: the page is followed, so
#: that a video Kling takes is never refused here.
OMNI_REFERENCE = VideoLimits(
    "the omni reference video", 200 * MB, 3.0, 15.5, 700, 4553, 8_294_400, 0.4, 2.0
)
#: The same on kling-o1 (section 3).
O1_REFERENCE = VideoLimits("the O1 reference video", 200 * MB, 3.0, 10.0, 700, 2160)
#: Motion control's video with ``character_orientation: image`` (section 5): at most 10 s.
MOTION_IMAGE_ORIENTATION = VideoLimits(
    "motion control's video (character_orientation: image)", 100 * MB, 3.0, 10.0, 340, 3850
)
#: Motion control's video with ``character_orientation: video`` (section 5): at most 30 s.
MOTION_VIDEO_ORIENTATION = VideoLimits(
    "motion control's video (character_orientation: video)", 100 * MB, 3.0, 30.0, 340, 3850
)


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What the server said of a video and its header showed; None where it is unknown."""

    content_type: str
    size: int | None
    duration: float | None  # seconds
    width: int | None  # as displayed (a rotation in the header applied)
    height: int | None
    container: str | None = None  # "mp4" or "mov"
    fetched: int = 0  # bytes of the video read to find this out


#: A sample the built-in simulator serves (``simulator:samples/dance.mp4``): a manifest run on
#: the simulator (the demo) names a reference video with no server of its own.
SAMPLE_SCHEME = "simulator:"


def sample_info(text: str, limits: VideoLimits) -> VideoInfo:
    """A simulator sample checked as a URL's video is, from its packaged bytes (nothing is
    fetched); VideoProblem for an unknown sample or one a rule refuses."""
    name = text.strip().removeprefix(SAMPLE_SCHEME).removeprefix("samples/")
    found = resources.files("kbatch").joinpath("data", "samples", name)
    if "/" in name or not name.endswith(".mp4") or not found.is_file():
        raise VideoProblem("is not a sample of the simulator (see kbatch/data/samples)")
    data = found.read_bytes()
    duration = width = height = None
    for box, body in children(data):
        if box == b"moov":
            duration, width, height = parse_moov(body)
    info = VideoInfo("video/mp4", len(data), duration, width, height, "mp4", len(data))
    problems = limits.problems(info)
    if problems:
        raise VideoProblem("; ".join(problems))
    return info


def video_url(text: str) -> str:
    """The URL a manifest gave for a video; VideoProblem for a local file or another scheme."""
    stripped = text.strip()
    scheme = stripped.partition("://")[0].lower() if "://" in stripped else ""
    if scheme not in ("http", "https"):
        if scheme:
            raise VideoProblem(f"uses {scheme}://; Kling takes a video by its http(s) URL only")
        raise VideoProblem(
            "is not a URL: Kling takes videos by URL only (upload the file and give its URL)"
        )
    try:
        parts = urlsplit(stripped)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise VideoProblem("is not a well-formed URL") from None
    if not parts.hostname or any(c.isspace() for c in stripped):
        raise VideoProblem("is not a well-formed URL: it needs a host and no spaces")
    return stripped


async def inspect_video(
    url: str,
    *,
    session: aiohttp.ClientSession | None = None,
    timeout: float = 10.0,
    budget: int = BUDGET,
    deadline: float = DEADLINE,
    requests: int = MOST_REQUESTS,
) -> VideoInfo:
    """What ``url`` serves: type and size, and duration and pixels from its header. At most
    ``requests`` ranged reads and ``deadline`` seconds in all (VideoProblem past either)."""
    url = video_url(url)
    if session is None:
        async with aiohttp.ClientSession() as own:
            return await inspect_video(
                url,
                session=own,
                timeout=timeout,
                budget=budget,
                deadline=deadline,
                requests=requests,
            )
    limit = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 5.0))
    reader = RangeReader(session, url, limit, budget, requests=requests)
    try:
        async with asyncio.timeout(deadline) as within:
            content_type, size, movie = await _read(session, url, limit, reader)
    except HttpRefused as exc:
        raise _refused(exc.status) from None
    except TooManyRequests as exc:
        raise VideoProblem(
            f"did not give its MP4/MOV header within {exc.requests} ranged reads "
            "(its server answers each with a few bytes)"
        ) from None
    except Malformed as exc:
        raise VideoProblem(str(exc)) from None
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        if within.expired():
            raise VideoUnreachable(
                f"did not give its header within {deadline:g} s ({reader.requests} requests)"
            ) from None
        raise _unreachable(exc, timeout) from None
    finally:
        await reader.close()
    if movie is None:
        raise VideoProblem("is not an MP4 or MOV video: its first bytes are not such a header")
    size = size if size is not None else reader.size
    return _info(content_type or "", size, movie, reader.fetched)


async def _read(
    session: aiohttp.ClientSession, url: str, limit: aiohttp.ClientTimeout, reader: RangeReader
) -> tuple[str | None, int | None, Movie | None]:
    """The content type, the size and the movie's header, read by ``reader``."""
    content_type, size = await _head(session, url, limit)
    if content_type is None:  # HEAD refused: the first ranged read tells instead
        await reader.read(0, 8)
        content_type, size = reader.content_type, reader.size
    _check_type(content_type)
    try:
        movie = await read_movie(reader, size)
    except (struct.error, ValueError, OverflowError, IndexError):  # what no header should hold
        raise Malformed("has a damaged MP4/MOV header") from None
    return content_type, size, movie


def _info(content_type: str, size: int | None, movie: Movie, fetched: int) -> VideoInfo:
    return VideoInfo(
        content_type, size, movie.duration, movie.width, movie.height, movie.container, fetched
    )


async def check_video(
    url: str,
    limits: VideoLimits,
    *,
    session: aiohttp.ClientSession | None = None,
    timeout: float = 10.0,
    budget: int = BUDGET,
) -> VideoInfo:
    """:func:`inspect_video`, then ``limits``: VideoProblem naming every rule broken."""
    info = await inspect_video(url, session=session, timeout=timeout, budget=budget)
    problems = limits.problems(info)
    if problems:
        raise VideoProblem("; ".join(problems))
    return info


async def check_videos(
    uses: Iterable[tuple[str, VideoLimits]], *, at_once: int = 8, timeout: float = 10.0
) -> dict[tuple[str, VideoLimits], VideoInfo | VideoProblem]:
    """Check many (url, limits) pairs, each distinct pair once, ``at_once`` at a time."""
    distinct = list(dict.fromkeys(uses))
    gate = asyncio.Semaphore(at_once)
    async with aiohttp.ClientSession() as session:

        async def one(url: str, limits: VideoLimits) -> VideoInfo | VideoProblem:
            async with gate:
                try:
                    return await check_video(url, limits, session=session, timeout=timeout)
                except VideoProblem as exc:
                    return exc

        found = await asyncio.gather(*(one(url, limits) for url, limits in distinct))
    return dict(zip(distinct, found, strict=True))


def check_video_sync(url: str, limits: VideoLimits, *, timeout: float = 10.0) -> VideoInfo:
    """:func:`check_video` for synchronous code such as the manifest loader."""
    return _run(check_video(url, limits, timeout=timeout))


def check_videos_sync(
    uses: Iterable[tuple[str, VideoLimits]], *, at_once: int = 8, timeout: float = 10.0
) -> dict[tuple[str, VideoLimits], VideoInfo | VideoProblem]:
    """:func:`check_videos` for synchronous code such as the manifest loader."""
    return _run(check_videos(uses, at_once=at_once, timeout=timeout))


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` to its end; in a thread of its own if this one already runs an event loop
    (the loader may be called from async code, and asyncio.run refuses to nest)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with ThreadPoolExecutor(1, thread_name_prefix="kbatch-video") as pool:
        return pool.submit(asyncio.run, work).result()


async def _head(
    session: aiohttp.ClientSession, url: str, limit: aiohttp.ClientTimeout
) -> tuple[str | None, int | None]:
    """Content type and size from a HEAD; (None, None) if HEAD is refused in any way (the GET
    that follows says whether the video itself is refused)."""
    async with session.head(url, timeout=limit, allow_redirects=True) as response:
        if response.status >= 300:
            return None, None
        return _media_type(response.headers.get("Content-Type")), response.content_length


def _media_type(header: str | None) -> str:
    return (header or "").partition(";")[0].strip().lower()


def _check_type(content_type: str | None) -> None:
    if content_type is None or content_type in VIDEO_TYPES or content_type in GENERIC_TYPES:
        return
    if content_type.startswith("video/"):
        raise VideoProblem(f"is a {content_type} video; Kling takes MP4 or MOV")
    raise VideoProblem(f"is served as {content_type}, not as a video; Kling takes MP4 or MOV")


def _refused(status: int) -> VideoProblem:
    if status in (404, 410):
        return VideoProblem(f"was not found (HTTP {status})")
    if status in (401, 403):
        return VideoProblem(f"is not public (HTTP {status}): Kling must be able to fetch it")
    if status >= 500 or status == 429:
        return VideoUnreachable(f"could not be fetched just now (HTTP {status})")
    return VideoProblem(f"could not be fetched (HTTP {status})")


def _unreachable(exc: BaseException, timeout: float) -> VideoUnreachable:
    """The failure in words that cannot carry the URL (a signed query is a secret)."""
    if isinstance(exc, TimeoutError):
        return VideoUnreachable(f"did not answer within {timeout:g} s")
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or type(exc.os_error).__name__
        return VideoUnreachable(f"could not be reached: {reason}")
    return VideoUnreachable(f"could not be fetched: {type(exc).__name__}")


__all__ = [
    "MOTION_IMAGE_ORIENTATION",
    "MOTION_VIDEO_ORIENTATION",
    "O1_REFERENCE",
    "OMNI_REFERENCE",
    "VideoInfo",
    "VideoLimits",
    "VideoProblem",
    "VideoUnreachable",
    "check_video",
    "check_video_sync",
    "check_videos",
    "check_videos_sync",
    "inspect_video",
    "video_url",
]
