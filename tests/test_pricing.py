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
from kbatch.pricing import DEFAULT, PriceTable
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
        ({"model_name": "kling-v2-6", "mode": "pro", "duration": 10}, 10.0),
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
    assert state == (f"state: 2 downloaded; units spent: image 0.5, video 1 ({project.state_file})")


def test_sound_and_kling_v3_are_priced_and_sound_costs_more() -> None:
    silent = DEFAULT.estimate(JobKind.IMAGE2VIDEO, {"model_name": "kling-v3", "duration": "10"})
    loud = DEFAULT.estimate(
        JobKind.IMAGE2VIDEO, {"model_name": "kling-v3", "duration": "10", "sound": "on"}
    )
    assert silent == 7.0 and loud == 14.0  # 3.5 per 5 s in std; sound estimated at twice
