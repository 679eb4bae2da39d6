"""Every request example on Kling's pages for the building blocks (elements, voices, TTS, text
to audio, video to audio, avatar, face identification, lip-sync, AI Multi-Shot), replayed against
the default simulator: each is accepted and answered in the page's documented shape.

The examples are data (``blocks/*.json``: the page, its section, the route, the body), with URLs
off this machine replaced by files a test serves on loopback, and ids only Kling's own account
made replaced by ones the simulator made first (``{voice}``: a custom voice, ``{session}``: a
face session, ``{task}``: a task of the route); ``replaced`` says what was replaced, and ``note``
where a page's body is a template rather than JSON. Everything else is as the page wrote it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kbatch.simulator import ManualClock, audio
from kbatch.simulator.blockrules import video_info
from tests.simulator.conftest import Files, Raw, resolve

EXAMPLES = Path(__file__).parent / "blocks"
CASES = {path.stem: json.loads(path.read_text("utf-8")) for path in EXAMPLES.glob("*.json")}
CREATED = {"task_id", "task_status", "task_info", "created_at", "updated_at"}
TASK = CREATED | {"task_status_msg", "task_result", "final_unit_deduction"}
VIDEO = {"id", "url", "watermark_url", "duration"}
SOUND = {"id", "url_mp3", "url_wav", "duration_mp3", "duration_wav"}
VOICE = {"voice_id", "voice_name", "trial_url", "owned_by"}
ELEMENT = {"element_id", "element_name", "element_description", "reference_type"}
ELEMENT |= {"element_image_list", "element_video_list", "element_voice_info", "tag_list"}
ELEMENT |= {"owned_by", "status"}
#: ``task_result`` of each route's finished task: each list's items and their keys.
RESULTS: dict[str, dict[str, set[str]]] = {
    "general/custom-voices": {"voices": VOICE},
    "general/advanced-custom-elements": {"elements": ELEMENT},
    "audio/text-to-audio": {"audios": SOUND},
    "audio/video-to-audio": {"videos": {"id", "url", "duration"}, "audios": SOUND},
    "videos/avatar/image2video": {"videos": VIDEO},
    "videos/advanced-lip-sync": {"videos": VIDEO},
    "general/ai-multi-shot": {"images": {"index", "url_1", "url_2", "url_3"}},
}
#: The least a create of each route takes (for the query examples' ``{task}``).
MINIMAL: dict[str, dict[str, Any]] = {
    "general/custom-voices": {"voice_name": "v", "voice_url": "{files}/audio6.wav"},
    "audio/text-to-audio": {"prompt": "rain", "duration": 3.5},
    "audio/video-to-audio": {"video_url": "{files}/video4.mp4"},
    "videos/avatar/image2video": {"image": "{files}/ok.png", "sound_file": "{files}/audio3.wav"},
    "general/ai-multi-shot": {"element_frontal_image": "{files}/ok.jpg"},
}


class Maker:
    """Makes what an example refers to, on the simulator under test."""

    def __init__(self, raw: Raw, files: Files, clock: ManualClock) -> None:
        self.raw, self.files, self.clock = raw, files, clock

    async def create(self, route: str, body: dict[str, Any]) -> str:
        status, answer = await self.raw.post(route, resolve(body, self.files))
        assert (status, answer["code"]) == (200, 0), answer
        return str(answer["data"].get("task_id") or answer["data"]["session_id"])

    async def finished(self, route: str, task_id: str) -> dict[str, Any]:
        self.clock.advance(11)
        status, answer = await self.raw.get(f"{route}/{task_id}")
        assert (status, answer["data"]["task_status"]) == (200, "succeed"), answer
        return dict(answer["data"])

    async def voice(self) -> str:
        route = "/v1/general/custom-voices"
        task = await self.finished(route, await self.create(route, MINIMAL[route[4:]]))
        return str(task["task_result"]["voices"][0]["voice_id"])

    async def session(self) -> str:
        body = {"video_url": "{files}/video5-1280x720.mp4"}
        return await self.create("/v1/videos/identify-face", body)

    async def task(self, route: str) -> str:
        base = route.rsplit("/", 1)[0]
        if base.endswith("advanced-lip-sync"):
            task_id = await self.create(base, _lip_sync(await self.session()))
        else:
            task_id = await self.create(base, MINIMAL[base[4:]])
        self.clock.advance(11)
        return task_id

    async def fill(self, example: dict[str, Any]) -> tuple[str, Any]:
        text = json.dumps({"route": example["route"], "body": example.get("body")})
        for name, make in (("voice", self.voice), ("session", self.session)):
            if "{" + name + "}" in text:
                text = text.replace("{" + name + "}", await make())
        if "{task}" in text:
            text = text.replace("{task}", await self.task(example["route"]))
        elif example["method"] == "GET" and "presets" not in example["route"]:
            await self.task(example["route"] + "/-")  # a list shows one task
        filled = json.loads(text)
        return filled["route"], resolve(filled["body"], self.files)


def _lip_sync(session: str) -> dict[str, Any]:
    face = {"face_id": "0", "sound_file": "{files}/audio3.wav", "sound_insert_time": 0}
    face |= {"sound_start_time": 0, "sound_end_time": 2500}
    return {"session_id": session, "face_choose": [face]}


def test_each_example_names_its_page_and_route() -> None:
    assert len(CASES) >= 25
    for example in CASES.values():
        assert example["page"].startswith("aself101/kling-api docs/api/kling-")
        assert example["method"] in ("GET", "POST") and example["route"].startswith("/v1/")


def assert_task(route: str, task: dict[str, Any]) -> None:
    """A finished task as the page shows it, its result's lists in the route's shape."""
    assert set(task) >= TASK, (route, set(task))
    for name, keys in RESULTS[route].items():
        assert keys <= set(task["task_result"][name][0]), (route, name)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_kling_accepts_its_own_example(
    raw: Raw, files: Files, clock: ManualClock, name: str
) -> None:
    example: dict[str, Any] = CASES[name]
    route, body = await Maker(raw, files, clock).fill(example)
    if example["method"] == "GET":
        query = example.get("query")
        status, answer = await raw.get(f"{route}?{query}" if query else route)
    else:
        status, answer = await raw.post(route, body)
    assert (status, answer["code"]) == (200, 0), (example["page"], answer)
    data, served = answer["data"], route[4:]
    if served in ("audio/tts",):
        assert {"id", "url", "duration"} <= set(data["task_result"]["audios"][0])
    elif served == "videos/identify-face":
        assert {"session_id", "final_unit_deduction", "face_data"} <= set(data)
        assert set(data["face_data"][0]) == {"face_id", "face_image", "start_time", "end_time"}
    elif served.startswith(("general/delete-",)):
        assert set(data) == {"task_id", "task_status"}
    elif served == "general/presets-voices":
        assert data and all(set(item["task_result"]["voices"][0]) >= VOICE for item in data)
    elif example["method"] == "POST":
        assert set(data) == CREATED and data["task_status"] == "submitted"
        clock.advance(11)
        status, answer = await raw.get(f"{route}/{data['task_id']}")
        assert_task(served, answer["data"])
    elif isinstance(data, list):
        assert data, name  # the test made one before listing (or the example did)
        assert all(TASK - {"final_unit_deduction"} <= set(item) for item in data)
    else:
        assert_task(served.rsplit("/", 1)[0], data)


async def test_made_files_are_real_sound_and_video(
    raw: Raw, files: Files, clock: ManualClock
) -> None:
    """The sound a text-to-audio task makes is a real MP3 and WAV of the asked length; a
    video-to-audio task's video is a real MP4."""
    maker = Maker(raw, files, clock)
    sound = await maker.create("/v1/audio/text-to-audio", {"prompt": "rain", "duration": 4.5})
    task = await maker.finished("/v1/audio/text-to-audio", sound)
    item = task["task_result"]["audios"][0]
    for key in ("url_mp3", "url_wav"):
        status, data = await raw.get(item[key].removeprefix(raw.sim.url))
        assert status == 200 and audio.audio_seconds(data) == pytest.approx(4.5, abs=0.03)
        assert audio.audio_format(data) == key[-3:]
    assert item["duration_mp3"] == "4.5"
    made = await maker.create("/v1/audio/video-to-audio", {"video_url": "{files}/video4.mp4"})
    task = await maker.finished("/v1/audio/video-to-audio", made)
    status, data = await raw.get(task["task_result"]["videos"][0]["url"].removeprefix(raw.sim.url))
    assert status == 200 and video_info(data)[0] == pytest.approx(4, abs=0.2)
    assert task["task_info"]["parent_video"]["duration"] == "4"
