"""Media inputs given by URL on the new path-addressed API: fetched as Kling fetches them, but
only from loopback (the simulator's own ``/media``, or a server a test runs). Any other URL is
refused as unreachable, so the simulator never sends a request beyond this machine.
"""

from __future__ import annotations

import io
import ipaddress
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from kbatch.movie import children, parse_moov
from kbatch.simulator.answers import Refused

av: Any
try:  # PyAV is optional: without it a reference video's length is not read
    import av
except ImportError:  # pragma: no cover - the test install has it
    av = None

MAX_VIDEO_BYTES = 200 * 1024 * 1024
#: The wall clock a presigned URL's expiry is read against (a test may set its own).
wall: Callable[[], float] = time.time


def presigned_end(url: str) -> float | None:
    """When a presigned URL stops being valid (epoch seconds): S3's ``X-Amz-Date`` plus
    ``X-Amz-Expires``, GCS's ``X-Goog-*`` the same, Azure SAS's ``se``; None for another URL."""
    query = {key.lower(): values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    try:
        for vendor in ("x-amz", "x-goog"):
            if f"{vendor}-date" in query and f"{vendor}-expires" in query:
                start = datetime.strptime(query[f"{vendor}-date"], "%Y%m%dT%H%M%SZ")
                return start.replace(tzinfo=UTC).timestamp() + float(query[f"{vendor}-expires"])
        if "se" in query and "sig" in query:
            return datetime.fromisoformat(query["se"].replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return None


def loopback_url(url: str) -> bool:
    """An http(s) URL whose host is ``localhost`` or a loopback address."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https"):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


async def fetch(url: str, name: str, *, limit: int = MAX_VIDEO_BYTES) -> bytes:
    """The bytes at ``url``; Refused (1201, naming the field) when it cannot be had."""
    if not loopback_url(url):
        raise Refused(1201, f"Invalid parameter {name}: the URL cannot be fetched: {url}")
    end = presigned_end(url)
    if end is not None and wall() > end:  # the store answers 403 to an expired signature
        message = f"the URL answered 403 (AccessDenied: Request has expired): {url}"
        raise Refused(1201, f"Invalid parameter {name}: {message}")
    timeout = aiohttp.ClientTimeout(total=10)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url) as answer,
        ):
            if answer.status != 200:
                message = f"the URL answered {answer.status}: {url}"
                raise Refused(1201, f"Invalid parameter {name}: {message}")
            got = bytearray()  # content.read(n) gives what has arrived, not n bytes
            async for chunk in answer.content.iter_chunked(1 << 16):
                got += chunk
                if len(got) > limit:
                    break
            data = bytes(got)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        message = f"the URL cannot be fetched ({type(exc).__name__}): {url}"
        raise Refused(1201, f"Invalid parameter {name}: {message}") from None
    if len(data) > limit:
        raise Refused(1201, f"Invalid parameter {name}: larger than {limit // 2**20} MB")
    return data


def video_seconds(data: bytes) -> float | None:
    """A video's length in seconds, or None when it cannot be read (not a video). Without PyAV
    (a light install: the demo's), the MP4/MOV header says it."""
    if av is None:
        return _header_seconds(data)
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return float(container.duration / 1_000_000)
    except (av.FFmpegError, IndexError, ValueError):
        return None
    return None


def _header_seconds(data: bytes) -> float | None:
    for name, body in children(data):
        if name == b"moov":
            return parse_moov(body)[0]
    return None


__all__ = ["MAX_VIDEO_BYTES", "fetch", "loopback_url", "presigned_end", "video_seconds"]
