"""By default the simulator accepts what Kling accepts: an optional string sent empty is
absent, a field Kling ignores is ignored, and current Kling's additions pass. ``--strict``
(``SimulatorConfig.strict``) keeps the refusals, for testing clients."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import aiohttp
import pytest

from tests.simulator.conftest import B64, EXPAND, MULTI, VIDEO, Raw

# (case, route, body): refused under --strict, accepted by default
LET_PASS: list[tuple[str, str, dict[str, Any]]] = [
    ("an empty callback_url", "video", {**VIDEO, "callback_url": ""}),
    ("an empty external_task_id", "expand", {**EXPAND, "external_task_id": ""}),
    ("aspect_ratio on image2video", "video", {**VIDEO, "aspect_ratio": "16:9"}),
    ("n on a video", "video", {**VIDEO, "n": 1}),
    ("a model for expansion", "expand", {**EXPAND, "model_name": "kling-v2"}),
    ("the new spelling on the legacy route", "legacy", {**MULTI, "scene_image": B64}),
    (
        "an unknown field on the new API",
        "/text-to-video/kling-3.0-turbo",
        {"prompt": "a", "settings": {"audio": "native"}},
    ),
    (
        "empty options on the new API (as the vendor's own examples send)",
        "/text-to-video/kling-3.0",
        {"prompt": "a", "options": {"callback_url": "", "external_task_id": ""}},
    ),
    (
        "omni without aspect_ratio, first frame or video",
        "/omni-video/kling-3.0-omni",
        {"contents": [{"type": "prompt", "text": "a"}]},
    ),
]

# (case, route, body): what current Kling accepts on the old routes, strict or not
CURRENT: list[tuple[str, str, dict[str, Any]]] = [
    (
        "mode 4k on kling-v3 text2video",
        "text2video",
        {"prompt": "a", "model_name": "kling-v3", "mode": "4k"},
    ),
    ("mode 4k on kling-v3 image2video", "video", {**VIDEO, "model_name": "kling-v3", "mode": "4k"}),
    ("text2image kling-v3 (the default) at 2k", "text2image", {"prompt": "a", "resolution": "2k"}),
    ("text2image kling-v3 by name", "text2image", {"prompt": "a", "model_name": "kling-v3"}),
    (
        "text2image kling-v2-1 with a subject reference",
        "text2image",
        {"prompt": "a", "model_name": "kling-v2-1", "image": B64, "image_reference": "subject"},
    ),
    (
        "text2image with elements",
        "text2image",
        {"prompt": "a", "element_list": [{"element_id": "161"}]},
    ),
    ("watermark_info", "video", {**VIDEO, "watermark_info": {"enabled": True}}),
    ("an empty negative_prompt", "text2video", {"prompt": "a", "negative_prompt": ""}),
]


@pytest.mark.parametrize(("route", "body"), [c[1:] for c in LET_PASS], ids=[c[0] for c in LET_PASS])
async def test_what_kling_lets_pass_passes_by_default_and_not_under_strict(
    raw: Raw, strict: Raw, route: str, body: dict[str, Any]
) -> None:
    status, answer = await raw.post(route, body)
    assert (status, answer["code"]) == (200, 0), answer
    status, answer = await strict.post(route, body)
    assert (status, answer["code"]) == (400, 1201), answer


async def test_an_empty_external_id_takes_no_id(raw: Raw) -> None:
    for _ in range(2):  # two tasks: "" is no id at all, not one id used twice
        status, answer = await raw.post("video", {**VIDEO, "external_task_id": ""})
        assert status == 200 and answer["data"]["task_info"] == {}
    assert not raw.sim.creates and not raw.sim.store.by_external


async def test_a_mode_4k_is_kling_v3s_only(raw: Raw) -> None:
    body = {**VIDEO, "model_name": "kling-v2-6", "mode": "4k"}
    status, answer = await raw.post("video", body)
    assert (status, answer["code"]) == (400, 1201) and "mode" in answer["message"]


@pytest.mark.parametrize(("route", "body"), [c[1:] for c in CURRENT], ids=[c[0] for c in CURRENT])
async def test_what_current_kling_accepts_passes_strict_or_not(
    raw: Raw, strict: Raw, route: str, body: dict[str, Any]
) -> None:
    for client in (raw, strict):
        status, answer = await client.post(route, body)
        assert (status, answer["code"]) == (200, 0), answer


async def test_the_simulator_command_runs_strict_and_signs_when_asked() -> None:
    """``kbatch simulator --strict --sign-callbacks`` in its own process, the secret from the
    environment (never from the command line)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "KLING_WEBHOOK_SECRET": "whsec_c2VjcmV0"}
    command = [sys.executable, "-m", "kbatch", "simulator", "--port", "0"]
    process = await asyncio.create_subprocess_exec(
        *command, "--strict", "--sign-callbacks", stdout=asyncio.subprocess.PIPE, env=env
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        headers = {"Authorization": "Bearer x"}
        async with aiohttp.ClientSession(headers=headers) as session:
            body = {**VIDEO, "callback_url": ""}
            async with session.post(f"{url}/v1/videos/image2video", json=body) as response:
                assert response.status == 400
            body = {"prompt": "a cat"}
            async with session.post(f"{url}/text-to-video/kling-3.0", json=body) as response:
                assert response.status == 200
    finally:
        process.terminate()
        await process.wait()
    del env["KLING_WEBHOOK_SECRET"]
    process = await asyncio.create_subprocess_exec(
        *command, "--sign-callbacks", stderr=asyncio.subprocess.PIPE, env=env
    )
    _, err = await process.communicate()
    assert process.returncode == 2 and b"KLING_WEBHOOK_SECRET" in err
