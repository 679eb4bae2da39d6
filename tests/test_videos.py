"""Reference videos checked by URL: a HEAD, then the MP4/MOV header from a few ranged reads.

Every test talks to an aiohttp server on 127.0.0.1 that serves small MP4/MOV files made here
(box by box, or with PyAV), and that can refuse HEAD, ignore Range or answer with an error.
"""

from __future__ import annotations

import asyncio
import io
import socket
import struct
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from kbatch.movie import WINDOW
from kbatch.videos import (
    MOTION_IMAGE_ORIENTATION,
    MOTION_VIDEO_ORIENTATION,
    OMNI_REFERENCE,
    VideoInfo,
    VideoLimits,
    VideoProblem,
    VideoUnreachable,
    check_video,
    check_video_sync,
    check_videos_sync,
    inspect_video,
    video_url,
)

MB = 1_000_000


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def track(handler: bytes, width: int, height: int, *, turned: bool = False) -> bytes:
    """A ``trak`` with its ``tkhd`` (version 0) and the handler of its ``mdia``."""
    one = 1 << 16
    matrix = (
        (0, one, 0, -one, 0, 0, 0, 0, 1 << 30) if turned else (one, 0, 0, 0, one, 0, 0, 0, 1 << 30)
    )
    tkhd = box(
        b"tkhd",
        bytes(40) + struct.pack(">9i", *matrix) + struct.pack(">II", width << 16, height << 16),
    )
    hdlr = box(b"hdlr", bytes(8) + handler + bytes(13))
    return box(b"trak", tkhd + box(b"mdia", hdlr))


def movie(
    seconds: float = 5.0,
    width: int = 1920,
    height: int = 1080,
    *,
    moov_last: bool = False,
    brand: bytes = b"isom",
    media: int = 1000,
    turned: bool = False,
    sound_first: bool = False,
    padding: int = 0,
) -> bytes:
    """An MP4 (or, with brand ``qt  ``, a MOV) header around ``media`` bytes of media data."""
    mvhd = box(b"mvhd", bytes(12) + struct.pack(">II", 600, round(seconds * 600)) + bytes(80))
    tracks = track(b"soun", 0, 0) if sound_first else b""
    tracks += track(b"vide", width, height, turned=turned)
    moov = box(b"moov", mvhd + tracks + (box(b"free", bytes(padding)) if padding else b""))
    ftyp = box(b"ftyp", brand + bytes(4) + brand)
    mdat = box(b"mdat", bytes(media))
    return ftyp + (mdat + moov if moov_last else moov + mdat)


@dataclass
class Served:
    data: bytes
    content_type: str = "video/mp4"
    head: bool = True  # HEAD answered (else 405)
    ranges: bool = True  # Range honoured (else the whole file, 200)
    status: int = 200
    sent: int = 0  # bytes of the body written
    asked: list[str] = field(default_factory=list)  # "HEAD", or the Range of a GET


class VideoServer:
    def __init__(self) -> None:
        self.files: dict[str, Served] = {}
        self.url = ""
        self.hang = asyncio.Event()  # never set: a route that never answers

    def serve(self, name: str, served: Served) -> str:
        self.files[name] = served
        return f"{self.url}/{name}"

    async def head(self, request: web.Request) -> web.StreamResponse:
        served = self.files[request.match_info["name"]]
        served.asked.append("HEAD")
        if served.status != 200:
            return web.Response(status=served.status)
        if not served.head:
            return web.Response(status=405)
        return web.Response(body=served.data, content_type=served.content_type)

    async def get(self, request: web.Request) -> web.StreamResponse:
        served = self.files[request.match_info["name"]]
        served.asked.append(request.headers.get("Range", "whole"))
        if served.status != 200:
            return web.Response(status=served.status)
        data, total = served.data, len(served.data)
        if served.ranges and "Range" in request.headers:
            first, _, last = request.headers["Range"].removeprefix("bytes=").partition("-")
            start, end = int(first), min(int(last), total - 1)
            if start >= total:
                return web.Response(status=416, headers={"Content-Range": f"bytes */{total}"})
            served.sent += end - start + 1
            headers = {"Content-Range": f"bytes {start}-{end}/{total}"}
            body = data[start : end + 1]
            return web.Response(
                status=206, body=body, headers=headers, content_type=served.content_type
            )
        response = web.StreamResponse(headers={"Content-Length": str(total)})
        response.content_type = served.content_type
        await response.prepare(request)
        try:
            for offset in range(0, total, WINDOW):
                await response.write(data[offset : offset + WINDOW])
                served.sent += len(data[offset : offset + WINDOW])
        except (ConnectionResetError, ConnectionError):
            pass  # the client let go, as it should once it has read enough
        return response

    async def slow(self, request: web.Request) -> web.StreamResponse:
        await self.hang.wait()
        return web.Response()


@pytest.fixture
async def server() -> AsyncIterator[VideoServer]:
    videos = VideoServer()
    app = web.Application()
    app.router.add_route("HEAD", "/slow/{name}", videos.slow)
    app.router.add_route("HEAD", "/{name}", videos.head)
    app.router.add_route("GET", "/{name}", videos.get)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    videos.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield videos
    await runner.cleanup()


