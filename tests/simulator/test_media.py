"""The simulator's results are real files whose shape follows the request."""

from __future__ import annotations

import base64
import io
from typing import Any

import aiohttp
import av
import pytest
from PIL import Image, ImageChops, ImageStat

from kbatch.simulator import ManualClock, SimulatorConfig, running
from kbatch.simulator.media import FPS, MAX_VIDEO_SIDE, fallback_video
from tests.simulator.conftest import B64, EXPAND, MULTI, VIDEO, Raw


async def results(raw: Raw, clock: ManualClock, route: str, body: dict[str, Any]) -> list[bytes]:
    status, created = await raw.post(route, body)
    assert status == 200, created
    clock.advance(10)
    kind_route = {
        "expand": "images/editing/expand",
        "multi": "images/multi-image2image",
        "video": "videos/image2video",
    }[route]
    _, answer = await raw.get(f"/v1/{kind_route}/{created['data']['task_id']}")
    result = answer["data"]["task_result"]
    files = []
    for item in result.get("images", []) + result.get("videos", []):
        status, data = await raw.get(item["url"].removeprefix(raw.sim.url))
        assert status == 200
        files.append(data)
    return files


def size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


@pytest.mark.parametrize(
    ("ratios", "expected"),
    [
        ((0.25, 0.25, 0.25, 0.25), (600, 450)),  # the example of the issue
        ((0.0, 0.0, 0.3, 0.0), (520, 300)),
        ((1.0, 0.0, 0.0, 0.5), (600, 600)),
    ],
)
async def test_an_expansion_grows_by_its_ratios(
    raw: Raw, clock: ManualClock, ratios: tuple[float, ...], expected: tuple[int, int]
) -> None:
    sides = ("up", "down", "left", "right")
    body = {**EXPAND, **{f"{s}_expansion_ratio": r for s, r in zip(sides, ratios, strict=True)}}
    [image] = await results(raw, clock, "expand", body)
    assert size(image) == expected


async def test_the_original_sits_inside_the_expanded_canvas(raw: Raw, clock: ManualClock) -> None:
    body = {
        **EXPAND,
        "up_expansion_ratio": 0.0,
        "down_expansion_ratio": 0.0,
        "left_expansion_ratio": 0.5,
        "right_expansion_ratio": 0.0,
    }
    [data] = await results(raw, clock, "expand", body)
    original = Image.open(io.BytesIO(base64.b64decode(B64)))
    canvas = Image.open(io.BytesIO(data)).convert("RGB")
    pasted = canvas.crop((200, 0, 600, 300))
    assert pasted.tobytes() == original.convert("RGB").tobytes()


async def test_n_images_are_n_different_files(raw: Raw, clock: ManualClock) -> None:
    files = await results(raw, clock, "expand", {**EXPAND, "n": 3})
    assert len(files) == 3 and len(set(files)) == 3


@pytest.mark.parametrize(
    ("aspect_ratio", "expected"),
    [("16:9", (1360, 768)), ("9:16", (768, 1360)), ("1:1", (1024, 1024)), ("21:9", (1568, 672))],
)
async def test_a_multi_image_result_follows_the_aspect_ratio(
    raw: Raw, clock: ManualClock, aspect_ratio: str, expected: tuple[int, int]
) -> None:
    [image] = await results(raw, clock, "multi", {**MULTI, "aspect_ratio": aspect_ratio})
    assert size(image) == expected


@pytest.mark.parametrize("seconds", ["5", "10"])
async def test_a_video_is_a_playable_mp4_of_the_input(
    raw: Raw, clock: ManualClock, seconds: str
) -> None:
    [video] = await results(raw, clock, "video", {**VIDEO, "duration": seconds})
    with av.open(io.BytesIO(video), mode="r") as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        assert stream.codec_context.name == "h264"
    assert len(frames) == int(seconds) * FPS
    assert (frames[0].width, frames[0].height) == (MAX_VIDEO_SIDE, 360)  # 400x300, scaled
    first = frames[0].to_image().resize((40, 30))  # type: ignore[no-untyped-call]
    source = Image.open(io.BytesIO(base64.b64decode(B64))).convert("RGB")
    difference = ImageStat.Stat(ImageChops.difference(first, source.resize((40, 30)))).mean
    assert max(difference) < 20  # the first frame is the input picture


async def test_without_the_encoder_the_bundled_clip_is_served(clock: ManualClock) -> None:
    config = SimulatorConfig(videos=False, task_seconds=10, clock=clock)
    async with running(config) as sim, aiohttp.ClientSession() as session:
        [video] = await results(Raw(sim, session), clock, "video", VIDEO)
    assert video == fallback_video()
    with av.open(io.BytesIO(video), mode="r") as container:
        assert len(list(container.decode(video=0))) > 0
