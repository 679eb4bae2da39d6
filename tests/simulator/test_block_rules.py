"""The building blocks' checks as the vendor's pages state them: text limits, durations, one of
two fields, lip-sync's audio window, tags and voices, each refused with Kling's 400/1201 and a
message naming the field."""

from __future__ import annotations

from base64 import b64encode
from typing import Any

import aiohttp
import pytest

from kbatch.simulator import ManualClock, SimulatorConfig, audio, running
from tests.simulator.conftest import Files, Raw, resolve

TTS = {"text": "hello there", "voice_id": "oversea_male1"}
AVATAR = {"image": "{files}/ok.png", "sound_file": "{files}/audio3.wav"}
IMAGES = {"frontal_image": "{files}/ok.png", "refer_images": [{"image_url": "{files}/ok.jpg"}]}
ELEMENT: dict[str, Any] = {"element_name": "hero", "element_description": "a hero"}
ELEMENT |= {"reference_type": "image_refer", "element_image_list": IMAGES}


async def refused(raw: Raw, files: Files, route: str, body: dict[str, Any]) -> str:
    status, answer = await raw.post(route, resolve(body, files))
    assert (status, answer["code"]) == (400, 1201), answer
    return str(answer["message"])


async def accepted(raw: Raw, files: Files, route: str, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = await raw.post(route, resolve(body, files))
    assert (status, answer["code"]) == (200, 0), answer
    return dict(answer["data"])


@pytest.mark.parametrize(
    ("route", "body", "field", "limit"),
    [
        ("/v1/audio/tts", TTS | {"text": "a" * 1001}, "text", 1000),
        ("/v1/audio/text-to-audio", {"prompt": "a" * 201, "duration": 3}, "prompt", 200),
        (
            "/v1/audio/video-to-audio",
            {"video_url": "{files}/video4.mp4", "bgm_prompt": "b" * 201},
            "bgm_prompt",
            200,
        ),
        (
            "/v1/general/advanced-custom-elements",
            ELEMENT | {"element_name": "n" * 21},
            "element_name",
            20,
        ),
        (
            "/v1/general/advanced-custom-elements",
            ELEMENT | {"element_description": "d" * 101},
            "element_description",
            100,
        ),
        (
            "/v1/general/custom-voices",
            {"voice_name": "v" * 21, "voice_url": "{files}/audio6.wav"},
            "voice_name",
            20,
        ),
        ("/v1/videos/avatar/image2video", AVATAR | {"prompt": "p" * 2501}, "prompt", 2500),
    ],
)
async def test_text_limits(
    raw: Raw, files: Files, route: str, body: dict[str, Any], field: str, limit: int
) -> None:
    message = await refused(raw, files, route, body)
    assert f"Invalid parameter {field}:" in message
    assert f"at most {limit}" in message


@pytest.mark.parametrize(
    ("route", "body", "field", "fragment"),
    [
        ("/v1/audio/text-to-audio", {"prompt": "p", "duration": 2.9}, "duration", "3 and 10"),
        ("/v1/audio/text-to-audio", {"prompt": "p", "duration": 10.1}, "duration", "3 and 10"),
        ("/v1/audio/text-to-audio", {"prompt": "p", "duration": "5"}, "duration", "a number"),
        ("/v1/audio/video-to-audio", {"video_url": "{files}/video2.mp4"}, "video_url", "3 to 20"),
        (
            "/v1/general/custom-voices",
            {"voice_name": "v", "voice_url": "{files}/audio4.wav"},
            "voice_url",
            "5 to 30",
        ),
        (
            "/v1/general/custom-voices",
            {"voice_name": "v", "voice_url": "{files}/audio31.mp3"},
            "voice_url",
            "5 to 30",
        ),
        (
            "/v1/videos/avatar/image2video",
            AVATAR | {"sound_file": "{files}/audio1.5.mp3"},
            "sound_file",
            "2 to 300",
        ),
        (
            "/v1/videos/identify-face",
            {"video_url": "{files}/video5-640x360.mp4"},
            "video_url",
            "512 to 2160",
        ),
        (
            "/v1/general/advanced-custom-elements",
            ELEMENT
            | {
                "reference_type": "video_refer",
                "element_video_list": {
                    "refer_videos": [{"video_url": "{files}/video5-1280x720.mp4"}]
                },
            },
            "element_video_list.refer_videos[0].video_url",
            "1080p",
        ),
        (
            "/v1/general/advanced-custom-elements",
            ELEMENT | {"tag_list": [{"tag_id": "o_109"}]},
            "tag_list",
            "o_108",
        ),
        ("/v1/videos/avatar/image2video", AVATAR | {"mode": "4k"}, "mode", "std or pro"),
        ("/v1/audio/tts", TTS | {"voice_language": "fr"}, "voice_language", "zh or en"),
    ],
)
async def test_values_out_of_range(
    raw: Raw, files: Files, route: str, body: dict[str, Any], field: str, fragment: str
) -> None:
    message = await refused(raw, files, route, body)
    assert f"Invalid parameter {field}:" in message and fragment in message, message


async def test_a_duration_within_range_and_a_speed_brought_into_it(raw: Raw, files: Files) -> None:
    """10.0 s is the longest sound effect; a TTS speed out of [0.8, 2] is brought into it,
    as the page says, not refused."""
    await accepted(raw, files, "/v1/audio/text-to-audio", {"prompt": "p", "duration": 10.0})
    data = await accepted(raw, files, "/v1/audio/tts", TTS | {"voice_speed": 3})
    assert data["task_status"] == "succeed"


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/v1/audio/video-to-audio", {}, "video_id"),
        (
            "/v1/audio/video-to-audio",
            {"video_id": "1-v0", "video_url": "{files}/video4.mp4"},
            "video_id",
        ),
        ("/v1/general/custom-voices", {"voice_name": "v"}, "voice_url"),
        (
            "/v1/general/custom-voices",
            {"voice_name": "v", "voice_url": "{files}/audio6.wav", "video_id": "1-v0"},
            "voice_url",
        ),
        ("/v1/videos/avatar/image2video", AVATAR | {"audio_id": "1-a0"}, "audio_id"),
        ("/v1/videos/avatar/image2video", {"image": "{files}/ok.png"}, "audio_id"),
        ("/v1/videos/identify-face", {"video_id": ""}, "video_id"),
    ],
)
async def test_exactly_one_of_two(
    raw: Raw, files: Files, route: str, body: dict[str, Any], field: str
) -> None:
    message = await refused(raw, files, route, body)
    assert f"Invalid parameter {field}: give exactly one of" in message, message