async def test_a_video_is_measured_from_a_head_and_one_ranged_read(server: VideoServer) -> None:
    served = Served(movie(5.0, 1920, 1080))
    info = await check_video(server.serve("clip.mp4", served), OMNI_REFERENCE)
    size = len(served.data)
    assert info == VideoInfo("video/mp4", size, 5.0, 1920, 1080, "mp4", fetched=size)
    assert served.asked == ["HEAD", f"bytes=0-{WINDOW - 1}"]


async def test_a_moov_at_the_end_costs_one_more_read_not_the_file(server: VideoServer) -> None:
    served = Served(movie(8.0, 1280, 720, moov_last=True, media=5 * MB))
    info = await check_video(server.serve("end.mp4", served), OMNI_REFERENCE)
    assert (info.duration, info.width, info.height, info.size) == (8.0, 1280, 720, len(served.data))
    assert len(served.asked) == 3 and served.sent == info.fetched < 2 * WINDOW


async def test_where_head_is_refused_a_ranged_get_tells_type_and_size(server: VideoServer) -> None:
    served = Served(movie(4.0, 720, 1280), content_type="video/quicktime", head=False)
    info = await check_video(server.serve("nohead.mov", served), OMNI_REFERENCE)
    assert (info.content_type, info.size, info.duration) == (
        "video/quicktime",
        len(served.data),
        4.0,
    )
    assert served.asked == ["HEAD", f"bytes=0-{WINDOW - 1}"]


@pytest.mark.parametrize(
    ("content_type", "data", "problem"),
    [
        ("text/html", b"<html>sign in</html>", "is served as text/html, not as a video"),
        (
            "video/webm",
            b"\x1aE\xdf\xa3" + bytes(100),
            "is a video/webm video; Kling takes MP4 or MOV",
        ),
        ("application/octet-stream", b"\x1aE\xdf\xa3" + bytes(100), "is not an MP4 or MOV video"),
    ],
)
async def test_what_is_not_an_mp4_or_mov_is_refused(
    server: VideoServer, content_type: str, data: bytes, problem: str
) -> None:
    url = server.serve("v", Served(data, content_type=content_type))
    with pytest.raises(VideoProblem, match=problem):
        await check_video(url, OMNI_REFERENCE)


async def test_a_bare_octet_stream_is_judged_by_its_bytes(server: VideoServer) -> None:
    served = Served(movie(brand=b"qt  "), content_type="binary/octet-stream")
    info = await check_video(server.serve("s3-upload", served), OMNI_REFERENCE)
    assert info.container == "mov"


async def test_every_rule_broken_is_said_at_once(server: VideoServer) -> None:
    small = VideoLimits("the test video", 1 * MB, 3.0, 15.5, 700, 4553, 8_294_400, 0.4, 2.0)
    url = server.serve("big.mp4", Served(movie(20.0, 5000, 2000, media=1_500_000)))
    with pytest.raises(VideoProblem) as caught:
        await check_video(url, small)
    assert str(caught.value) == (
        "is 1.5 MB; the test video takes at most 1 MB; "
        "lasts 20.0 s; the test video takes 3 to 15.5 s; "
        "is 5000x2000; the test video takes sides of 700 to 4553 px; "
        "is 5000x2000; the test video takes at most 8,294,400 pixels; "
        "is 5000x2000 (aspect ratio 2.50); the test video takes 0.4 to 2"
    )


async def test_the_vendors_limits_per_use(server: VideoServer) -> None:
    long_omni = server.serve("16s.mp4", Served(movie(16.0, 1920, 1080)))
    with pytest.raises(
        VideoProblem, match=r"lasts 16\.0 s; the omni reference video takes 3 to 15\.5 s"
    ):
        await check_video(long_omni, OMNI_REFERENCE)
    dance = server.serve("dance.mp4", Served(movie(12.0, 360, 640)))
    with pytest.raises(VideoProblem, match=r"character_orientation: image\) takes 3 to 10 s"):
        await check_video(dance, MOTION_IMAGE_ORIENTATION)
    assert (await check_video(dance, MOTION_VIDEO_ORIENTATION)).duration == 12.0
    with pytest.raises(VideoProblem, match="takes sides of 700 to 4553 px"):
        await check_video(dance, OMNI_REFERENCE)


async def test_a_server_that_ignores_range_is_let_go_at_the_budget(server: VideoServer) -> None:
    """The moov is at the end of 12 MB: reading on would download it all, so it stays unknown."""
    served = Served(movie(5.0, moov_last=True, media=12 * MB), ranges=False)
    budget = 256 * 1024
    info = await inspect_video(server.serve("norange.mp4", served), budget=budget)
    assert (info.duration, info.width, info.height) == (None, None, None)
    assert info.container == "mp4" and info.size == len(served.data)
    assert info.fetched <= budget and served.sent < len(served.data) // 2
    quick = Served(movie(6.0, 1080, 1920), ranges=False)  # header first: read from the stream
    assert (await inspect_video(server.serve("quick.mp4", quick))).duration == 6.0


