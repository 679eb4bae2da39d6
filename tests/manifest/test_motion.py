"""motion_control: the character orientation bounds the reference video's length (checked by
its URL), elements per model, what is sent on Kling's new API, and the estimate on the video's
seconds (kling-omni-3.0-motion-control.md, kling-2.6-motion-control.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kbatch import pricing
from kbatch.manifest.checks import unsent
from kbatch.manifest.motion import check_motion, seconds
from kbatch.provider.catalogue import JobKind
from kbatch.provider.config import Api
from kbatch.provider.contents import new_body, unmapped
from kbatch.provider.models import choose
from kbatch.provider.protocol import ModelPath
from tests.clips import serving

MOTION = JobKind.MOTION_CONTROL


@pytest.fixture(scope="module")
def cdn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("cdn")) as url:
        yield url


def job(cdn: str, video: str = "dance.mp4", **given: Any) -> dict[str, Any]:
    return {"image": "a.png", "video": f"{cdn}/{video}", "character_orientation": "image", **given}


def test_a_character_follows_a_video(cdn: str) -> None:
    assert check_motion(job(cdn)) == []


def test_a_20_s_video_needs_the_videos_orientation(cdn: str) -> None:
    found = check_motion(job(cdn, "long.mp4"))
    assert [path for path, _ in found] == [("video",)]
    assert "lasts 20.0 s" in found[0][1] and "character_orientation: image" in found[0][1]
    assert check_motion(job(cdn, "long.mp4", character_orientation="video")) == []


def test_the_video_is_given_by_url_only(cdn: str) -> None:
    found = check_motion(job(cdn) | {"video": "dance.mp4"})
    assert "Kling takes videos by URL only" in found[0][1]


def test_what_is_required() -> None:
    found = check_motion({"prompt": "dance"})
    assert [message.split(" (")[0] for _, message in found] == [
        "missing required field 'character_orientation'",
        "missing required field 'video'",
        "missing required field 'image'",
    ]


def test_elements_one_on_3_0_none_on_2_6(cdn: str) -> None:
    element = [{"element_id": "1"}]
    assert "takes no elements" in check_motion(job(cdn, element_list=element))[0][1]
    on_30 = job(cdn, model_name="kling-3.0", element_list=element, character_orientation="video")
    del on_30["image"]  # an element may stand for the character
    assert check_motion(on_30) == []
    two = {**on_30, "element_list": element * 2}
    assert "at most 1 element, not 2" in check_motion(two)[0][1]
    facing = {**on_30, "character_orientation": "image"}
    assert [path for path, _ in check_motion(facing)] == [("character_orientation",)]


def test_no_4k() -> None:
    assert "not 4k" in check_motion({"mode": "4k"})[-1][1]


def test_the_estimate_is_the_videos_seconds_else_the_orientations_longest(cdn: str) -> None:
    request = job(cdn)
    check_motion(request)
    assert seconds(request) == 6
    sent = unsent(MOTION, request)
    assert sent["duration"] == "6"
    assert pricing.DEFAULT.estimate(MOTION, sent) == pytest.approx(6 * 0.5)
    on_30 = {**sent, "model_name": "kling-v3", "mode": "pro"}
    assert pricing.DEFAULT.estimate(MOTION, on_30) == pytest.approx(6 * 1.2)
    unknown = {"character_orientation": "video", "video": "https://cdn/x.mp4"}
    assert pricing.key(MOTION, unknown)[3] == 30
    assert pricing.key(MOTION, {"character_orientation": "image"})[3] == 10


def test_both_models_always_go_to_the_new_api() -> None:
    for api in Api:
        assert choose(MOTION, {}, api) == ModelPath(MOTION, "motion-control/kling-2.6")
        on_30 = ModelPath(MOTION, "motion-control/kling-3.0")
        assert choose(MOTION, {"model_name": "kling-v3"}, api) == on_30


def test_the_body_is_the_pages() -> None:
    request = {
        "prompt": "a cat dances",
        "image": "cat",
        "video": "https://cdn/dance.mp4",
        "character_orientation": "video",
        "element_list": [{"element_id": "42"}],
        "mode": "pro",
        "audio": "off",
        "duration": "6",  # the video's, measured: never sent
        "model_name": "kling-3.0",
    }
    assert unmapped(MOTION, request) == []
    body = new_body(ModelPath(MOTION, "motion-control/kling-3.0"), request, external_task_id="k")
    assert body == {
        "contents": [
            {"type": "prompt", "text": "a cat dances"},
            {"type": "image", "url": "cat"},
            {"type": "element", "element_id": "42", "id": "element_1"},
            {"type": "video", "url": "https://cdn/dance.mp4"},
        ],
        "settings": {"character_orientation": "video", "resolution": "1080p", "audio": "off"},
        "options": {"external_task_id": "k"},
    }