async def session(raw: Raw, files: Files, seconds: int = 5) -> str:
    body = {"video_url": f"{{files}}/video{seconds}-1280x720.mp4"}
    data = await accepted(raw, files, "/v1/videos/identify-face", body)
    return str(data["session_id"])


FACE: dict[str, Any] = {
    "face_id": "0",
    "sound_file": "{files}/audio4.mp3",
    "sound_insert_time": 1000,
}
FACE |= {"sound_start_time": 0, "sound_end_time": 3000}


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"sound_end_time": 4500}, "sound_end_time", "after the sound's end"),
        ({"sound_start_time": 1500}, "sound_end_time", "at least 2 s"),
        ({"sound_insert_time": 3500}, "sound_insert_time", "after the video's end"),
        ({"sound_insert_time": -1}, "sound_insert_time", "must not be negative"),
        ({"sound_insert_time": None}, "sound_insert_time", "is required"),
        ({"face_id": "1", "sound_insert_time": 0}, "sound_insert_time", "overlaps face 1"),
        ({"face_id": "7"}, "face_id", "no face '7'"),
        ({"sound_volume": 2.5}, "sound_volume", "between 0 and 2"),
        ({"sound_file": "{files}/audio61.mp3"}, "sound_file", "2 to 60"),
        ({"audio_id": "5-a0"}, "audio_id", "exactly one"),
    ],
)
async def test_lip_sync_window(
    raw: Raw, files: Files, change: dict[str, Any], field: str, fragment: str
) -> None:
    """The window rules of kling-lip-sync.md, on a 6 s video: face 0 all along, face 1 from 3 s;
    a 4 s sound."""
    face = {name: value for name, value in (FACE | change).items() if value is not None}
    body = {"session_id": await session(raw, files, 6), "face_choose": [face]}
    message = await refused(raw, files, "/v1/videos/advanced-lip-sync", body)
    assert f"Invalid parameter face_choose[0].{field}:" in message and fragment in message, message


async def test_lip_sync_one_face_and_a_known_session(raw: Raw, files: Files) -> None:
    made = await session(raw, files)
    two = {"session_id": made, "face_choose": [FACE, FACE]}
    assert "one person" in await refused(raw, files, "/v1/videos/advanced-lip-sync", two)
    unknown = {"session_id": "850508686686064678", "face_choose": [FACE]}
    message = await refused(raw, files, "/v1/videos/advanced-lip-sync", unknown)
    assert message.startswith("Invalid parameter session_id: unknown session")
    good = await accepted(raw, files, "/v1/videos/advanced-lip-sync", two | {"face_choose": [FACE]})
    assert good["task_status"] == "submitted"


async def test_local_video_is_refused_and_a_sound_is_read(raw: Raw, files: Files) -> None:
    """Videos are taken by URL only; a sound may come as raw base64 and is measured."""
    body = {"video_url": "videos/clip.mp4"}
    message = await refused(raw, files, "/v1/audio/video-to-audio", body)
    assert "by URL only" in message
    sound = b64encode(audio.mp3(1.0)).decode()
    message = await refused(
        raw, files, "/v1/videos/avatar/image2video", AVATAR | {"sound_file": sound}
    )
    assert "Invalid parameter sound_file: the sound lasts 1.0 s" in message
    text = b64encode(b"not a sound at all").decode()
    message = await refused(
        raw, files, "/v1/videos/avatar/image2video", AVATAR | {"sound_file": text}
    )
    assert "must be mp3/wav/m4a/aac" in message


async def test_strict_refuses_what_kling_ignores(clock: ManualClock, files: Files) -> None:
    """TTS has no external id: the default simulator ignores one, ``--strict`` refuses it."""
    config = SimulatorConfig(task_seconds=10, clock=clock, strict=True)
    async with running(config) as sim, aiohttp.ClientSession() as session:
        client = Raw(sim, session)
        body = TTS | {"external_task_id": "mine"}
        message = await refused(client, files, "/v1/audio/tts", body)
        assert message == "Invalid parameter external_task_id: unknown field"
        precise = {"prompt": "p", "duration": 3.25}
        assert "one decimal" in await refused(client, files, "/v1/audio/text-to-audio", precise)