async def test_a_moov_larger_than_the_budget_is_not_read(server: VideoServer) -> None:
    served = Served(movie(5.0, moov_last=True, media=MB, padding=300_000))
    info = await inspect_video(server.serve("fat.mp4", served), budget=256 * 1024)
    assert (info.duration, info.width, info.size) == (None, None, len(served.data))
    assert served.sent == info.fetched <= 256 * 1024


async def test_a_turned_phone_video_and_a_sound_track_first(server: VideoServer) -> None:
    served = Served(movie(5.0, 1920, 1080, turned=True, sound_first=True))
    info = await inspect_video(server.serve("phone.mov", served))
    assert (info.width, info.height) == (1080, 1920)


async def test_a_real_encoded_video(server: VideoServer) -> None:
    """A file written by FFmpeg (through PyAV), which leaves moov after the media data."""
    av = pytest.importorskip("av")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 352, 288, "yuv420p"
        for number in range(72):
            frame = av.VideoFrame(352, 288, "yuv420p")
            frame.pts = number
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    info = await inspect_video(server.serve("real.mp4", Served(buffer.getvalue())))
    assert (info.width, info.height, info.container) == (352, 288, "mp4")
    assert info.duration == pytest.approx(3.0, abs=0.1)


def test_a_local_video_is_refused_kling_takes_urls_only() -> None:
    with pytest.raises(VideoProblem, match="Kling takes videos by URL only"):
        video_url("clips/dance.mp4")
    with pytest.raises(
        VideoProblem, match=r"uses file://; Kling takes a video by its http\(s\) URL"
    ):
        video_url("file:///home/me/dance.mp4")
    with pytest.raises(VideoProblem, match="not a well-formed URL"):
        video_url("https://host:99999/a.mp4")
    assert video_url(" https://cdn.example.com/a.mp4 ") == "https://cdn.example.com/a.mp4"


@pytest.mark.parametrize(
    ("status", "kind", "problem"),
    [
        (404, VideoProblem, r"was not found \(HTTP 404\)"),
        (403, VideoProblem, r"is not public \(HTTP 403\): Kling must be able to fetch it"),
        (503, VideoUnreachable, r"could not be fetched just now \(HTTP 503\)"),
    ],
)
async def test_refusals_say_what_happened_without_the_url(
    server: VideoServer, status: int, kind: type[VideoProblem], problem: str
) -> None:
    url = server.serve("x.mp4", Served(b"", status=status)) + "?X-Amz-Signature=secret"
    with pytest.raises(kind, match=problem) as caught:
        await check_video(url, OMNI_REFERENCE)
    assert "secret" not in str(caught.value)


async def test_an_unreachable_or_silent_server_is_unreachable(server: VideoServer) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(VideoUnreachable, match="could not be reached"):
        await check_video(f"http://127.0.0.1:{port}/a.mp4", OMNI_REFERENCE)
    with pytest.raises(VideoUnreachable, match=r"did not answer within 0\.2 s"):
        await check_video(f"{server.url}/slow/a.mp4", OMNI_REFERENCE, timeout=0.2)


async def test_the_loader_can_check_synchronously(server: VideoServer) -> None:
    """From synchronous code (here a worker thread, as the loader would be), many at once."""
    good = server.serve("good.mp4", Served(movie(5.0)))
    long = server.serve("long.mp4", Served(movie(40.0)))
    info = await asyncio.to_thread(check_video_sync, good, OMNI_REFERENCE)
    assert info.duration == 5.0
    uses = [(good, OMNI_REFERENCE), (long, MOTION_VIDEO_ORIENTATION), (good, OMNI_REFERENCE)]
    found = await asyncio.to_thread(check_videos_sync, uses)
    assert len(found) == 2 and isinstance(found[good, OMNI_REFERENCE], VideoInfo)
    assert "lasts 40.0 s" in str(found[long, MOTION_VIDEO_ORIENTATION])


@pytest.fixture
def threaded_server() -> Iterator[VideoServer]:
    """The same server on an event loop of its own thread, for callers that block theirs."""
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    holder: list[VideoServer] = []
    runners: list[web.AppRunner] = []

    async def start() -> None:
        videos = VideoServer()
        app = web.Application()
        app.router.add_route("HEAD", "/{name}", videos.head)
        app.router.add_route("GET", "/{name}", videos.get)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        videos.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        holder.append(videos)
        runners.append(runner)
        ready.set()

    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    ready.wait()
    yield holder[0]
    asyncio.run_coroutine_threadsafe(runners[0].cleanup(), loop).result()
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


async def test_the_sync_check_works_inside_a_running_event_loop(
    threaded_server: VideoServer,
) -> None:
    """asyncio.run cannot nest: called from async code, the check runs on a thread of its own
    (blocking the caller's loop meanwhile, as any synchronous call does)."""
    url = threaded_server.serve("good.mp4", Served(movie(7.0)))
    assert check_video_sync(url, OMNI_REFERENCE).duration == 7.0
