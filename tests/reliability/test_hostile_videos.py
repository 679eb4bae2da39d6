"""Hostile reference-video servers and malformed MP4 headers: ``kbatch validate`` ends soon with a
located problem naming the URL, never a traceback, never hours of requests.

The servers are aiohttp apps on 127.0.0.1, on an event loop of their own thread (the CLI runs
its own loop); what they were asked and when is counted by that loop's clock.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kbatch.cli.app import cli
from kbatch.movie import MOST_REQUESTS, children, parse_moov
from kbatch.videos import DEADLINE, VideoUnreachable, inspect_video
from tests.clips import box, clip
from tests.conftest import HEADER
from tests.reliability.conftest import FIGURES

FREE = struct.pack(">I4s", 8, b"free")  # the smallest box there is


@dataclass
class Hostile:
    """What a hostile server was asked, by the clock of its own event loop."""

    loop: asyncio.AbstractEventLoop
    url: str = ""
    times: list[float] = field(default_factory=list)
    #: name -> (status, headers, body) for a GET; absent: the drip of 8-byte free boxes
    files: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    delay: float = 0.0  # seconds before each drip: the server's own pace

    async def head(self, request: web.Request) -> web.Response:
        return web.Response(status=405)  # as many presigned URLs do: the GETs tell

    async def get(self, request: web.Request) -> web.Response:
        self.times.append(self.loop.time())
        name = request.match_info["name"]
        if name in self.files:
            status, headers, body = self.files[name]
            return web.Response(status=status, headers=headers, body=body)
        if self.delay:
            await asyncio.sleep(self.delay)
        start = int(request.headers["Range"].removeprefix("bytes=").partition("-")[0])
        headers = {"Content-Range": f"bytes {start}-{start + 7}/1000000000"}
        return web.Response(status=206, headers=headers, body=FREE, content_type="video/mp4")

    @property
    def seconds(self) -> float:
        return self.times[-1] - self.times[0] if self.times else 0.0


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    loop = asyncio.new_event_loop()
    server = Hostile(loop)
    ready = threading.Event()
    runners: list[web.AppRunner] = []

    async def start() -> None:
        app = web.Application()
        app.router.add_route("HEAD", "/{name}", server.head)
        app.router.add_route("GET", "/{name}", server.get)
        runner = web.AppRunner(app, shutdown_timeout=0.1, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        runners.append(runner)
        ready.set()

    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    ready.wait()
    yield server
    asyncio.run_coroutine_threadsafe(runners[0].cleanup(), loop).result()
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


def validate(write: Callable[..., Path], url: str) -> tuple[int, str, float]:
    """``kbatch validate`` of one omni video naming ``url``: exit code, output, seconds."""
    path = write(
        "m.yaml",
        HEADER + f'jobs:\n  - {{kind: omni_video, prompt: a fox, aspect_ratio: "16:9",\n'
        f"     video: {url}}}\n",
    )
    began = time.monotonic()
    result = CliRunner().invoke(cli, ["validate", str(path)])
    took = time.monotonic() - began
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, took


def test_a_server_dripping_8_byte_boxes_is_a_located_problem_within_bounds(
    hostile: Hostile, write: Callable[..., Path]
) -> None:
    """On the code before this test, this server was sent 112,102 requests in 600 s."""
    url = f"{hostile.url}/drip.mp4"
    code, out, took = validate(write, url)
    assert code == 2
    assert f'm.yaml:6:13: $.jobs[0].video: "{url}" did not give its MP4/MOV header' in out
    assert f"did not give its MP4/MOV header within {MOST_REQUESTS} ranged reads" in out
    assert len(hostile.times) == MOST_REQUESTS  # the first read tells the type: no HEAD
    assert hostile.seconds < DEADLINE and took < 30.0
    FIGURES["hostile video: requests sent"] += len(hostile.times)
    FIGURES["hostile video: ms until the problem was said"] += round(took * 1000)


def test_a_server_slow_in_all_is_let_go_at_the_deadline(hostile: Hostile) -> None:
    """Each answer in time (0.1 s; a request may take 10), but the header never complete: the
    check ends at its deadline for the whole URL (20 s; 0.5 here)."""
    hostile.delay = 0.1
    with pytest.raises(VideoUnreachable, match=r"did not give its header within 0\.5 s \(\d+ "):
        asyncio.run(inspect_video(f"{hostile.url}/slow.mp4", deadline=0.5))
    assert 3 <= len(hostile.times) <= 6


@pytest.mark.parametrize(
    ("name", "moov"),
    [
        ("tkhd-v1-92", box(b"trak", box(b"tkhd", b"\x01" + bytes(91)))),
        ("tkhd-v1-95", box(b"trak", box(b"tkhd", b"\x01" + bytes(94)))),
        ("mehd-v1-8", box(b"mvex", box(b"mehd", b"\x01" + bytes(7)))),
        ("mehd-v1-11", box(b"mvex", box(b"mehd", b"\x01" + bytes(10)))),
    ],
)
def test_a_short_version_1_box_leaves_the_size_unknown(
    hostile: Hostile, write: Callable[..., Path], name: str, moov: bytes
) -> None:
    """A version-1 ``tkhd`` needs 96 bytes for its width and height, a ``mehd`` 12 for its
    duration: shorter, they are read as absent (the sizes they hold are unknown)."""
    data = box(b"ftyp", b"isom" + bytes(4) + b"isom") + box(b"moov", moov)
    headers = {"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}
    hostile.files[name] = (206, {**headers, "Content-Type": "video/mp4"}, data)
    assert parse_moov(moov) == (None, None, None)
    code, out, _ = validate(write, f"{hostile.url}/{name}")
    assert code == 0, out  # nothing known breaks a rule: the job stands, unmeasured
    FIGURES["malformed MP4 headers tried"] += 1


def test_a_content_range_of_4300_digits_is_a_located_problem(
    hostile: Hostile, write: Callable[..., Path]
) -> None:
    data = clip(5.0)
    total = "9" * 4301  # int() of this raises ValueError
    headers = {"Content-Range": f"bytes 0-{len(data) - 1}/{total}", "Content-Type": "video/mp4"}
    hostile.files["huge"] = (206, headers, data)
    url = f"{hostile.url}/huge"
    code, out, _ = validate(write, url)
    assert code == 2
    assert f'$.jobs[0].video: "{url}" was answered with a malformed Content-Range header' in out
    FIGURES["malformed MP4 headers tried"] += 1


def boxes(depth: int) -> st.SearchStrategy[bytes]:
    """Boxes of the kinds the parser looks into, with bodies random, truncated or nested."""
    kinds = st.sampled_from([b"mvhd", b"tkhd", b"mehd", b"hdlr", b"free", b"trak", b"mdia"])
    kinds = kinds | st.sampled_from([b"mvex", b"moov"])
    body = st.binary(max_size=120)
    if depth > 0:
        body = body | st.lists(boxes(depth - 1), max_size=4).map(b"".join)
    versioned = st.tuples(st.sampled_from([b"\x00", b"\x01"]), body).map(b"".join)
    whole = st.tuples(kinds, versioned).map(lambda kb: box(kb[0], kb[1]))
    # a box whose size field lies (too short, too long, 1 with a 64-bit size, 0: to the end)
    lying = st.tuples(st.sampled_from([0, 1, 7, 8, 9, 2**32 - 1]), kinds, versioned).map(
        lambda skb: struct.pack(">I4s", skb[0], skb[1]) + skb[2]
    )
    return whole | lying


def headers_near_their_size() -> st.SearchStrategy[bytes]:
    """A ``trak`` with a ``tkhd``, an ``mvex`` with a ``mehd``: their bodies about as long as
    the fields they should hold, either version."""
    version = st.sampled_from([b"\x00", b"\x01"])
    tkhd = st.tuples(version, st.binary(min_size=80, max_size=100)).map(b"".join)
    mehd = st.tuples(version, st.binary(max_size=16)).map(b"".join)
    return tkhd.map(lambda b: box(b"trak", box(b"tkhd", b))) | mehd.map(
        lambda b: box(b"mvex", box(b"mehd", b))
    )


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(boxes(3) | headers_near_their_size(), max_size=5).map(b"".join),
    st.integers(min_value=0, max_value=400),
)
def test_any_moov_parses_to_values_or_unknowns_never_an_exception(data: bytes, cut: int) -> None:
    for moov in (data, data[: len(data) - cut]):
        duration, width, height = parse_moov(moov)
        assert duration is None or duration >= 0
        assert (width is None) == (height is None)
        for _kind, body in children(moov):
            assert len(body) <= len(moov)
    FIGURES["malformed MP4 headers tried"] += 2
