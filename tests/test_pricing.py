"""Price estimates: kbatch's table, a manifest's ``pricing:`` over it, and where they show up
(``kbatch plan``, the budget)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from kbatch.cli.app import cli
from kbatch.errors import ExitCode
from kbatch.manifest.loader import validate
from kbatch.pricing import DEFAULT, VIDEO_RATES, PriceTable
from kbatch.provider import capabilities, models
from kbatch.provider.catalogue import JobKind
from kbatch.simulator import Simulator
from kbatch.store import JobState
from tests.conftest import HEADER
from tests.project import Project, expand, video


@pytest.mark.parametrize(
    ("request_fields", "units"),
    [
        ({}, 1.0),  # kling-v1, std, 5 s: the API's defaults
        ({"model_name": "kling-v1", "mode": "pro", "duration": "10"}, 7.0),
        ({"model_name": "kling-v2-master", "mode": "std", "duration": "5"}, 10.0),
        ({"model_name": "kling-v2-6", "mode": "pro", "duration": 10}, 5.0),
        ({"model_name": "kling-v3", "mode": "4k", "duration": "15"}, 45.0),
    ],
)
def test_video_is_priced_per_5_seconds_by_model_and_mode(
    request_fields: dict[str, object], units: float
) -> None:
    assert DEFAULT.estimate(JobKind.IMAGE2VIDEO, request_fields) == units


def test_images_are_priced_per_image_in_image_pack_units() -> None:
    # KLING_API.md: about 8 units per expanded image and 16 per multi-image image, counted in
    # the image pack's units (which are not the video pack's).
    assert DEFAULT.estimate(JobKind.IMAGE_EXPAND, {"n": 4}) == 32.0
    assert DEFAULT.estimate(JobKind.MULTI_IMAGE2IMAGE, {}) == 16.0


def test_an_override_changes_only_what_it_names() -> None:
    table = DEFAULT.override({"image2video": {"kling-v1": {"pro": 5}}, "image_expand": 0.25})
    assert table.overridden and not DEFAULT.overridden
    assert table.estimate(JobKind.IMAGE2VIDEO, {"mode": "pro"}) == 5.0
    assert table.estimate(JobKind.IMAGE2VIDEO, {"mode": "std"}) == 1.0  # kept
    assert table.estimate(JobKind.IMAGE_EXPAND, {"n": 2}) == 0.5
    assert table.estimate(JobKind.MULTI_IMAGE2IMAGE, {"n": 2}) == 32.0  # kept
    assert DEFAULT.override({}) is DEFAULT


def test_an_unknown_model_is_priced_as_the_dearest() -> None:
    table = PriceTable()
    assert table.estimate(JobKind.IMAGE2VIDEO, {"model_name": "kling-v9"}) == 10.0


PRICED = (
    HEADER
    + """\
pricing:
  image2video:
    kling-v1: {std: 2}
  image_expand: 1
jobs:
  - {id: v1, kind: image2video, image: "https://example.com/a.png", prompt: a}
  - {id: v2, kind: image2video, image: "https://example.com/a.png", prompt: b, duration: 10}
  - kind: image_expand
    image: "https://example.com/a.png"
    up_expansion_ratio: 0.1
    n: 3
