"""What tasks cost at the vendor's prices (kling-pricing-video.md): ``billing[]`` on the new
API, ``final_unit_deduction`` on the old routes, and ``GET /account/costs`` that agrees."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from kbatch.simulator import ManualClock, SimulatorConfig, running
from kbatch.simulator.signing import signature
from tests.simulator.conftest import B64, FIRST, PROMPT, Files, Raw, resolve

FEATURE = {"type": "feature_video", "url": "{files}/video5.mp4", "id": "video_1"}
VOICE = {"type": "voice", "voice_id": "891495440020668439", "id": "1"}
MOTION = [PROMPT, {"type": "image", "url": "{files}/ok.png"}]
MOTION += [{"type": "video", "url": "{files}/video5.mp4"}]

# (case, path, body, units)
NEW: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "3.0 Turbo 1080p 10 s: 1.0/s",
        "text-to-video/kling-3.0-turbo",
        {"prompt": "a", "settings": {"resolution": "1080p", "duration": 10}},
        "10",
    ),
    ("3.0 Turbo 720p 5 s: 0.8/s", "image-to-video/kling-3.0-turbo", {"contents": [FIRST]}, "4"),
    ("3.0 silent 720p 5 s: 0.6/s", "text-to-video/kling-3.0", {"prompt": "a"}, "3"),
    (
        "3.0 audio 720p 7 s: 0.9/s",
        "text-to-video/kling-3.0",
        {"prompt": "a", "settings": {"audio": "native", "duration": 7}},
        "6.3",
    ),
    (
        "3.0 4k 5 s: 3/s",
        "image-to-video/kling-3.0",
        {"contents": [FIRST], "settings": {"resolution": "4k"}},
        "15",
    ),
    (
        "omni audio 1080p: 1.0/s",
        "omni-video/kling-3.0-omni",
        {"contents": [PROMPT], "settings": {"audio": "native", "resolution": "1080p"}},
        "5",
    ),
    (
        "omni video input 1080p: 1.2/s",
        "omni-video/kling-3.0-omni",
        {"contents": [PROMPT, FEATURE], "settings": {"resolution": "1080p"}},
        "6",
    ),
    ("o1 720p: 0.6/s", "omni-video/kling-o1", {"contents": [PROMPT]}, "3"),
    ("o1 video input 720p: 0.9/s", "omni-video/kling-o1", {"contents": [PROMPT, FEATURE]}, "4.5"),
    (
        "2.6 silent 1080p 10 s: 0.5/s",
        "text-to-video/kling-2.6",
        {"prompt": "a", "settings": {"resolution": "1080p", "duration": 10}},
        "5",
    ),
    (
        "2.6 audio 1080p: 1.0/s",
        "text-to-video/kling-2.6",
        {"prompt": "a", "settings": {"resolution": "1080p", "audio": "native"}},
        "5",
    ),
    (
        "2.6 voice 1080p: 1.2/s",
        "image-to-video/kling-2.6",
        {"contents": [FIRST, VOICE], "settings": {"resolution": "1080p", "audio": "native"}},
        "6",
    ),
    (
        "2.5 Turbo 720p 10 s: 0.3/s",
        "text-to-video/kling-2.5-turbo",
        {"prompt": "a", "settings": {"duration": 10}},
        "3",
    ),
    (
        "motion 3.0 1080p on a 5 s video: 1.2/s",
        "motion-control/kling-3.0",
        {"contents": MOTION, "settings": {"character_orientation": "video", "resolution": "1080p"}},
        "6",
    ),
    (
        "motion 2.6 720p: 0.5/s",
        "motion-control/kling-2.6",
        {"contents": MOTION, "settings": {"character_orientation": "image"}},
        "2.5",
    ),
    (
        "motion billed on the 3 s made of 5",
        "motion-control/kling-3.0",
        {
            "contents": [{**PROMPT, "text": "sim:shorter"}, *MOTION[1:]],
            "settings": {"character_orientation": "video"},
        },
        "2.7",
    ),
]

# (case, route, body, final_unit_deduction)
OLD: list[tuple[str, str, dict[str, Any], str]] = [
    ("kling-v1 std 5 s", "video", {"image": B64, "duration": "5"}, "1"),
    ("kling-v1 pro 10 s", "video", {"image": B64, "mode": "pro", "duration": "10"}, "7"),
    ("kling-v3 std 5 s: 720p silent", "text2video", {"prompt": "a", "model_name": "kling-v3"}, "3"),
    (
        "kling-v3 pro sound: 1080p audio",
        "text2video",
        {"prompt": "a", "model_name": "kling-v3", "mode": "pro", "sound": "on"},
        "6",
    ),
    ("kling-v3 4k", "video", {"image": B64, "model_name": "kling-v3", "mode": "4k"}, "15"),
    (
        "kling-v2-6 pro voices 10 s",
        "video",
        {
            "image": B64,
            "model_name": "kling-v2-6",
            "mode": "pro",
            "duration": "10",
            "sound": "on",
            "voice_list": [{"voice_id": "v"}],
        },
        "12",
    ),
    (
        "kling-v2-5-turbo pro",
        "video",
        {"image": B64, "model_name": "kling-v2-5-turbo", "mode": "pro"},
        "2.5",
    ),
    ("text2image n 4: Image 3.0, 8 each", "text2image", {"prompt": "a", "n": 4}, "32"),
    (
        "text2image Image 2.1 n 2: 4 each",
        "text2image",
        {"prompt": "a", "n": 2, "model_name": "kling-v2-1"},
        "8",
    ),
]


@pytest.mark.parametrize(("path", "body", "units"), [c[1:] for c in NEW], ids=[c[0] for c in NEW])
async def test_a_new_api_task_is_billed_at_the_vendors_price(
    raw: Raw, files: Files, clock: ManualClock, path: str, body: dict[str, Any], units: str
) -> None:
    status, answer = await raw.post(f"/{path}", resolve(body, files))
    assert status == 200, answer
    task_id = answer["data"]["id"]
    _, answer = await raw.get(f"/tasks?task_ids={task_id}")
    assert answer["data"][0]["billing"] == []
    clock.advance(10)
    _, answer = await raw.get(f"/tasks?task_ids={task_id}")
    [task] = answer["data"]
    assert task["billing"] == [{"charge_type": "unit", "amount": units, "package_type": "video"}]
    if "sim:shorter" in str(body):  # the output is shorter than its reference video
        assert task["outputs"][0]["duration"] == "3"


@pytest.mark.parametrize(("route", "body", "units"), [c[1:] for c in OLD], ids=[c[0] for c in OLD])
async def test_an_old_route_task_shows_final_unit_deduction_at_the_same_prices(
    raw: Raw, clock: ManualClock, route: str, body: dict[str, Any], units: str
) -> None:
    status, answer = await raw.post(route, body)
    assert status == 200, answer
    task_id = answer["data"]["task_id"]
    clock.advance(10)
    base = {"video": "/v1/videos/image2video", "text2video": "/v1/videos/text2video"}
    _, answer = await raw.get(f"{base.get(route, '/v1/images/generations')}/{task_id}")
    assert answer["data"]["final_unit_deduction"] == units


async def test_a_failed_task_costs_nothing(raw: Raw, clock: ManualClock) -> None:
    _, answer = await raw.post("/text-to-video/kling-3.0", {"prompt": "sim:fail"})
    clock.advance(10)
    _, answer = await raw.get(f"/tasks?task_ids={answer['data']['id']}")
    [task] = answer["data"]
    assert task["status"] == "failed" and task["message"] and task["billing"] == []


async def test_account_costs_show_what_is_left_once_a_second(clock: ManualClock) -> None:
    config = SimulatorConfig(task_seconds=10, clock=clock, pack_units={"video": 100.0})
    window = "/account/costs?start_time=1726124664368&end_time=1727366400000"
    async with running(config) as sim, aiohttp.ClientSession() as session:
        raw = Raw(sim, session)
        await raw.post(
            "/text-to-video/kling-3.0-turbo", {"prompt": "a", "settings": {"duration": 10}}
        )
        await raw.post("video", {"image": B64, "mode": "pro", "duration": "10"})
        status, answer = await raw.get(window)
        [pack] = answer["data"]["resource_pack_subscribe_infos"]
        assert pack["remaining_quantity"] == 100.0 and pack["status"] == "online"
        status, answer = await raw.get(window)
        assert (status, answer["code"]) == (429, 1302)
        clock.advance(10)
        status, answer = await raw.get(window)
        [pack] = answer["data"]["resource_pack_subscribe_infos"]
        assert pack["remaining_quantity"] == 100.0 - 8 - 7 and pack["total_quantity"] == 100.0
        assert set(pack) >= {"resource_pack_name", "resource_pack_id", "invalid_time", "status"}
        clock.advance(1)
        status, answer = await raw.get("/account/costs?end_time=1727366400000")
        assert (status, answer["code"]) == (400, 1201)


def test_the_signer_matches_the_vendors_test_vector() -> None:
    body = (
        '{"id":"1234567890","status":"succeeded","message":"",'
        '"create_time":1781080778802,"update_time":1781080794151}'
    )
    secret = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
    got = signature(secret, "9876543210", 1781080794, body.encode())
    assert got == "v1,UsKlJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4="
