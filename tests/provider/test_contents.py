"""A job's /v1 fields as the new API's body, model by model, as the vendor's request examples
write them; and the fields that have no place there, named rather than dropped."""

from __future__ import annotations

from typing import Any

import pytest

from kbatch.errors import JobRejected
from kbatch.images import ImageInput, ImageSource
from kbatch.provider.catalogue import JobKind
from kbatch.provider.config import Api
from kbatch.provider.contents import new_body, unmapped
from kbatch.provider.models import choose
from kbatch.provider.protocol import ModelPath

T2V, I2V = JobKind.TEXT2VIDEO, JobKind.IMAGE2VIDEO
FRAME = "https://p2-kling.klingai.com/kcdn/cdn-kcdn112452/kling-tob-release_note/image_25.png"
PROMPT = "A girl sat on the train, looking out the window with a melancholic expression."


def body(kind: JobKind, **request: Any) -> dict[str, Any]:
    target = choose(kind, request, Api.NEW)
    assert isinstance(target, ModelPath)
    return new_body(target, request, external_task_id="kb-1")


def test_turbo_text_to_video_as_its_page_s_example() -> None:
    """kling-3.0-turbo-t2v.md: prompt at the top, settings, options."""
    assert body(
        T2V,
        model_name="kling-3.0-turbo",
        prompt=PROMPT,
        duration="3",
        mode="std",
        aspect_ratio="9:16",
        callback_url="https://xxx/callback",
        watermark_info={"enabled": False},
    ) == {
        "prompt": PROMPT,
        "settings": {"resolution": "720p", "aspect_ratio": "9:16", "duration": 3},
        "options": {
            "callback_url": "https://xxx/callback",
            "watermark_info": {"enabled": False},
            "external_task_id": "kb-1",
        },
    }


def test_turbo_image_to_video_as_its_page_s_example() -> None:
    """kling-3.0-turbo-i2v.md: contents of a prompt and a first frame; 1080p, 10 s."""
    image = ImageInput(ImageSource.URL, FRAME)
    assert body(
        I2V, model_name="kling-3.0-turbo", prompt=PROMPT, image=image, mode="pro", duration=10
    ) == {
        "contents": [{"type": "prompt", "text": PROMPT}, {"type": "first_frame", "url": image}],
        "settings": {"resolution": "1080p", "duration": 10},
        "options": {"external_task_id": "kb-1"},
    }


def test_kling_3_0_with_frames_elements_sound_and_shots() -> None:
    """kling-omni-3.0-i2v.md, "First_frame & last_frame & element"; elements cited as @id."""
    image = ImageInput(ImageSource.URL, FRAME)
    got = body(
        I2V,
        model_name="kling-v3",
        prompt="<<<element_1>>> boards the train",
        image=image,
        image_tail=image,
        element_list=[{"element_id": 163}],
        sound="on",
        mode="pro",
        duration="10",
        multi_shot=False,
        watermark_info={"enabled": True},
    )
    assert got == {
        "contents": [
            {"type": "prompt", "text": "@element_1 boards the train"},
            {"type": "first_frame", "url": image},
            {"type": "last_frame", "url": image},
            {"type": "element", "element_id": "163", "id": "element_1"},
        ],
        "settings": {"resolution": "1080p", "duration": 10, "audio": "native", "multi_shot": False},
        "options": {"watermark_info": {"enabled": True}, "external_task_id": "kb-1"},
    }


def test_shots_are_written_in_the_prompt_s_shot_form() -> None:
    shots = [
        {"index": 1, "prompt": "she sits", "duration": "2"},
        {"index": 2, "prompt": "she waves", "duration": 3},
    ]
    got = body(
        T2V,
        model_name="kling-3.0",
        multi_shot=True,
        shot_type="customize",
        multi_prompt=shots,
        duration="5",
    )
    assert got["prompt"] == "shot 1, 2, she sits; shot 2, 3, she waves;"
    assert got["settings"] == {"duration": 5, "multi_shot": True}


def test_kling_2_6_voices_and_sound() -> None:
    """kling-2.6-i2v.md: a voice item, audio native, 1080p."""
    image = ImageInput(ImageSource.URL, FRAME)
    got = body(
        I2V,
        model_name="kling-2.6",
        prompt="<<<voice_1>>> whispers",
        image=image,
        voice_list=[{"voice_id": "891495440020668439"}],
        sound="on",
        mode="pro",
        duration="5",
    )
    assert got["contents"] == [
        {"type": "prompt", "text": "@voice_1 whispers"},
        {"type": "first_frame", "url": image},
        {"type": "voice", "voice_id": "891495440020668439", "id": "voice_1"},
    ]
    assert got["settings"] == {"resolution": "1080p", "duration": 5, "audio": "native"}