"""
)


def test_plan_shows_units_per_kind_and_in_all_from_the_manifest_prices(
    write: Callable[..., Path],
) -> None:
    path = write("m.yaml", PRICED)
    result = CliRunner().invoke(cli, ["plan", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    rows = [line.split() for line in lines]  # kind, jobs, slot-tasks, estimated units
    assert ["image2video", "2", "2", "6"] in rows  # 2 + 4
    assert ["image_expand", "1", "3", "3"] in rows
    assert ["total", "video", "2", "2", "6"] in rows  # a total per pack, never one sum
    assert ["total", "image", "1", "3", "3"] in rows
    assert "units: estimates from manifest pricing: over kbatch's price table" in result.stdout
    assert "state: none yet (nothing has run)" in lines


def test_a_bad_price_is_a_located_error(write: Callable[..., Path]) -> None:
    path = write("m.yaml", PRICED.replace("kling-v1: {std: 2}", "kling-v7: {std: -1}"))
    issues = [str(issue).removeprefix(f"{path}:") for issue in validate(path).issues]
    assert issues[0].startswith('5:3: $.pricing.image2video: "kling-v7" is not'), issues
    assert issues[1] == "6:21: $.pricing.image2video['kling-v7'].std: -1 is below the minimum 0"


async def test_the_budget_uses_the_manifest_prices(tmp_path: Path, live: Simulator) -> None:
    # The simulator charges 1 unit per 5 s std video. Priced at 3, a budget of 7 admits two.
    project = Project(tmp_path, live, [video(f"v{i}", prompt=f"p{i}") for i in range(4)])
    project.limits["budget_units"] = 7
    project.extra["pricing"] = {"image2video": {"kling-v1": {"std": 3}}}
    project.save()

    result = await project.run()

    assert result.exit_code == ExitCode.FAILED
    assert result.counts[JobState.DOWNLOADED] == 2 and result.counts[JobState.PENDING] == 2
    assert {row.estimate for row in project.rows().values()} == {3.0}

    project.extra["pricing"] = {"image2video": {"kling-v1": {"std": 1}}}  # cheaper: all fit
    project.save()
    assert (await project.run()).exit_code == ExitCode.OK
    assert {row.estimate for row in project.rows().values()} == {1.0, 3.0}


async def test_plan_shows_what_the_state_holds(tmp_path: Path, live: Simulator) -> None:
    project = Project(tmp_path, live, [video("v"), expand("e", n=2)])
    await project.run()

    result = CliRunner().invoke(cli, ["plan", str(project.manifest)])

    assert result.exit_code == 0, result.output
    state = next(line for line in result.stdout.splitlines() if line.startswith("state:"))
    assert state == f"state: 2 downloaded ({project.state_file})"
    spent = "units spent by the manifest's current jobs: image 16, video 1"  # outpainting: 8 each
    assert spent in result.stdout.splitlines()


def test_sound_and_kling_v3_are_priced_and_sound_costs_more() -> None:
    silent = DEFAULT.estimate(JobKind.IMAGE2VIDEO, {"model_name": "kling-v3", "duration": "10"})
    loud = DEFAULT.estimate(
        JobKind.IMAGE2VIDEO, {"model_name": "kling-v3", "duration": "10", "sound": "on"}
    )
    assert silent == 6.0 and loud == 9.0  # 0.6 and 0.9 units per second at 720p (std)


#: kling-pricing-video.md (Kling's price page, vendor snapshot 2026-09 in aself101/kling-api,
#: docs/api/): units per second, by model, resolution (std is billed as 720p, pro as 1080p, 4k as
#: 4K) and audio ("" silent, "sound" native audio, "voice" native audio with voice control).
VIDEO_PAGE: dict[str, dict[tuple[str, str], float]] = {
    "kling-v3": {
        ("std", ""): 0.6,
        ("pro", ""): 0.8,
        ("4k", ""): 3.0,
        ("std", "sound"): 0.9,
        ("pro", "sound"): 1.2,
        ("4k", "sound"): 3.0,
    },
    "kling-v2-6": {
        ("std", ""): 0.3,
        ("pro", ""): 0.5,
        ("pro", "sound"): 1.0,
        ("pro", "voice"): 1.2,
    },
    "kling-v2-5-turbo": {("std", ""): 0.3, ("pro", ""): 0.5},
}


def _page_cases() -> list[tuple[JobKind, str, str, str, str, float]]:
    cases = []
    for model, prices in VIDEO_PAGE.items():
        for (mode, audio), per_second in prices.items():
            for kind in (JobKind.IMAGE2VIDEO, JobKind.TEXT2VIDEO):
                if audio == "voice" and kind is JobKind.TEXT2VIDEO:
                    continue  # voices are image2video only
                for duration in capabilities.capability(model).durations:
                    cases.append(
                        (kind, model, mode, audio, duration, round(per_second * int(duration), 6))
                    )
    return cases


@pytest.mark.parametrize(("kind", "model", "mode", "audio", "duration", "vendor"), _page_cases())
def test_each_video_estimate_is_the_price_page_s(
    kind: JobKind, model: str, mode: str, audio: str, duration: str, vendor: float
) -> None:
    request: dict[str, object] = {"model_name": model, "mode": mode, "duration": duration}
    if audio:
        request["sound"] = "on"
    if audio == "voice":
        request["voice_list"] = [{"voice_id": "v-1"}]
    estimate = DEFAULT.estimate(kind, request)
    assert estimate >= vendor - 1e-9  # never below the vendor's price
    assert estimate == pytest.approx(vendor)  # nor above it


def test_the_changelog_s_figures_agree() -> None:
    # kling-updates-api.md: 2.6 voices 6 / 12 units per 5 / 10 s; 2.5 Turbo std 1.5 / 3, pro
    # first/last frame 2.5 / 5; 4K 3 units per second.
    v26 = {"model_name": "kling-v2-6", "mode": "pro", "sound": "on", "voice_list": [{}]}
    assert DEFAULT.estimate(JobKind.IMAGE2VIDEO, {**v26, "duration": "5"}) == 6.0
    assert DEFAULT.estimate(JobKind.IMAGE2VIDEO, {**v26, "duration": "10"}) == 12.0
    turbo = {"model_name": "kling-v2-5-turbo", "duration": "10"}
    assert DEFAULT.estimate(JobKind.TEXT2VIDEO, turbo) == 3.0
    assert DEFAULT.estimate(JobKind.IMAGE2VIDEO, {**turbo, "mode": "pro"}) == 5.0


#: kling-pricing-image.md (the same snapshot): units per image.
IMAGE_PAGE = [
    (JobKind.TEXT2IMAGE, {"model_name": "kling-v3"}, 8.0),  # Kling Image 3.0
    (JobKind.TEXT2IMAGE, {"model_name": "kling-v3", "image": "a.png"}, 8.0),
    (JobKind.TEXT2IMAGE, {}, 8.0),  # kling-v3 is the default
    (JobKind.TEXT2IMAGE, {"model_name": "kling-v2-1"}, 4.0),  # Image 2.1, text to image
    (JobKind.TEXT2IMAGE, {"model_name": "kling-v2-1", "image": "a.png"}, 8.0),  # image to image
    (JobKind.MULTI_IMAGE2IMAGE, {"model_name": "kling-v2-1"}, 16.0),  # multi-image to image
    (JobKind.IMAGE_EXPAND, {}, 8.0),  # outpainting
]


@pytest.mark.parametrize(("kind", "request_fields", "vendor"), IMAGE_PAGE)
def test_each_image_estimate_is_the_price_page_s(
    kind: JobKind, request_fields: dict[str, object], vendor: float
) -> None:
    assert DEFAULT.estimate(kind, {**request_fields, "n": 3}) == 3 * vendor


def test_every_mode_of_every_model_has_a_price_of_its_own() -> None:
    for table in (capabilities.IMAGE2VIDEO, capabilities.TEXT2VIDEO):
        for model, cap in table.items():
            for mode in cap.modes or ("std",):
                assert mode in VIDEO_RATES[model], (model, mode)
            if cap.features.get("sound"):
                assert any(mode.endswith("+sound") for mode in VIDEO_RATES[model]), model


def test_what_the_table_lacks_errs_high() -> None:
    # Sound on kling-v1 (refused by the capability map, unless it is turned off): twice silent.
    assert DEFAULT.estimate(JobKind.TEXT2VIDEO, {"sound": "on"}) == 2.0
    # 4k on a model without it: the dearest 4K any model has.
    assert DEFAULT.estimate(JobKind.IMAGE2VIDEO, {"model_name": "kling-v2-6", "mode": "4k"}) == 15.0


def test_an_override_of_4k_and_of_text2image() -> None:
    table = DEFAULT.override({"image2video": {"kling-v3": {"4k": 20}}, "text2image": 5})
    assert table.estimate(JobKind.IMAGE2VIDEO, {"model_name": "kling-v3", "mode": "4k"}) == 20.0
    assert table.estimate(JobKind.TEXT2IMAGE, {"model_name": "kling-v2-1"}) == 5.0
    assert table.estimate(JobKind.TEXT2IMAGE, {}) == 5.0


def test_an_override_of_a_silent_price_scales_its_sound_and_voices_alike() -> None:
    table = DEFAULT.override({"image2video": {"kling-v3": {"std": 6}}})
    v3 = {"model_name": "kling-v3"}
    assert table.estimate(JobKind.TEXT2VIDEO, v3) == 6.0
    assert table.estimate(JobKind.TEXT2VIDEO, {**v3, "sound": "on"}) == 9.0  # 0.9/0.6 of it
    assert table.estimate(JobKind.TEXT2VIDEO, {**v3, "mode": "pro", "sound": "on"}) == 6.0


@pytest.mark.parametrize(
    ("request_fields", "units"),
    [
        # kling-pricing-video.md: 3.0 Turbo 0.8 units/s at 720p (std), 1.0 at 1080p (pro).
        ({"model_name": "kling-3.0-turbo"}, 4.0),
        ({"model_name": "kling-3.0-turbo", "mode": "std", "duration": "15"}, 12.0),
        ({"model_name": "kling-3.0-turbo", "mode": "pro", "duration": 3}, 3.0),
        ({"model_name": "kling-3.0-turbo", "mode": "pro", "duration": "10"}, 10.0),
        # 3.0 silent 0.6/0.8/3 units/s; 2.6 0.3/0.5 and 1.0 with audio; 2.5 Turbo 0.3/0.5.
        ({"model_name": "kling-3.0", "mode": "std", "duration": "10"}, 6.0),
        ({"model_name": "kling-3.0", "mode": "4k", "duration": "3"}, 9.0),
        ({"model_name": "kling-2.6", "mode": "pro", "sound": "on"}, 5.0),
        ({"model_name": "kling-2.5-turbo", "mode": "pro", "duration": "10"}, 5.0),
    ],
)
def test_the_new_api_s_models_are_priced_per_second_as_the_page_says(
    request_fields: dict[str, object], units: float
) -> None:
    for kind in (JobKind.TEXT2VIDEO, JobKind.IMAGE2VIDEO):
        assert DEFAULT.estimate(kind, request_fields) == pytest.approx(units)


def test_a_model_costs_the_same_in_either_spelling() -> None:
    for model in models.MODELS:
        if model.legacy is None or model.new is None or model.legacy not in VIDEO_RATES:
            continue
        for mode in VIDEO_RATES[model.legacy]:
            fields = {"mode": mode.partition("+")[0], "duration": "10"}
            if "+" in mode:
                fields["sound"] = "on"
            old = DEFAULT.estimate(JobKind.IMAGE2VIDEO, {**fields, "model_name": model.legacy})
            new = DEFAULT.estimate(JobKind.IMAGE2VIDEO, {**fields, "model_name": model.new})
            assert old == new, (model, mode)


def test_a_manifest_s_price_in_the_new_spelling_is_the_model_s() -> None:
    table = DEFAULT.override({"image2video": {"kling-2.6": {"pro": 3}}})
    assert table.estimate(JobKind.IMAGE2VIDEO, {"model_name": "kling-v2-6", "mode": "pro"}) == 3.0
