"""The new path-addressed API refuses what Kling's pages say it refuses, one rule family at a
time, with 400 / code 1201 and a message that names the field; what they allow passes."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.conftest import IMAGES
from tests.simulator.conftest import FIRST, LAST, MINIMAL, PROMPT, Files, Raw, resolve

T2V_TURBO, I2V_TURBO = "text-to-video/kling-3.0-turbo", "image-to-video/kling-3.0-turbo"
T2V_30, I2V_30 = "text-to-video/kling-3.0", "image-to-video/kling-3.0"
T2V_26, I2V_26 = "text-to-video/kling-2.6", "image-to-video/kling-2.6"
I2V_25 = "image-to-video/kling-2.5-turbo"
OMNI, O1 = "omni-video/kling-3.0-omni", "omni-video/kling-o1"
MOTION_30, MOTION_26 = "motion-control/kling-3.0", "motion-control/kling-2.6"
B64 = base64.b64encode((IMAGES / "ok.png").read_bytes()).decode()


def element(number: int) -> dict[str, str]:
    return {"type": "element", "element_id": f"{160 + number}", "id": f"element_{number}"}


def refer(number: int) -> dict[str, str]:
    return {"type": "refer_image", "url": "{files}/ok.png", "id": f"image_{number}"}


def voice(number: int) -> dict[str, str]:
    return {"type": "voice", "voice_id": f"89149544002066843{number}", "id": f"v{number}"}


def shots(*seconds: int, words: str = "a cat") -> str:
    return " ".join(f"shot {n}, {m}, {words};" for n, m in enumerate(seconds, start=1))


FEATURE = {"type": "feature_video", "url": "{files}/video5.mp4", "id": "video_1"}
BASE = {"type": "base_video", "url": "{files}/video5.mp4", "id": "video_2"}
IMAGE = {"type": "image", "url": "{files}/ok.png"}
VIDEO = {"type": "video", "url": "{files}/video5.mp4"}
VIDEO_12 = {"type": "video", "url": "{files}/video12.mp4"}
VIDEO_2 = {"type": "video", "url": "{files}/video2.mp4"}
FACING_VIDEO = {"character_orientation": "video"}

# (case, path, body, what the message must name)
REFUSED: list[tuple[str, str, dict[str, Any], str]] = [
    # prompts: 3072 characters on the 3.0 text-to-video paths and omni, 2500 elsewhere
    ("t2v without a prompt", T2V_TURBO, {"settings": {}}, "prompt"),
    ("a 3073-character prompt", T2V_TURBO, {"prompt": "a" * 3073}, "prompt"),
    ("2501 on turbo i2v", I2V_TURBO, {"contents": [{**PROMPT, "text": "a" * 2501}, FIRST]}, "text"),
    ("2501 on 2.6", T2V_26, {"prompt": "a" * 2501}, "prompt"),
    # content types per model
    ("a last frame on turbo", I2V_TURBO, {"contents": [PROMPT, FIRST, LAST]}, "type"),
    ("a voice on 3.0", I2V_30, {"contents": [PROMPT, FIRST, voice(1)]}, "type"),
    ("an element on 2.6 motion", MOTION_26, {"contents": [IMAGE, VIDEO, element(1)]}, "type"),
    ("no contents", I2V_30, {"settings": {}}, "contents"),
    ("a type that is not a string", I2V_30, {"contents": [{"type": ["prompt"]}]}, "type"),
    (
        "an element without its id",
        I2V_30,
        {"contents": [FIRST, {"type": "element", "element_id": "1"}]},
        "id",
    ),
    ("one id twice", OMNI, {"contents": [PROMPT, refer(1), refer(1)]}, "id"),
    # resolution, aspect ratio, duration, audio
    ("4k on turbo", T2V_TURBO, {"prompt": "a", "settings": {"resolution": "4k"}}, "resolution"),
    ("4:3", T2V_30, {"prompt": "a", "settings": {"aspect_ratio": "4:3"}}, "aspect_ratio"),
    ("16 s on 3.0", T2V_30, {"prompt": "a", "settings": {"duration": 16}}, "duration"),
    ("7 s on 2.6", T2V_26, {"prompt": "a", "settings": {"duration": 7}}, "duration"),
    ("a duration as a string", T2V_30, {"prompt": "a", "settings": {"duration": "5"}}, "duration"),
    ("11 s on o1", O1, {"contents": [PROMPT], "settings": {"duration": 11}}, "duration"),
    ("native audio on o1", O1, {"contents": [PROMPT], "settings": {"audio": "native"}}, "audio"),
    ("original audio on 3.0", T2V_30, {"prompt": "a", "settings": {"audio": "original"}}, "audio"),
    (
        "native audio at 720p on 2.6",
        T2V_26,
        {"prompt": "a", "settings": {"audio": "native"}},
        "resolution",
    ),
    ("first and last at 720p on 2.5", I2V_25, {"contents": [FIRST, LAST]}, "resolution"),
    (
        "multi_shot as a string",
        T2V_30,
        {"prompt": "a", "settings": {"multi_shot": "yes"}},
        "multi_shot",
    ),
    # first and last frames
    ("a last frame alone", I2V_30, {"contents": [PROMPT, LAST]}, "last_frame"),
    ("a last frame alone on omni", OMNI, {"contents": [PROMPT, LAST]}, "last_frame"),
    ("i2v without a first frame", I2V_26, {"contents": [PROMPT]}, "first_frame"),
    ("two first frames", I2V_30, {"contents": [FIRST, FIRST]}, "first_frame"),
    # multi-shot prompts
    (
        "seven shots",
        T2V_30,
        {"prompt": shots(1, 1, 1, 1, 1, 1, 1), "settings": {"duration": 7}},
        "prompt",
    ),
    ("a shot of 0 s", T2V_TURBO, {"prompt": shots(5, 0)}, "prompt"),
    ("shots that do not sum", T2V_TURBO, {"prompt": shots(2, 2)}, "prompt"),
    (
        "513 words in a shot",
        OMNI,
        {"contents": [{**PROMPT, "text": shots(5, words="a" * 513)}]},
        "prompt",
    ),
    # elements, voices, references
    ("four elements on 3.0", I2V_30, {"contents": [FIRST, *map(element, range(4))]}, "element"),
    (
        "two elements on motion",
        MOTION_30,
        {"contents": [IMAGE, VIDEO, element(1), element(2)], "settings": FACING_VIDEO},
        "element",
    ),
    (
        "three voices",
        I2V_26,
        {
            "contents": [FIRST, *map(voice, range(3))],
            "settings": {"audio": "native", "resolution": "1080p"},
        },
        "voice",
    ),
    (
        "a voice without audio",
        I2V_26,
        {"contents": [FIRST, voice(1)], "settings": {"resolution": "1080p"}},
        "voice",
    ),
    (
        "eight references",
        OMNI,
        {"contents": [PROMPT, *map(refer, range(4)), *map(element, range(4))]},
        "contents",
    ),
    (
        "five references with a video",
        OMNI,
        {"contents": [PROMPT, FEATURE, *map(refer, range(5))], "settings": {"audio": "off"}},
        "contents",
    ),
    (
        "4 elements with a first frame",
        OMNI,
        {"contents": [FIRST, *map(element, range(4))]},
        "element",
    ),
    # omni's videos
    ("two videos", OMNI, {"contents": [PROMPT, FEATURE, BASE]}, "contents"),
    (
        "a 2 s reference video",
        OMNI,
        {"contents": [PROMPT, {**FEATURE, "url": "{files}/video2.mp4"}]},
        "url",
    ),
    (
        "a 12 s reference video on o1",
        O1,
        {"contents": [PROMPT, {**BASE, "url": "{files}/video12.mp4"}]},
        "url",
    ),
    ("a base video with a first frame", OMNI, {"contents": [FIRST, BASE]}, "base_video"),
    (
        "a base video with native audio",
        OMNI,
        {"contents": [BASE], "settings": {"audio": "native"}},
        "base_video",
    ),
    (
        "a feature video with native audio",
        OMNI,
        {"contents": [FEATURE], "settings": {"audio": "native"}},
        "audio",
    ),
    ("o1: first and last with a reference", O1, {"contents": [FIRST, LAST, refer(1)]}, "contents"),
    (
        "o1: a bare first frame for 3 s",
        O1,
        {"contents": [FIRST], "settings": {"duration": 3}},
        "duration",
    ),
    (
        "o1: a feature video and a last frame",
        O1,
        {"contents": [FIRST, LAST, FEATURE]},
        "last_frame",
    ),
    # motion control
    ("no character_orientation", MOTION_30, {"contents": [IMAGE, VIDEO]}, "character_orientation"),
    ("no reference video", MOTION_30, {"contents": [IMAGE], "settings": FACING_VIDEO}, "video"),
    ("no image nor element", MOTION_26, {"contents": [VIDEO], "settings": FACING_VIDEO}, "image"),
    (
        "12 s facing the image",
        MOTION_30,
        {"contents": [IMAGE, VIDEO_12], "settings": {"character_orientation": "image"}},
        "url",
    ),
    ("a 2 s video", MOTION_26, {"contents": [IMAGE, VIDEO_2], "settings": FACING_VIDEO}, "url"),
    # images and videos
    (
        "an image off this machine",
        I2V_30,
        {"contents": [{**FIRST, "url": "https://example.com/a.png"}]},
        "url",
    ),
    (
        "an image that is not there",
        I2V_30,
        {"contents": [{**FIRST, "url": "{files}/gone.png"}]},
        "url",
    ),
    ("a small image", I2V_30, {"contents": [{**FIRST, "url": "{files}/small.png"}]}, "url"),
    ("a wide image", I2V_30, {"contents": [{**FIRST, "url": "{files}/wide.png"}]}, "url"),
    ("not base64", I2V_30, {"contents": [{**FIRST, "url": "not base64!"}]}, "url"),
    ("a video as base64", OMNI, {"contents": [{**FEATURE, "url": B64}]}, "url"),
    (
        "a video off this machine",
        OMNI,
        {"contents": [{**FEATURE, "url": "https://example.com/v.mp4"}]},
        "url",
    ),
    # options
    (
        "watermark_info not an object",
        T2V_30,
        {"prompt": "a", "options": {"watermark_info": True}},
        "watermark_info",
    ),
]

ACCEPTED: list[tuple[str, str, dict[str, Any]]] = [
    ("3072 characters on 3.0", T2V_30, {"prompt": "a" * 3072}),
    (
        "15 s at 4k with audio",
        T2V_30,
        {"prompt": "a", "settings": {"duration": 15, "resolution": "4k", "audio": "native"}},
    ),
    (
        "six shots summing to the duration",
        T2V_30,
        {"prompt": shots(1, 1, 1, 1, 1, 5), "settings": {"duration": 10}},
    ),
    (
        "shots not checked with multi_shot false",
        T2V_30,
        {"prompt": shots(2, 2), "settings": {"multi_shot": False}},
    ),
    (
        "first, last and three elements",
        I2V_30,
        {"contents": [PROMPT, FIRST, LAST, *map(element, range(3))]},
    ),
    ("a base64 first frame", I2V_30, {"contents": [{**FIRST, "url": B64}]}),
    (
        "two voices with native audio at 1080p",
        I2V_26,
        {
            "contents": [FIRST, voice(1), voice(2)],
            "settings": {"audio": "native", "resolution": "1080p"},
        },
    ),
    (
        "first and last at 1080p on 2.5",
        I2V_25,
        {"contents": [FIRST, LAST], "settings": {"resolution": "1080p"}},
    ),
    (
        "seven references",
        OMNI,
        {"contents": [PROMPT, *map(refer, range(4)), *map(element, range(3))]},
    ),
    ("a feature video", OMNI, {"contents": [PROMPT, FEATURE], "settings": {"multi_shot": True}}),
    (
        "a base video with its own sound",
        OMNI,
        {"contents": [PROMPT, BASE], "settings": {"audio": "original", "multi_shot": False}},
    ),
    (
        "o1: a first frame and a reference for 3 s",
        O1,
        {"contents": [FIRST, refer(1)], "settings": {"duration": 3}},
    ),
    (
        "motion with an element",
        MOTION_30,
        {"contents": [VIDEO, element(1)], "settings": FACING_VIDEO},
    ),
    ("the simulator's own result as an input", I2V_30, {"contents": [FIRST]}),
]


@pytest.mark.parametrize(
    ("path", "body", "field"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
async def test_a_request_against_the_pages_is_refused_naming_the_field(
    raw: Raw, files: Files, path: str, body: dict[str, Any], field: str
) -> None:
    status, answer = await raw.post(f"/{path}", resolve(body, files))
    assert (status, answer["code"]) == (400, 1201), answer
    assert field in answer["message"].split(":", 1)[0]
    assert not raw.sim.store.tasks


@pytest.mark.parametrize(("path", "body"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
async def test_a_request_the_pages_allow_is_accepted(
    raw: Raw, files: Files, path: str, body: dict[str, Any]
) -> None:
    status, answer = await raw.post(f"/{path}", resolve(body, files))
    assert (status, answer["code"]) == (200, 0), answer
    assert answer["data"]["status"] == "submitted"


@pytest.mark.parametrize("path", sorted(MINIMAL))
async def test_every_model_path_takes_its_least_request(raw: Raw, files: Files, path: str) -> None:
    status, answer = await raw.post(f"/{path}", resolve(MINIMAL[path], files))
    assert (status, answer["code"]) == (200, 0), answer
    assert set(answer["data"]) == {"id", "status", "create_time", "update_time", "external_id"}
