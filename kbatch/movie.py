"""The MP4/MOV header of a video behind a URL, read by HTTP ranges within a budget of bytes.

An MP4 or MOV (ISO base media file format) is a sequence of boxes: a size, a four-letter type and
a body. The ``moov`` box says how long the movie is (``mvhd``) and how large each track is shown
(``tkhd``); the media data (``mdat``) is most of the file, and most encoders write ``moov`` after
it. :func:`read_movie` walks the top-level boxes by their headers only, so that reaching a
``moov`` at the end costs one more ranged read, and parses it; :class:`RangeReader` serves those
reads from as few requests as it can and never reads more than its budget, nor sends more than
:data:`MOST_REQUESTS` (a server answering each read with 8 bytes must not be asked for ever).
Whatever its bytes say, the parser raises nothing (a box too short for its fields is read as
absent). Written by hand (about a hundred lines) rather than taken from a media library: kbatch
needs four numbers, not a demuxer.
"""

from __future__ import annotations

import bisect
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp

#: Bytes asked for at each new place in the file: the first boxes, or a whole small moov.
WINDOW = 64 * 1024
#: Ranged GETs sent for one video at most: a real header takes two or three; a server that
#: answers each with a few bytes would otherwise be asked until the byte budget ran out.
MOST_REQUESTS = 64
#: Top-level QuickTime atoms a MOV may start with when it has no ``ftyp``.
_QUICKTIME_FIRST = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_UNKNOWN_DURATIONS = frozenset({0, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF})
#: A Content-Range; offsets of at most 19 digits (a 64-bit size): a longer one is no header of a
#: real file, and ``int()`` of 4,300 digits or more raises.
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d{1,19})-\d{1,19}|\*)/(\d{1,19}|\*)$")


class OverBudget(Exception):
    """Reading on would pass the budget of bytes: what is not known stays unknown."""


class TooManyRequests(Exception):
    """The header was not found within :data:`MOST_REQUESTS` ranged reads."""

    def __init__(self, requests: int) -> None:
        super().__init__(f"{requests} requests")
        self.requests = requests


class Malformed(Exception):
    """The server's answer or the file's header cannot be read; the message says what."""


