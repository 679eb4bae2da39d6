"""The building blocks' ids and lives: ids the simulator never made refused, ids older than 30
simulated days refused, answers given at once (TTS, face identification), prices from the
pricing pages, every fault kind, external ids unique on the account, deletions, presets, the
journal across simulators, and callbacks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from kbatch.simulator import Fault, ManualClock, Op, Simulator, SimulatorConfig, audio, running
from tests.simulator.conftest import B64, Files, Raw, resolve

DAY = 24 * 3600.0
TTS = {"text": "Hello, this is a line of speech for the avatar.", "voice_id": "oversea_male1"}
AVATAR = {"image": "{files}/ok.png", "sound_file": "{files}/audio6.wav"}
SOUND = {"prompt": "rain on a roof", "duration": 3}
IMAGE2VIDEO = {"image": B64, "duration": "5"}
WITH_SOUND = IMAGE2VIDEO | {"model_name": "kling-v2-6", "mode": "pro", "sound": "on"}


class Account:
    """Requests to the simulator under test, with its clock."""

    def __init__(self, raw: Raw, files: Files, clock: ManualClock) -> None:
        self.raw, self.files, self.clock = raw, files, clock

    async def post(self, route: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return await self.raw.post(route, resolve(body, self.files))

    async def ok(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        status, answer = await self.post(route, body)
        assert (status, answer["code"]) == (200, 0), answer
        return dict(answer["data"])

    async def refused(self, route: str, body: dict[str, Any]) -> str:
        status, answer = await self.post(route, body)
        assert (status, answer["code"]) == (400, 1201), answer
        return str(answer["message"])

    async def done(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create, let the task finish, and return it as its query shows it."""
        task_id = (await self.ok(route, body))["task_id"]
        self.clock.advance(11)
        status, answer = await self.raw.get(f"{route}/{task_id}")
        assert status == 200 and answer["data"]["task_status"] in ("succeed", "failed"), answer
        return dict(answer["data"])

    async def video(self, body: dict[str, Any] = IMAGE2VIDEO) -> str:
        task = await self.done("/v1/videos/image2video", body)
        return str(task["task_result"]["videos"][0]["id"])

    async def voice(self) -> str:
        body = {"voice_name": "narrator", "voice_url": "{files}/audio8.mp3"}
        task = await self.done("/v1/general/custom-voices", body)
        return str(task["task_result"]["voices"][0]["voice_id"])


@pytest.fixture
def account(raw: Raw, files: Files, clock: ManualClock) -> Account:
    return Account(raw, files, clock)


@pytest.mark.parametrize(
    ("route", "body", "fragment"),
    [
        ("/v1/audio/tts", TTS | {"voice_id": "nobody"}, "voice_id: unknown voice nobody"),
        (
            "/v1/videos/avatar/image2video",
            {"image": "{files}/ok.png", "audio_id": "8-a0"},
            "no audio",
        ),
        ("/v1/audio/video-to-audio", {"video_id": "860000000000000001-v0"}, "no video"),
        ("/v1/videos/identify-face", {"video_id": "86-v0"}, "video_id: no video 86-v0"),
        ("/v1/general/custom-voices", {"voice_name": "v", "video_id": "1-v0"}, "no video"),
        (
            "/v1/general/advanced-custom-elements",
            {
                "element_name": "e",
                "element_description": "d",
                "reference_type": "image_refer",
                "element_image_list": {
                    "frontal_image": "{files}/ok.png",
                    "refer_images": [{"image_url": "{files}/ok.png"}],
                },
                "element_voice_id": "850087542757535834",
            },
            "element_voice_id: unknown voice",
        ),
    ],
)
async def test_ids_never_made_are_refused(
    account: Account, route: str, body: dict[str, Any], fragment: str
) -> None:
    assert fragment in await account.refused(route, body)


async def test_unknown_tasks_are_not_found(account: Account) -> None:
    for route in ("/v1/audio/text-to-audio/123", "/v1/general/custom-voices/by-external"):
        status, answer = await account.raw.get(route)
        assert (status, answer["code"]) == (404, 1203)


