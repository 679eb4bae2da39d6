"""Omni image in a manifest: its rules, its slots (a series holds what it may make), its price,
and the body kbatch sends."""

from __future__ import annotations

from pathlib import Path

from kbatch.manifest.omni_image import check_omni_image
from kbatch.pricing import DEFAULT, key
from kbatch.provider.bodies import build_body
from kbatch.provider.catalogue import ENDPOINTS, Dialect, JobKind, request_slots
from kbatch.provider.wire import MediaKind, parse_task
from tests.conftest import image

V3 = {"model_name": "kling-v3-omni", "prompt": "a fox", "image_list": [{"image": "a.png"}]}


def fields(request: dict[str, object]) -> list[tuple[str | int, ...]]:
    return [path for path, _ in check_omni_image(request)]


def test_the_default_model_makes_single_images_up_to_2k() -> None:
    assert fields({"prompt": "a fox", "n": 9, "resolution": "2k", "aspect_ratio": "auto"}) == []
    assert fields({"prompt": "a fox", "resolution": "4k"}) == [("resolution",)]
    assert fields({"prompt": "a fox", "result_type": "series"}) == [("result_type",)] * 2


def test_kling_v3_omni_makes_series_and_4k_from_references() -> None:
    assert fields({**V3, "result_type": "series", "series_amount": 9, "resolution": "4k"}) == []
    assert fields({**V3, "result_type": "series", "n": 2}) == [("n",)]
    assert fields({**V3, "series_amount": 3}) == [("series_amount",)]  # single: n, not this
    text_only = {"model_name": "kling-v3-omni", "prompt": "a fox"}
    assert fields({**text_only, "aspect_ratio": "auto"}) == [("aspect_ratio",)]


def test_references_are_ten_at_most_images_and_elements_together() -> None:
    request = {"prompt": "a", "image_list": [{"image": "a.png"}] * 4}
    assert fields({**request, "element_list": [{"element_id": n} for n in range(6)]}) == []
    assert fields({**request, "element_list": [{"element_id": n} for n in range(7)]}) == [
        ("element_list",)
    ]


def test_a_series_reserves_what_it_may_make_and_is_priced_at_it() -> None:
    single = {**V3, "n": 3}
    numbered = {**V3, "result_type": "series", "series_amount": 5}
    auto = {**V3, "result_type": "series", "series_amount": "auto"}
    default = {**V3, "result_type": "series"}
    slots = [request_slots(JobKind.OMNI_IMAGE, r) for r in (single, numbered, auto, default)]
    assert slots == [3, 5, 9, 4]
    prices = [DEFAULT.estimate(JobKind.OMNI_IMAGE, r) for r in (single, numbered, auto)]
    assert prices == [24, 40, 72]  # 8 units an image
    assert DEFAULT.estimate(JobKind.OMNI_IMAGE, {**numbered, "resolution": "4k"}) == 80
    assert DEFAULT.override({"omni_image": 10}).price(key(JobKind.OMNI_IMAGE, single)) == 30


def test_the_body_holds_the_image_list_as_kling_takes_it(tmp_path: Path) -> None:
    request = {**V3, "image_list": [{"image": image()}]}
    body = build_body(
        request,
        ENDPOINTS[JobKind.OMNI_IMAGE, Dialect.OFFICIAL],
        external_task_id="kb-1",
        encode=lambda picture: "iVBOR",
    )
    assert body["image_list"] == [{"image": "iVBOR"}] and body["external_task_id"] == "kb-1"
    assert ENDPOINTS[JobKind.OMNI_IMAGE, Dialect.OFFICIAL].route == "images/omni-image"


def test_a_series_result_is_read_from_series_images() -> None:
    images = [{"index": i, "url": f"https://cdn/{i}.png"} for i in range(3)]
    task = parse_task(
        {
            "task_id": "1",
            "task_status": "succeed",
            "task_result": {"result_type": "series", "images": [], "series_images": images},
        }
    )
    assert [(m.kind, m.url) for m in task.media] == [
        (MediaKind.IMAGE, f"https://cdn/{i}.png") for i in range(3)
    ]