def test_kling_3_0_makes_one_shot_unless_asked_as_on_the_v1_routes() -> None:
    """The new API's multi_shot defaults to true, the /v1 routes' to false: a job means the same
    on both, so the setting is always written."""
    assert body(T2V, model_name="kling-3.0", prompt="p")["settings"] == {"multi_shot": False}
    got = body(T2V, model_name="kling-3.0", prompt="p", multi_shot=True, shot_type="intelligence")
    assert got == {
        "prompt": "p",
        "settings": {"multi_shot": True},
        "options": {"external_task_id": "kb-1"},
    }


def test_turbo_takes_shots_written_in_its_prompt() -> None:
    shots = [{"index": 1, "prompt": "a", "duration": 1}, {"index": 2, "prompt": "b", "duration": 2}]
    got = body(
        T2V,
        model_name="kling-3.0-turbo",
        multi_shot=True,
        shot_type="customize",
        multi_prompt=shots,
        duration=3,
    )
    assert got["prompt"] == "shot 1, 1, a; shot 2, 2, b;" and got["settings"] == {"duration": 3}


def test_kling_2_5_turbo_has_no_audio_setting_so_sound_off_is_its_default() -> None:
    got = body(T2V, model_name="kling-2.5-turbo", prompt="p", sound="off", aspect_ratio="1:1")
    assert got["settings"] == {"aspect_ratio": "1:1"}


UNPLACED = [
    (T2V, {"model_name": "kling-3.0-turbo", "negative_prompt": "blur"}, ["negative_prompt"]),
    (T2V, {"model_name": "kling-3.0-turbo", "sound": "on"}, ["sound"]),
    (I2V, {"model_name": "kling-3.0-turbo", "image_tail": "x"}, ["image_tail"]),
    (I2V, {"model_name": "kling-3.0-turbo", "element_list": []}, ["element_list"]),
    (I2V, {"model_name": "kling-2.5-turbo", "sound": "on"}, ["sound"]),
    (I2V, {"model_name": "kling-2.5-turbo", "multi_shot": True}, ["multi_shot"]),
    (I2V, {"model_name": "kling-3.0", "voice_list": []}, ["voice_list"]),
    (I2V, {"model_name": "kling-2.6", "element_list": []}, ["element_list"]),
    (I2V, {"model_name": "kling-2.6", "aspect_ratio": "1:1"}, ["aspect_ratio"]),
    (
        T2V,
        {"model_name": "kling-2.6", "cfg_scale": 0.5, "camera_control": {}},
        ["cfg_scale", "camera_control"],
    ),
    (
        I2V,
        {"model_name": "kling-3.0", "static_mask": "m", "dynamic_masks": []},
        ["static_mask", "dynamic_masks"],
    ),
    (T2V, {"model_name": "kling-3.0", "prompt": "p", "multi_prompt": [{}]}, ["prompt"]),
    (
        T2V,
        {"model_name": "kling-3.0-turbo", "multi_shot": True, "shot_type": "intelligence"},
        ["multi_shot", "shot_type"],
    ),
    (T2V, {"model_name": "kling-2.6", "mode": "4k"}, []),  # a resolution the API judges
    (T2V, {"model_name": "kling-2.6", "mode": "ultra"}, ["mode"]),
]


@pytest.mark.parametrize(("kind", "request_", "names"), UNPLACED)
def test_a_field_without_a_place_is_named(
    kind: JobKind, request_: dict[str, Any], names: list[str]
) -> None:
    assert unmapped(kind, request_, Api.NEW) == names
    if names:
        with pytest.raises(JobRejected, match=f"no place for {names[0]}"):
            body(kind, **request_)


def test_a_job_for_the_v1_routes_has_nothing_unmapped() -> None:
    request = {"model_name": "kling-v3", "negative_prompt": "blur", "cfg_scale": 0.5}
    assert unmapped(T2V, request) == [] and unmapped(T2V, request, Api.NEW) == [
        "negative_prompt",
        "cfg_scale",
    ]