async def test_ids_older_than_30_days_are_refused(account: Account) -> None:
    speech = await account.ok("/v1/audio/tts", TTS)
    audio_id = speech["task_result"]["audios"][0]["id"]
    video_id = await account.video()
    face = await account.ok("/v1/videos/identify-face", {"video_id": video_id})
    assert len(face["face_data"]) == 1 and face["face_data"][0]["end_time"] == 5000
    with_audio = {"image": "{files}/ok.png", "audio_id": audio_id}
    await account.ok("/v1/videos/avatar/image2video", with_audio)
    await account.ok("/v1/audio/video-to-audio", {"video_id": video_id})
    account.clock.advance(31 * DAY)
    for route, body in [
        ("/v1/videos/avatar/image2video", with_audio),
        ("/v1/audio/video-to-audio", {"video_id": video_id}),
    ]:
        assert "is older than 30 days" in await account.refused(route, body)
    face_choose = [{"face_id": "0", "audio_id": audio_id, "sound_start_time": 0}]
    body = {"session_id": face["session_id"], "face_choose": face_choose}
    message = await account.refused("/v1/videos/advanced-lip-sync", body)
    assert message.startswith("Invalid parameter session_id: session") and "30 days" in message


async def test_a_voice_from_a_made_video(account: Account) -> None:
    """Only a 2.6 video with sound, an avatar or a lip-sync can be a voice's source."""
    silent = await account.video()
    message = await account.refused(
        "/v1/general/custom-voices", {"voice_name": "v", "video_id": silent}
    )
    assert "only a kling-v2-6 video with sound on, an avatar or a lip-sync video" in message
    for video_id in (await account.video(WITH_SOUND), await _avatar_video(account)):
        task = await account.done(
            "/v1/general/custom-voices", {"voice_name": "v", "video_id": video_id}
        )
        assert task["task_result"]["voices"][0]["voice_id"]


async def _avatar_video(account: Account) -> str:
    task = await account.done("/v1/videos/avatar/image2video", AVATAR)
    assert task["task_result"]["videos"][0]["duration"] == "6"
    return str(task["task_result"]["videos"][0]["id"])


async def test_speech_is_answered_at_once_and_has_no_query(account: Account) -> None:
    data = await account.ok("/v1/audio/tts", TTS | {"voice_speed": 1.5})
    assert data["task_status"] == "succeed" and data["final_unit_deduction"] == "0.05"
    assert "task_info" not in data
    sound = data["task_result"]["audios"][0]
    status, body = await account.raw.get(sound["url"].removeprefix(account.raw.sim.url))
    assert status == 200 and audio.audio_format(body) == "mp3"
    assert audio.audio_seconds(body) == pytest.approx(float(sound["duration"]), abs=0.03)
    status, _ = await account.raw.get(f"/v1/audio/tts/{data['task_id']}")
    assert status in (404, 405)


@pytest.mark.parametrize(
    ("route", "body", "units"),
    [
        ("/v1/audio/text-to-audio", SOUND, "0.25"),
        ("/v1/audio/video-to-audio", {"video_url": "{files}/video4.mp4"}, "0.25"),
        ("/v1/videos/avatar/image2video", AVATAR, "2.4"),
        ("/v1/videos/avatar/image2video", AVATAR | {"mode": "pro"}, "4.8"),
        (
            "/v1/general/custom-voices",
            {"voice_name": "v", "voice_url": "{files}/audio5.wav"},
            "0.05",
        ),
        ("/v1/general/ai-multi-shot", {"element_frontal_image": "{files}/ok.png"}, "20"),
        ("/v1/audio/text-to-audio", SOUND | {"prompt": "sim:fail"}, "0"),
    ],
)
async def test_prices_of_the_pricing_pages(
    account: Account, route: str, body: dict[str, Any], units: str
) -> None:
    assert (await account.done(route, body))["final_unit_deduction"] == units


@pytest.mark.parametrize(("seconds", "units"), [(5, "0.5"), (6, "1"), (10, "1")])
async def test_lip_sync_is_priced_per_5_s_of_video(
    account: Account, seconds: int, units: str
) -> None:
    face = await account.ok(
        "/v1/videos/identify-face", {"video_url": f"{{files}}/video{seconds}-1280x720.mp4"}
    )
    assert face["final_unit_deduction"] == "0.05"
    chosen = {"face_id": "0", "sound_file": "{files}/audio3.wav", "sound_insert_time": 0}
    chosen |= {"sound_start_time": 0, "sound_end_time": 3000}
    body = {"session_id": face["session_id"], "face_choose": [chosen]}
    task = await account.done("/v1/videos/advanced-lip-sync", body)
    assert task["final_unit_deduction"] == units
    assert task["task_info"]["parent_video"]["duration"] == str(seconds)


