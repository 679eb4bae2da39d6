"""Raw HTTP against the simulator: what a client of any quality would send."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp
import av
import pytest
from aiohttp import web
from PIL import Image

from kbatch.simulator import ManualClock, Simulator, SimulatorConfig, audio, media, running
from tests.conftest import IMAGES

B64 = base64.b64encode((IMAGES / "ok.png").read_bytes()).decode()
JPG = base64.b64encode((IMAGES / "ok.jpg").read_bytes()).decode()

EXPAND = {
    "image": B64,
    "up_expansion_ratio": 0.25,
    "down_expansion_ratio": 0.25,
    "left_expansion_ratio": 0.25,
    "right_expansion_ratio": 0.25,
}
MULTI = {"subject_image_list": [{"subject_image": B64}, {"subject_image": JPG}]}
VIDEO = {"image": B64, "duration": "5"}
ROUTES = {
    "expand": "/v1/images/editing/expand",
    "multi": "/v1/images/multi-image2image",
    "legacy": "/kling/v1/images/generations",
    "text2video": "/v1/videos/text2video",
    "text2image": "/v1/images/generations",
    "video": "/v1/videos/image2video",
}


class Raw:
    """Sends whatever it is given, with any Bearer token."""

    def __init__(self, sim: Simulator, session: aiohttp.ClientSession) -> None:
        self.sim, self.session = sim, session

    async def post(
        self, route: str, body: Any, *, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        sent = {"Authorization": "Bearer anything"} if headers is None else headers
        sent = {**sent, "Content-Type": "application/json"}
        data = io.BytesIO(json.dumps(body).encode())
        async with self.session.post(
            self.sim.url + ROUTES.get(route, route), data=data, headers=sent
        ) as response:
            return response.status, await response.json(content_type=None)

    async def get(self, path: str) -> tuple[int, Any]:
        headers = {"Authorization": "Bearer anything"}
        async with self.session.get(self.sim.url + path, headers=headers) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.read()


@pytest.fixture
async def raw(sim: Simulator) -> AsyncIterator[Raw]:
    async with aiohttp.ClientSession() as session:
        yield Raw(sim, session)


@pytest.fixture
async def strict(clock: ManualClock) -> AsyncIterator[Raw]:
    """Raw HTTP against a simulator that keeps the strict refusals (``kbatch simulator
    --strict``): unknown fields and empty optional strings are refused."""
    config = SimulatorConfig(task_seconds=10, clock=clock, strict=True)
    async with running(config) as sim, aiohttp.ClientSession() as session:
        yield Raw(sim, session)


_VIDEOS: dict[int, bytes] = {}


def clip(seconds: int) -> bytes:
    """A real MP4 of that many seconds (made once per test session)."""
    if seconds not in _VIDEOS:
        picture = Image.linear_gradient("L").resize((320, 240)).convert("RGB")
        _VIDEOS[seconds] = media.video(picture, seconds)
    return _VIDEOS[seconds]


class Files:
    """A loopback server of input files, as a CDN a client points Kling at:
    ``files.url("image.png")``. Images come from tests/manifests/images; ``video<N>.mp4``
    is an N-second clip; anything else is 404."""

    def __init__(self, base: str) -> None:
        self.base = base

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


def sized_clip(seconds: int, width: int, height: int) -> bytes:
    """A real MP4 of that many seconds and that size, one frame a second (made once)."""
    key = (seconds, width, height)
    if key not in _SIZED:
        out, pyav = io.BytesIO(), cast(Any, av)
        with pyav.open(out, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=1)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            frame = Image.new("RGB", (width, height), (90, 120, 150))
            for _ in range(seconds):
                for packet in stream.encode(pyav.VideoFrame.from_image(frame)):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        _SIZED[key] = out.getvalue()
    return _SIZED[key]


_SIZED: dict[tuple[int, int, int], bytes] = {}
_SIZED_NAME = re.compile(r"video(\d+)-(\d+)x(\d+)\.mp4")
_AUDIO_NAME = re.compile(r"audio(\d+(?:\.\d+)?)\.(mp3|wav)")


async def _file(request: web.Request) -> web.Response:
    """``video<N>.mp4``, ``video<N>-<W>x<H>.mp4``, ``audio<N>.mp3|wav`` (N seconds) or an
    image of tests/manifests/images."""
    name = request.match_info["name"]
    if name.startswith("video") and name.endswith(".mp4") and name[5:-4].isdigit():
        return web.Response(body=clip(int(name[5:-4])), content_type="video/mp4")
    sized = _SIZED_NAME.fullmatch(name)
    if sized:
        seconds, width, height = (int(part) for part in sized.groups())
        return web.Response(body=sized_clip(seconds, width, height), content_type="video/mp4")
    sound = _AUDIO_NAME.fullmatch(name)
    if sound:
        length = float(sound.group(1))
        made = audio.mp3(length) if sound.group(2) == "mp3" else audio.wav(length)
        return web.Response(body=made, content_type=f"audio/{sound.group(2)}")
    path = IMAGES / name
    if name.endswith((".png", ".jpg")) and path.is_file():
        return web.Response(body=path.read_bytes(), content_type="image/png")
    return web.Response(status=404, text="not found")


@pytest.fixture
async def files() -> AsyncIterator[Files]:
    app = web.Application()
    app.router.add_get("/{name}", _file)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield Files(f"http://{host}:{port}")
    finally:
        await runner.cleanup()


def resolve(value: Any, files: Files) -> Any:
    """A request body with each ``{files}`` replaced by the loopback file server's address."""
    if isinstance(value, str):
        return value.replace("{files}", files.base)
    if isinstance(value, list):
        return [resolve(item, files) for item in value]
    if isinstance(value, dict):
        return {key: resolve(item, files) for key, item in value.items()}
    return value


PROMPT = {"type": "prompt", "text": "a cat walks"}
FIRST = {"type": "first_frame", "url": "{files}/ok.png"}
LAST = {"type": "last_frame", "url": "{files}/ok.jpg"}
MOTION = [PROMPT, {"type": "image", "url": "{files}/ok.png"}]
MOTION += [{"type": "video", "url": "{files}/video5.mp4"}]
#: The least each model's path takes.
MINIMAL: dict[str, dict[str, Any]] = {
    "text-to-video/kling-3.0-turbo": {"prompt": "a cat walks"},
    "text-to-video/kling-3.0": {"prompt": "a cat walks"},
    "text-to-video/kling-2.6": {"prompt": "a cat walks"},
    "text-to-video/kling-2.5-turbo": {"prompt": "a cat walks"},
    "image-to-video/kling-3.0-turbo": {"contents": [PROMPT, FIRST]},
    "image-to-video/kling-3.0": {"contents": [PROMPT, FIRST]},
    "image-to-video/kling-2.6": {"contents": [PROMPT, FIRST]},
    "image-to-video/kling-2.5-turbo": {"contents": [PROMPT, FIRST]},
    "omni-video/kling-3.0-omni": {"contents": [PROMPT]},
    "omni-video/kling-o1": {"contents": [PROMPT]},
    "motion-control/kling-3.0": {
        "contents": MOTION,
        "settings": {"character_orientation": "video"},
    },
    "motion-control/kling-2.6": {
        "contents": MOTION,
        "settings": {"character_orientation": "image"},
    },
}
