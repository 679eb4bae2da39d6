"""omni_video: how its inputs combine, per model (kling-omni-3.0-ovg.md, kling-o1-video.md), what
is sent for them on Kling's new API, and what they may cost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kbatch import pricing
from kbatch.images import Inspector
from kbatch.manifest.checks import resolve_images
from kbatch.manifest.omni import check_omni, check_shots, shown
from kbatch.provider.catalogue import JobKind
from kbatch.provider.config import Api
from kbatch.provider.contents import new_body, unmapped
from kbatch.provider.models import choose
from kbatch.provider.protocol import ModelPath
from tests.clips import serving
from tests.project import IMAGES

OMNI = JobKind.OMNI_VIDEO


@pytest.fixture(scope="module")
def cdn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("cdn")) as url:
        yield url


def fields(problems: list[tuple[tuple[str | int, ...], str]]) -> list[str]:
    return [".".join(map(str, path)) or "job" for path, _ in problems]


def job(**given: Any) -> dict[str, Any]:
    return {"prompt": "a fox", "aspect_ratio": "16:9", **given}


def test_a_prompt_alone_is_a_video() -> None:
    assert check_omni(job()) == []


def test_without_a_frame_or_a_video_the_aspect_ratio_is_required() -> None:
    assert fields(check_omni({"prompt": "a fox"})) == ["job"]
    assert check_omni({"prompt": "a fox", "image": "a.png"}) == []


def test_references_count_images_with_multi_image_elements() -> None:
    images = ["a.png"] * 4
    elements = [{"element_id": str(n)} for n in range(3)]
    assert check_omni(job(image_list=images, element_list=elements)) == []
    too_many = check_omni(job(image_list=images, element_list=[*elements, {"element_id": "9"}]))
    assert fields(too_many) == ["element_list"]
    assert "make 8; kling-v3-omni takes at most 7" in too_many[0][1]


def test_video_character_elements_have_their_own_limits() -> None:
    characters = [{"element_id": str(n), "element_type": "video_character"} for n in range(4)]
    assert "at most 3" in check_omni(job(element_list=characters))[0][1]
    mixed = [*characters[:2], {"element_id": "x"}]
    assert check_omni(job(element_list=mixed, image_list=["a.png"] * 3)) == []
    over = check_omni(job(element_list=mixed, image_list=["a.png"] * 4))
    assert "with video-character elements" in over[0][1]


def test_a_first_frame_takes_at_most_three_elements() -> None:
    elements = [{"element_id": str(n)} for n in range(4)]
    found = check_omni({"prompt": "p", "image": "a.png", "element_list": elements})
    assert fields(found) == ["element_list"] and "with a first frame" in found[0][1]


def test_a_video_allows_four_references_and_never_mixes_characters(cdn: str) -> None:
    video = f"{cdn}/wide.mp4"
    assert check_omni(job(video=video, image_list=["a.png"] * 4)) == []
    assert "at most 4 with a video" in check_omni(job(video=video, image_list=["a.png"] * 5))[0][1]
    character = {"element_id": "1", "element_type": "video_character"}
    mixed = check_omni(job(video=video, element_list=[character], image_list=["a.png"]))
    assert "take no reference images" in mixed[0][1]


def test_a_base_video_is_edited_without_frames_shots_or_native_audio(cdn: str) -> None:
    base = job(video=f"{cdn}/wide.mp4", video_refer_type="base")
    assert check_omni(base) == []
    found = check_omni({**base, "image": "a.png", "multi_shot": True, "audio": "native"})
    assert fields(found) == ["image", "multi_shot", "audio"]


def test_a_feature_video_needs_multi_shot_and_no_audio_on_omni_3(cdn: str) -> None:
    feature = job(video=f"{cdn}/wide.mp4")
    assert check_omni(feature) == []
    assert fields(check_omni({**feature, "multi_shot": False})) == ["multi_shot"]
    assert fields(check_omni({**feature, "audio": "original"})) == ["audio"]
    o1 = {**feature, "model_name": "kling-o1", "audio": "original"}
    assert check_omni(o1) == []  # O1 keeps the video's sound


def test_o1_limits(cdn: str) -> None:
    o1 = job(model_name="kling-video-o1")
    assert fields(check_omni({**o1, "mode": "4k", "duration": 11, "audio": "native"})) == [
        "mode",
        "duration",
        "audio",
    ]
    bare = {"prompt": "p", "model_name": "kling-o1", "image": "a.png", "duration": 7}
    assert "5 or 10 s" in check_omni(bare)[0][1]
    assert check_omni({**bare, "image_list": ["b.png"]}) == []
    long = check_omni({**o1, "video": f"{cdn}/o1-long.mp4"})
    assert fields(long) == ["video"] and "3 to 10 s" in long[0][1]
    assert check_omni({**o1, "prompt": "x" * 2501})[0][1].endswith("kling-video-o1 takes 2500")


def test_the_reference_video_is_checked_by_url(cdn: str) -> None:
    small = check_omni(job(video=f"{cdn}/small.mp4?token=secret"))
    assert fields(small) == ["video"]
    assert "700 to 4553 px" in small[0][1] and "secret" not in small[0][1]
    assert "is a local file" in check_omni(job(video="clips/a.mp4"))[0][1]
    assert shown("https://u:pw@cdn.example/v.mp4#t=1") == '"https://cdn.example/v.mp4?…"'


def test_multi_shot_prompts() -> None:
    assert check_omni(job(multi_shot=True, prompt="shot 1, 2, a; shot 2, 3, b;")) == []
    sums = check_omni(job(multi_shot=True, prompt="shot 1, 2, a; shot 2, 2, b;"))
    assert "last 4 s in all" in sums[0][1]
    assert "7 shots" in check_shots(";".join(f"shot {n}, 1, x" for n in range(7)), 7)[0][1]
    assert "512" in check_shots(f"shot 1, 5, {'w' * 513};", 5)[0][1]
    assert check_omni(job(multi_shot=False, prompt="shot 1, 2, a;")) == []  # not multi-shot


def test_both_models_always_go_to_the_new_api() -> None:
    for api in Api:
        assert choose(OMNI, {"model_name": "kling-v3-omni"}, api) == ModelPath(
            OMNI, "omni-video/kling-3.0-omni"
        )
        assert choose(OMNI, {}, api) == ModelPath(OMNI, "omni-video/kling-3.0-omni")
        o1 = ModelPath(OMNI, "omni-video/kling-o1")
        assert choose(OMNI, {"model_name": "kling-o1"}, api) == o1


def test_the_body_names_each_input_as_the_page_does() -> None:
    request = {
        "prompt": "@image_1 meets <<<element_1>>>",
        "image": "first",
        "image_tail": "last",
        "image_list": ["ref"],
        "element_list": [{"element_id": 881, "element_type": "multi_image"}],
        "mode": "pro",
        "duration": "8",
        "aspect_ratio": "1:1",
        "audio": "native",
        "multi_shot": False,
        "watermark_info": {"enabled": True},
    }
    target = ModelPath(OMNI, "omni-video/kling-3.0-omni")
    assert unmapped(OMNI, request) == []
    body = new_body(target, request, external_task_id="kb-1")
    assert body["contents"] == [
        {"type": "prompt", "text": "@image_1 meets @element_1"},
        {"type": "first_frame", "url": "first"},
        {"type": "last_frame", "url": "last"},
        {"type": "refer_image", "url": "ref", "id": "image_1"},
        {"type": "element", "element_id": "881", "id": "element_1"},
    ]
    assert body["settings"] == {
        "resolution": "1080p",
        "duration": 8,
        "aspect_ratio": "1:1",
        "audio": "native",
        "multi_shot": False,
    }
    assert body["options"] == {"watermark_info": {"enabled": True}, "external_task_id": "kb-1"}


def test_a_video_is_sent_as_its_use_and_multi_shot_follows_it() -> None:
    feature = new_body(
        ModelPath(OMNI, "omni-video/kling-3.0-omni"),
        {"prompt": "p", "video": "https://cdn/v.mp4"},
        external_task_id="kb-2",
    )
    assert feature["contents"][1] == {
        "type": "feature_video",
        "url": "https://cdn/v.mp4",
        "id": "video_1",
    }
    assert feature["settings"] == {"multi_shot": True}
    base = new_body(
        ModelPath(OMNI, "omni-video/kling-o1"),
        {"prompt": "p", "video": "https://cdn/v.mp4", "video_refer_type": "base"},
        external_task_id="kb-3",
    )
    assert base["contents"][1]["type"] == "base_video" and "settings" not in base


@pytest.mark.parametrize(
    ("request_", "units"),
    [
        ({}, 0.6 * 5),
        ({"mode": "pro", "duration": "10"}, 0.8 * 10),
        ({"mode": "4k", "audio": "native"}, 3.0 * 5),
        ({"audio": "native"}, 0.8 * 5),
        ({"video": "https://cdn/v.mp4", "mode": "pro"}, 1.2 * 5),
        ({"model_name": "kling-o1", "video": "https://cdn/v.mp4"}, 0.9 * 5),
        ({"model_name": "kling-video-o1", "mode": "pro", "duration": "10"}, 0.8 * 10),
    ],
)
def test_prices_follow_the_price_page(request_: dict[str, Any], units: float) -> None:
    assert pricing.DEFAULT.estimate(OMNI, request_) == pytest.approx(units)


def test_a_local_reference_image_is_checked_like_the_first_frame(tmp_path: Path) -> None:
    """image_list entries are inspected and sent as images (the CLI test runs them)."""
    (tmp_path / "ok.png").write_bytes((IMAGES / "ok.png").read_bytes())
    request = job(image_list=["ok.png", "missing.png"])
    _, _, problems = resolve_images(OMNI, request, tmp_path, Inspector())
    assert [path for path, _ in problems] == [("image_list", 1)]
