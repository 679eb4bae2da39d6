"""The simulator refuses what the real API refuses, naming the field, with the right code."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kbatch.simulator import Simulator
from tests.conftest import IMAGES
from tests.simulator.conftest import B64, EXPAND, JPG, MULTI, VIDEO, Raw


def b64(name: str) -> str:
    return base64.b64encode((IMAGES / name).read_bytes()).decode()


TOO_BIG = base64.b64encode(b"\x89PNG" + bytes(10 * 1024 * 1024)).decode()
TRAJECTORY = [{"x": 1, "y": 1}, {"x": 2, "y": 2}]

REFUSED: list[tuple[str, str, dict[str, Any], str]] = [
    ("text2video without a prompt", "text2video", {"model_name": "kling-v1"}, "prompt"),
    (
        "text2video camera control on kling-v2-6",
        "text2video",
        {"prompt": "a", "model_name": "kling-v2-6", "camera_control": {"type": "down_back"}},
        "camera_control",
    ),
    ("text2image without a prompt", "text2image", {"n": 1}, "prompt"),
    (
        "text2image 2k on kling-v1",
        "text2image",
        {"prompt": "a", "resolution": "2k", "model_name": "kling-v1"},
        "resolution",
    ),
    (
        "text2image kling-v2-new without an image",
        "text2image",
        {"prompt": "a", "model_name": "kling-v2-new"},
        "image",
    ),
    (
        "a wide subject (the image rules apply to every multi-image input)",
        "multi",
        {"subject_image_list": [{"subject_image": b64("wide.png")}]},
        "subject_image_list[0]",
    ),
    (
        "a mask of another aspect ratio",
        "video",
        {"image": B64, "static_mask": b64("square.png")},
        "static_mask",
    ),
    # (case, route, body, the field the message must name)
    ("expand without image", "expand", {**EXPAND, "image": None} | {}, "image"),
    (
        "a side left out",
        "expand",
        {k: v for k, v in EXPAND.items() if k != "down_expansion_ratio"},
        "down_expansion_ratio",
    ),
    (
        "CometAPI's bottom spelling",
        "expand",
        {**EXPAND, "bottom_expansion_ratio": 0.1},
        "bottom_expansion_ratio",
    ),
    ("a ratio over 2", "expand", {**EXPAND, "up_expansion_ratio": 2.5}, "up_expansion_ratio"),
    (
        "a ratio as a string",
        "expand",
        {**EXPAND, "left_expansion_ratio": "0.25"},
        "left_expansion_ratio",
    ),
    (
        "more than 3x the area",
        "expand",
        {
            **EXPAND,
            "up_expansion_ratio": 0.5,
            "down_expansion_ratio": 0.5,
            "left_expansion_ratio": 0.5,
            "right_expansion_ratio": 0.5,
        },
        "expansion_ratio",
    ),
    ("n as a string", "expand", {**EXPAND, "n": "2"}, "n"),
    ("n over 9", "expand", {**EXPAND, "n": 10}, "n"),
    ("n as a boolean", "expand", {**EXPAND, "n": True}, "n"),
    ("a prompt over 2500", "expand", {**EXPAND, "prompt": "x" * 2501}, "prompt"),
    ("a model for expansion", "expand", {**EXPAND, "model_name": "kling-v2"}, "model_name"),
    ("a data: prefix", "expand", {**EXPAND, "image": "data:image/png;base64," + B64}, "image"),
    ("not base64", "expand", {**EXPAND, "image": "not base64!"}, "image"),
    ("a small image", "expand", {**EXPAND, "image": b64("small.png")}, "image"),
    ("a main image too wide", "expand", {**EXPAND, "image": b64("wide.png")}, "image"),
    ("a GIF", "expand", {**EXPAND, "image": b64("anim.gif")}, "image"),
    ("over 10 MB", "expand", {**EXPAND, "image": TOO_BIG}, "image"),
    (
        "watermark not a boolean",
        "expand",
        {**EXPAND, "watermark_info": {"enabled": "yes"}},
        "watermark_info.enabled",
    ),
    ("an empty external id", "expand", {**EXPAND, "external_task_id": ""}, "external_task_id"),
    ("no subjects", "multi", {"subject_image_list": []}, "subject_image_list"),
    (
        "five subjects",
        "multi",
        {"subject_image_list": MULTI["subject_image_list"] * 2 + [{"subject_image": B64}]},
        "subject_image_list",
    ),
    (
        "a subject as a plain string",
        "multi",
        {"subject_image_list": [B64]},
        "subject_image_list[0]",
    ),
    ("an unknown aspect ratio", "multi", {**MULTI, "aspect_ratio": "5:4"}, "aspect_ratio"),
    ("a video model for images", "multi", {**MULTI, "model_name": "kling-v1"}, "model_name"),
    (
        "the legacy spelling on the new route",
        "multi",
        {**MULTI, "scence_image": B64},
        "scence_image",
    ),
    (
        "the new spelling on the legacy route",
        "legacy",
        {**MULTI, "scene_image": B64},
        "scene_image",
    ),
    (
        "a newer model on the legacy route",
        "legacy",
        {**MULTI, "model_name": "kling-v2-1"},
        "model_name",
    ),
    ("duration as a number", "video", {**VIDEO, "duration": 5}, "duration"),
    ("a duration Kling lacks", "video", {**VIDEO, "duration": "7"}, "duration"),
    ("an unknown mode", "video", {**VIDEO, "mode": "turbo"}, "mode"),
    ("an unknown model", "video", {**VIDEO, "model_name": "kling-v9"}, "model_name"),
    ("kling-v3's length on kling-v1", "video", {**VIDEO, "duration": "12"}, "duration"),
    (
        "an end frame on kling-v2-1 in std mode",
        "video",
        {**VIDEO, "model_name": "kling-v2-1", "image_tail": B64},
        "image_tail",
    ),
    (
        "sound on kling-v2-6 in std mode",
        "video",
        {**VIDEO, "model_name": "kling-v2-6", "sound": "on"},
        "sound",
    ),
    (
        "voices on kling-v3 (kling-v2-6's only, in pro mode)",
        "video",
        {**VIDEO, "model_name": "kling-v3", "sound": "on", "voice_list": [{"voice_id": "v"}]},
        "voice_list",
    ),
    (
        "voices without sound",
        "video",
        {**VIDEO, "model_name": "kling-v3", "voice_list": [{"voice_id": "v"}]},
        "voice_list",
    ),
    (
        "shots that do not fill the video",
        "video",
        {
            **VIDEO,
            "model_name": "kling-v3",
            "multi_shot": True,
            "shot_type": "customize",
            "multi_prompt": [{"index": 1, "prompt": "a", "duration": "3"}],
        },
        "multi_prompt",
    ),
    ("cfg_scale over 1", "video", {**VIDEO, "cfg_scale": 1.5}, "cfg_scale"),
    (
        "cfg_scale on kling-v2",
        "video",
        {**VIDEO, "cfg_scale": 0.5, "model_name": "kling-v2-master"},
        "cfg_scale",
    ),
    ("neither image nor tail", "video", {"duration": "5"}, "image"),
    (
        "a tail and a camera",
        "video",
        {**VIDEO, "image_tail": B64, "camera_control": {"type": "down_back"}},
        "camera_control",
    ),
    (
        "a tail and a mask",
        "video",
        {**VIDEO, "image_tail": B64, "static_mask": B64},
        "static_mask/dynamic_masks",
    ),
    (
        "simple camera without config",
        "video",
        {**VIDEO, "camera_control": {"type": "simple"}},
        "camera_control.config",
    ),
    (
        "simple camera moving two axes",
        "video",
        {**VIDEO, "camera_control": {"type": "simple", "config": {"pan": 1, "zoom": 2}}},
        "camera_control.config",
    ),
    (
        "config on another camera type",
        "video",
        {**VIDEO, "camera_control": {"type": "forward_up", "config": {"pan": 1}}},
        "camera_control.config",
    ),
    (
        "a camera axis over 10",
        "video",
        {**VIDEO, "camera_control": {"type": "simple", "config": {"roll": 11}}},
        "camera_control.config.roll",
    ),
    (
        "seven dynamic masks",
        "video",
        {**VIDEO, "dynamic_masks": [{"mask": B64, "trajectories": TRAJECTORY}] * 7},
        "dynamic_masks",
    ),
    (
        "a trajectory of one point",
        "video",
        {**VIDEO, "dynamic_masks": [{"mask": B64, "trajectories": TRAJECTORY[:1]}]},
        "dynamic_masks[0].trajectories",
    ),
    (
        "a fractional point",
        "video",
        {
            **VIDEO,
            "dynamic_masks": [
                {"mask": B64, "trajectories": [{"x": 1.5, "y": 1}, {"x": 2, "y": 2}]}
            ],
        },
        "dynamic_masks[0].trajectories",
    ),
    (
        "a negative prompt over 2500",
        "video",
        {**VIDEO, "negative_prompt": "n" * 2501},
        "negative_prompt",
    ),
    ("n on a video", "video", {**VIDEO, "n": 1}, "n"),
]


@pytest.mark.parametrize(
    ("route", "body", "field"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
async def test_a_bad_field_is_refused_with_1201_naming_it(
    strict: Raw, route: str, body: dict[str, Any], field: str
) -> None:
    """Under --strict; by default some of these pass as they pass at Kling (test_lenient.py)."""
    status, answer = await strict.post(route, body)
    assert (status, answer["code"]) == (400, 1201)
    assert f"Invalid parameter {field}:" in answer["message"]
    assert answer["data"] is None and answer["request_id"]
    assert not strict.sim.store.tasks


ACCEPTED: list[tuple[str, str, dict[str, Any]]] = [
    (
        "text2video on kling-v3 with sound",
        "text2video",
        {"prompt": "waves", "model_name": "kling-v3", "duration": "8", "sound": "on"},
    ),
    (
        "text2image with a reference",
        "text2image",
        {
            "prompt": "a fox",
            "model_name": "kling-v1-5",
            "image": B64,
            "image_reference": "subject",
            "human_fidelity": 0.5,
            "n": 2,
        },
    ),
    (
        "expand with every option",
        "expand",
        {
            **EXPAND,
            "n": 9,
            "prompt": "p" * 2500,
            "callback_url": "https://example.com/cb",
            "watermark_info": {"enabled": False},
        },
    ),
    (
        "exactly 3x the area",
        "expand",
        {
            **EXPAND,
            "up_expansion_ratio": 0.5,
            "down_expansion_ratio": 0.0,
            "left_expansion_ratio": 0.5,
            "right_expansion_ratio": 0.5,
        },
    ),
    ("a URL image, never fetched", "expand", {**EXPAND, "image": "https://example.com/a.png"}),
    (
        "every kind of multi-image input",
        "multi",
        {
            "subject_image_list": [{"subject_image": B64}],
            "scene_image": JPG,
            "style_image": B64,
            "model_name": "kling-v2-1",
            "aspect_ratio": "21:9",
            "n": 2,
        },
    ),
    (
        "the legacy route with scence_image",
        "legacy",
        {**MULTI, "scence_image": B64, "model_name": "kling-v2"},
    ),
    ("a tail alone", "video", {"image_tail": B64, "duration": "5", "mode": "pro"}),
    (
        "kling-v3 with sound, shots and elements",
        "video",
        {
            **VIDEO,
            "model_name": "kling-v3",
            "duration": "7",
            "sound": "on",
            "element_list": [{"element_id": 1}],
            "multi_shot": True,
            "shot_type": "customize",
            "multi_prompt": [
                {"index": 1, "prompt": "a", "duration": "3"},
                {"index": 2, "prompt": "b", "duration": "4"},
            ],
            "watermark_info": {"enabled": True},
        },
    ),
    (
        "a simple camera",
        "video",
        {
            **VIDEO,
            "model_name": "kling-v1-5",
            "mode": "pro",
            "cfg_scale": 0.7,
            "camera_control": {"type": "simple", "config": {"zoom": -10, "pan": 0}},
        },
    ),
    (
        "masks",
        "video",
        {
            **VIDEO,
            "static_mask": B64,
            "dynamic_masks": [{"mask": B64, "trajectories": TRAJECTORY * 38 + [{"x": 0, "y": 0}]}],
        },
    ),
]


@pytest.mark.parametrize(("route", "body"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
async def test_a_good_request_is_accepted(
    raw: Raw, sim: Simulator, route: str, body: dict[str, Any]
) -> None:
    status, answer = await raw.post(route, {**body, "external_task_id": "kb-1"})
    assert (status, answer["code"], answer["message"]) == (200, 0, "SUCCEED")
    data = answer["data"]
    assert data["task_status"] == "submitted"
    assert data["task_info"] == {"external_task_id": "kb-1"}
    assert data["created_at"] > 1_600_000_000_000  # milliseconds
    assert list(sim.creates.items()) == [("kb-1", 1)]


async def test_a_body_that_is_not_an_object_is_1200(raw: Raw) -> None:
    status, answer = await raw.post("video", ["image"])
    assert (status, answer["code"]) == (400, 1200)


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, 1001), ({"Authorization": "Basic abc"}, 1000), ({"Authorization": "Bearer "}, 1001)],
)
async def test_without_a_bearer_token_the_answer_is_401(
    raw: Raw, headers: dict[str, str], code: int
) -> None:
    status, answer = await raw.post("video", VIDEO, headers=headers)
    assert (status, answer["code"]) == (401, code)