async def test_every_fault_kind_applies(account: Account, sim: Simulator) -> None:
    sim.faults.script(Op.CREATE, Fault.TIMEOUT_AFTER_CREATE)
    status, answer = await account.post("/v1/audio/tts", TTS)
    assert (status, answer["code"]) == (504, 5002)
    assert [t.block.value for t in sim.blocks.made.tasks.values()] == ["tts"]  # made, answer lost
    sim.faults.script(Op.CREATE, Fault.RESET_AFTER)
    with pytest.raises(aiohttp.ClientError):
        await account.post("/v1/audio/text-to-audio", SOUND | {"external_task_id": "kb-1"})
    status, answer = await account.raw.get("/v1/audio/text-to-audio/kb-1")  # looked up
    assert status == 200 and answer["data"]["task_info"]["external_task_id"] == "kb-1"
    assert sim.creates["kb-1"] == 1
    sim.faults.script(Op.CREATE, 1303)
    status, answer = await account.post("/v1/audio/text-to-audio", SOUND)
    assert (status, answer["code"]) == (429, 1303)
    sim.faults.script(Op.LIST, Fault.HTML)
    status, _ = await account.raw.get("/v1/audio/text-to-audio?pageNum=1&pageSize=30")
    assert status == 502
    account.clock.advance(11)
    url = answer_url = (await account.raw.get("/v1/audio/text-to-audio/kb-1"))[1]["data"]
    path = url["task_result"]["audios"][0]["url_wav"].removeprefix(sim.url)
    sim.faults.script(Op.DOWNLOAD, Fault.TRUNCATE)
    with pytest.raises(aiohttp.ClientError):
        await account.raw.get(path)
    status, data = await account.raw.get(path)
    assert status == 200 and audio.audio_seconds(data) == 3.0 and answer_url


async def test_external_ids_are_unique_on_the_account(account: Account) -> None:
    await account.ok("/v1/audio/text-to-audio", SOUND | {"external_task_id": "kb-x"})
    body = IMAGE2VIDEO | {"external_task_id": "kb-x"}
    assert "already used" in await account.refused("/v1/videos/image2video", body)
    assert "already used" in await account.refused(
        "/v1/videos/avatar/image2video", AVATAR | {"external_task_id": "kb-x"}
    )
    await account.ok("/v1/videos/image2video", IMAGE2VIDEO | {"external_task_id": "kb-y"})
    message = await account.refused("/v1/audio/text-to-audio", SOUND | {"external_task_id": "kb-y"})
    assert message.startswith("Invalid parameter external_task_id: already used by task")


async def test_deleted_voices_and_elements(account: Account) -> None:
    voice_id = await account.voice()
    await account.ok("/v1/audio/tts", TTS | {"voice_id": voice_id})
    images = {"frontal_image": "{files}/ok.png", "refer_images": [{"image_url": "{files}/ok.jpg"}]}
    element: dict[str, Any] = {"element_name": "hero", "element_description": "a hero"}
    element |= {"reference_type": "image_refer", "element_image_list": images}
    task = await account.done(
        "/v1/general/advanced-custom-elements", element | {"element_voice_id": voice_id}
    )
    made = task["task_result"]["elements"][0]
    assert made["element_voice_info"]["voice_id"] == voice_id and made["status"] == "succeed"
    deleted = await account.ok("/v1/general/delete-voices", {"voice_id": voice_id})
    assert deleted["task_status"] == "succeed"
    assert "was deleted" in await account.refused("/v1/audio/tts", TTS | {"voice_id": voice_id})
    assert "no custom voice" in await account.refused(
        "/v1/general/delete-voices", {"voice_id": "oversea_male1"}
    )
    await account.ok("/v1/general/delete-elements", {"element_id": str(made["element_id"])})
    _, answer = await account.raw.get(f"/v1/general/advanced-custom-elements/{task['task_id']}")
    assert answer["data"]["task_result"]["elements"][0]["status"] == "deleted"
    message = await account.refused(
        "/v1/general/delete-advanced-elements", {"element_id": made["element_id"]}
    )
    assert message.startswith("Invalid parameter element_id: no custom element")