class HttpRefused(Exception):
    """The server answered a read with this status (404, 403, 500, ...)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


@dataclass(frozen=True, slots=True)
class Movie:
    container: str  # "mp4" or "mov"
    duration: float | None = None  # seconds
    width: int | None = None  # of the first video track, as displayed
    height: int | None = None


class RangeReader:
    """Reads parts of ``url`` with ``Range`` requests, at most ``budget`` bytes in all.

    A server that answers a ranged GET with the whole file (200) is read from the start, as far
    as the budget allows, and then let go of. The first answer also tells the content type and
    the size (from ``Content-Range``, or the whole answer's length).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        timeout: aiohttp.ClientTimeout,
        budget: int,
        *,
        requests: int = MOST_REQUESTS,
    ) -> None:
        self._session, self._url, self._timeout, self._budget = session, url, timeout, budget
        self._most = requests
        self._starts: list[int] = []  # where each span read starts, sorted
        self._data: list[bytes] = []  # its bytes, in the same order
        self._stream: aiohttp.ClientResponse | None = None  # a whole-file answer, held open
        self._prefix = b""  # what was read of it
        self.fetched = 0
        self.requests = 0  # ranged GETs sent
        self.content_type: str | None = None
        self.size: int | None = None

    async def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` (fewer at the end of the file)."""
        cached = self._cached(offset, length)
        if cached is not None:
            return cached
        if self._stream is not None:
            return await self._from_stream(offset, length)
        if self.size is not None and offset >= self.size:
            return b""
        remaining = self._budget - self.fetched
        needed = length if self.size is None else min(length, self.size - offset)
        if needed > remaining:
            raise OverBudget
        want = min(max(length, WINDOW), remaining)
        if self.size is not None:
            want = min(want, self.size - offset)
        return await self._fetch(offset, want, length)

    def _cached(self, offset: int, length: int) -> bytes | None:
        """The bytes asked for, if one span read already holds them: the span that starts last
        at or before ``offset`` (spans are kept sorted by start, so this is a bisection)."""
        at = bisect.bisect_right(self._starts, offset) - 1
        if at < 0:
            return None
        start, data = self._starts[at], self._data[at]
        if offset + length <= start + len(data):
            return data[offset - start : offset - start + length]
        return None

    async def _fetch(self, offset: int, want: int, length: int) -> bytes:
        if self.requests >= self._most:  # tiny answers: the byte budget alone would allow
            raise TooManyRequests(self.requests)  # hundreds of thousands of requests
        self.requests += 1
        headers = {"Range": f"bytes={offset}-{offset + want - 1}", "Accept-Encoding": "identity"}
        response = await self._session.get(
            self._url, headers=headers, timeout=self._timeout, allow_redirects=True
        )
        try:
            self._learn(response)
        except Malformed:
            response.release()
            raise
        if response.status == 200:  # Range ignored: the whole file, from its first byte
            self._stream = response
            return await self._from_stream(offset, length)
        try:
            if response.status == 416:
                return b""
            if response.status != 206:
                raise HttpRefused(response.status)
            if _range_start(response) != offset:  # another part than asked for: trust none
                raise OverBudget
            data = await _read_up_to(response, want)
        finally:
            response.release()
        self.fetched += len(data)
        at = bisect.bisect_right(self._starts, offset)
        self._starts.insert(at, offset)
        self._data.insert(at, data)
        return data[:length]

    def _learn(self, response: aiohttp.ClientResponse) -> None:
        if self.content_type is None and response.status in (200, 206):
            self.content_type = response.headers.get("Content-Type", "").partition(";")[0]
            self.content_type = self.content_type.strip().lower()
        given = response.headers.get("Content-Range")
        match = _CONTENT_RANGE.match(given or "")
        if given is not None and match is None and response.status == 206:
            raise Malformed("was answered with a malformed Content-Range header")
        if match and match.group(2) != "*":
            self.size = int(match.group(2))
        elif response.status == 200 and response.content_length is not None:
            self.size = response.content_length

    async def _from_stream(self, offset: int, length: int) -> bytes:
        assert self._stream is not None
        end = offset + length if self.size is None else min(offset + length, self.size)
        if end - len(self._prefix) > self._budget - self.fetched:
            raise OverBudget
        while len(self._prefix) < end:
            chunk = await self._stream.content.read(min(WINDOW, end - len(self._prefix)))
            if not chunk:
                break
            self._prefix += chunk
            self.fetched += len(chunk)
        return self._prefix[offset:end]

    async def close(self) -> None:
        """Let go of a held whole-file answer without reading the rest of it."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def _range_start(response: aiohttp.ClientResponse) -> int | None:
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match and match.group(1) else None


async def _read_up_to(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most ``limit`` bytes of the body, even from a server that sends more."""
    parts, got = [], 0
    while got < limit:
        chunk = await response.content.read(limit - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


async def read_movie(reader: RangeReader, size: int | None) -> Movie | None:
    """The movie's header; None if the file does not start like an MP4 or MOV. Within the
    reader's budget: past it, the duration and pixels are unknown (None)."""
    first = await reader.read(0, 16)
    container = _container(first)
    if container is None:
        return None
    offset = 0
    try:
        while True:
            header = await reader.read(offset, 16)
            box = _box_header(header, offset, size if size is not None else reader.size)
            if box is None:
                return Movie(container)
            kind, header_size, box_size = box
            if kind == b"moov":
                body = await reader.read(offset + header_size, box_size - header_size)
                return Movie(container, *parse_moov(body))
            offset += box_size
    except OverBudget:
        return Movie(container)


def _container(first: bytes) -> str | None:
    kind = first[4:8]
    if kind == b"ftyp":
        return "mov" if first[8:12] == b"qt  " else "mp4"
    return "mov" if kind in _QUICKTIME_FIRST else None


def _box_header(header: bytes, offset: int, total: int | None) -> tuple[bytes, int, int] | None:
    """(type, header size, box size) of the box that starts with ``header``; None at the end
    of the file or at a box that cannot be (the file is damaged: stop looking)."""
    if len(header) < 8:
        return None
    size, kind = struct.unpack_from(">I4s", header)
    header_size = 8
    if size == 1:
        if len(header) < 16:
            return None
        size, header_size = struct.unpack_from(">Q", header, 8)[0], 16
    elif size == 0:  # to the end of the file
        if total is None:
            return None
        size = total - offset
    if size < header_size:
        return None
    return kind, header_size, size


def children(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, body) of each whole box in ``data``; a box cut short ends the walk."""
    offset = 0
    while True:
        box = _box_header(data[offset : offset + 16], offset, len(data))
        if box is None or offset + box[2] > len(data):
            return
        kind, header_size, size = box
        yield kind, data[offset + header_size : offset + size]
        offset += size


def parse_moov(moov: bytes) -> tuple[float | None, int | None, int | None]:
    """(duration in seconds, width, height) from a ``moov`` body; None for what it lacks."""
    duration: float | None = None
    timescale = 0
    width = height = None
    fragments: int | None = None
    for kind, body in children(moov):
        long = body[:1] == b"\x01"  # version 1: 64-bit times
        if kind == b"mvhd" and len(body) >= (32 if long else 20):
            timescale, units = struct.unpack_from(
                ">IQ" if long else ">II", body, 20 if long else 12
            )
            if timescale and units not in _UNKNOWN_DURATIONS:
                duration = units / timescale
        elif kind == b"trak" and width is None:
            width, height = _video_size(body)
        elif kind == b"mvex":
            fragments = _fragments(body)
    if duration is None and fragments and timescale:  # fragmented: the duration is in mehd
        duration = fragments / timescale
    return duration, width, height


def _video_size(trak: bytes) -> tuple[int | None, int | None]:
    """The displayed size of a video track (rotation applied); (None, None) for other tracks."""
    size: tuple[int, int] | None = None
    for kind, body in children(trak):
        long = body[:1] == b"\x01"
        if kind == b"tkhd" and len(body) >= (96 if long else 84):  # width, height end there
            matrix = struct.unpack_from(">9i", body, 52 if long else 40)
            width, height = struct.unpack_from(">II", body, 88 if long else 76)
            size = (width >> 16, height >> 16)
            if matrix[0] == 0 and matrix[4] == 0:  # turned by 90 or 270 degrees
                size = (size[1], size[0])
        elif kind == b"mdia" and _handler(body) not in (None, b"vide"):
            return None, None
    if size is None or not (size[0] and size[1]):
        return None, None
    return size


def _handler(mdia: bytes) -> bytes | None:
    for kind, body in children(mdia):
        if kind == b"hdlr" and len(body) >= 12:
            return body[8:12]
    return None


def _fragments(mvex: bytes) -> int | None:
    for kind, body in children(mvex):
        long = body[:1] == b"\x01"  # version 1: a 64-bit duration
        if kind == b"mehd" and len(body) >= (12 if long else 8):
            return int(struct.unpack_from(">Q" if long else ">I", body, 4)[0])
    return None