async def test_a_video_element_makes_its_voice(account: Account) -> None:
    """A video element's speech becomes a voice bound to it, usable for speech."""
    body: dict[str, Any] = {"element_name": "host", "element_description": "a presenter"}
    body |= {"reference_type": "video_refer"}
    body |= {
        "element_video_list": {"refer_videos": [{"video_url": "{files}/video5-1080x1920.mp4"}]}
    }
    task = await account.done("/v1/general/advanced-custom-elements", body)
    info = task["task_result"]["elements"][0]["element_voice_info"]
    assert info["voice_name"] == "host" and info["trial_url"].endswith("/trial.mp3")
    await account.ok("/v1/audio/tts", TTS | {"voice_id": info["voice_id"]})


async def test_presets(account: Account) -> None:
    status, answer = await account.raw.get("/v1/general/advanced-presets-elements?pageSize=2")
    assert status == 200 and len(answer["data"]) == 2
    element = answer["data"][0]["task_result"]["elements"][0]
    assert element["owned_by"] == "kling" and isinstance(element["element_id"], int)
    status, answer = await account.raw.get("/v1/general/presets-voices?pageSize=1000")
    voice = answer["data"][0]["task_result"]["voices"][0]
    assert voice["voice_id"] == "oversea_male1" and voice["owned_by"] == "kling"
    status, body = await account.raw.get(voice["trial_url"].removeprefix(account.raw.sim.url))
    assert status == 200 and audio.audio_format(body) == "mp3"
    status, answer = await account.raw.get("/v1/general/presets-voices?pageSize=1001")
    assert (status, answer["code"]) == (400, 1201)


async def test_a_new_simulator_knows_the_tasks_of_the_last(
    tmp_path: Path, clock: ManualClock, files: Files
) -> None:
    config = SimulatorConfig(task_seconds=10, clock=clock, tasks_file=tmp_path / "tasks.jsonl")
    async with running(config) as first, aiohttp.ClientSession() as session:
        earlier = Account(Raw(first, session), files, clock)
        voice_id = await earlier.voice()
        await earlier.ok("/v1/audio/text-to-audio", SOUND | {"external_task_id": "kb-j"})
    async with running(config) as second, aiohttp.ClientSession() as session:
        later = Account(Raw(second, session), files, clock)
        clock.advance(11)  # tasks read back go on by the wall clock, which the test's stood
        status, answer = await later.raw.get("/v1/audio/text-to-audio/kb-j")
        assert status == 200 and answer["data"]["task_info"]["external_task_id"] == "kb-j"
        await later.ok("/v1/audio/tts", TTS | {"voice_id": voice_id})
        assert "already used" in await later.refused(
            "/v1/audio/text-to-audio", SOUND | {"external_task_id": "kb-j"}
        )


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]], asyncio.Event]]:
    got: list[dict[str, Any]] = []
    ended = asyncio.Event()

    async def take(request: web.Request) -> web.Response:
        got.append(await request.json())
        if got[-1]["task_status"] in ("succeed", "failed"):
            ended.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", take)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/hook", got, ended
    finally:
        await runner.cleanup()


async def test_callbacks_of_a_block_task(
    account: Account, receiver: tuple[str, list[dict[str, Any]], asyncio.Event]
) -> None:
    url, got, ended = receiver
    await account.ok("/v1/audio/text-to-audio", SOUND | {"callback_url": url})
    account.clock.advance(11)
    await asyncio.wait_for(ended.wait(), 10)
    assert got[-1]["task_result"]["audios"][0]["url_mp3"].endswith("/0.mp3")
    assert got[-1]["final_unit_deduction"] == "0.25"


async def test_block_tasks_hold_their_packs_slots(clock: ManualClock, files: Files) -> None:
    """An unfinished block task holds one slot of its pack, shared with the other kinds';
    speech, answered at once, holds none."""
    config = SimulatorConfig(task_seconds=10, clock=clock, parallel_limit=1)
    async with running(config) as sim, aiohttp.ClientSession() as session:
        account = Account(Raw(sim, session), files, clock)
        await account.ok("/v1/audio/text-to-audio", SOUND)
        full: list[tuple[str, dict[str, Any]]] = [
            ("/v1/videos/image2video", IMAGE2VIDEO),
            ("/v1/audio/text-to-audio", SOUND),
        ]
        for route, body in full:
            status, answer = await account.post(route, body)
            assert (status, answer["code"]) == (429, 1303)
        await account.ok("/v1/audio/tts", TTS)
        await account.ok("/v1/general/ai-multi-shot", {"element_frontal_image": "{files}/ok.png"})
        clock.advance(11)
        await account.ok("/v1/videos/image2video", IMAGE2VIDEO)
