"""Video effects in a manifest: the scenes as data (the vendor's list shipped, a manifest's own
file over it), an unknown scene warned about, one image or two, the price and the body."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kbatch import validate
from kbatch.manifest.effects import check_effects, packaged, scene_problems
from kbatch.pricing import DEFAULT, EFFECT_UNITS
from kbatch.provider.bodies import build_body
from kbatch.provider.catalogue import ENDPOINTS, Dialect, JobKind
from tests.conftest import IMAGES


def test_kbatch_ships_the_pages_219_scenes() -> None:
    scenes = packaged()
    assert len(scenes) == 219
    assert sum(scene.images == 2 for scene in scenes.values()) == 15
    assert {"hug_pro", "kiss_pro", "heart_gesture_pro"} <= {
        name for name, scene in scenes.items() if scene.images == 2
    }
    assert [name for name, scene in scenes.items() if scene.retired] == ["magic_match_tree"]


def test_the_input_is_one_image_or_two_never_both() -> None:
    assert check_effects({"effect_scene": "hug_pro", "images": ["a", "b"]}) == []
    both = check_effects({"effect_scene": "hug_pro", "image": "a", "images": ["a", "b"]})
    assert [path for path, _ in both] == [("images",)]
    assert [path for path, _ in check_effects({"effect_scene": "hug_pro"})] == [()]


@pytest.mark.parametrize(
    ("request_", "errors", "warnings"),
    [
        ({"effect_scene": "hug_pro", "images": ["a", "b"]}, [], []),
        ({"effect_scene": "hug_pro", "image": "a"}, [("image",)], []),
        ({"effect_scene": "pet_lion_pro", "images": ["a", "b"]}, [("images",)], []),
        ({"effect_scene": "next_months_hit", "images": ["a", "b"]}, [], [("effect_scene",)]),
        ({"effect_scene": "magic_match_tree", "image": "a"}, [], [("effect_scene",)]),
    ],
)
def test_a_scene_is_checked_when_it_is_known_and_warned_about_when_not(
    request_: dict[str, object], errors: list[tuple[str]], warnings: list[tuple[str]]
) -> None:
    found, warned = scene_problems(packaged(), request_)
    assert [path for path, _ in found] == errors and [path for path, _ in warned] == warnings


def write(tmp_path: Path, effects: str, scene: str, given: str) -> Path:
    (tmp_path / "ok.png").write_bytes((IMAGES / "ok.png").read_bytes())
    (tmp_path / "mine.json").write_text(
        json.dumps({"scenes": {"twin_wave": {"images": 2}}}), encoding="utf-8"
    )
    path = tmp_path / "m.yaml"
    path.write_text(
        "version: 1\nname: t\nprovider: simulator\n"
        f"{effects}"
        f"jobs:\n  - {{kind: video_effects, effect_scene: {scene}, {given}}}\n",
        encoding="utf-8",
    )
    return path


def test_a_manifests_file_extends_the_scenes_or_replaces_them(tmp_path: Path) -> None:
    pair = "images: [ok.png, ok.png]"
    unknown = validate(write(tmp_path, "", "twin_wave", pair))
    assert unknown.ok and len(unknown.warnings) == 1
    extended = validate(write(tmp_path, "effects: {file: mine.json}\n", "twin_wave", pair))
    assert extended.ok and not extended.warnings
    wrong = validate(write(tmp_path, "effects: {file: mine.json}\n", "twin_wave", "image: ok.png"))
    assert [str(issue).split(": ")[1] for issue in wrong.issues] == ["$.jobs[0].image"]
    replaced = "effects: {file: mine.json, replace: true}\n"
    only_mine = validate(write(tmp_path, replaced, "hug_pro", pair))
    assert only_mine.ok and "among the 1 scenes" in only_mine.warnings[0].message


def test_a_missing_effects_file_is_an_issue_at_its_line(tmp_path: Path) -> None:
    validation = validate(
        write(tmp_path, "effects: {file: gone.json}\n", "hug_pro", "image: ok.png")
    )
    said = [str(issue) for issue in validation.issues]
    assert any(
        ":4:" in line and "$.effects.file: cannot read the effects file" in line for line in said
    )


def test_effects_cost_a_default_a_video_that_pricing_overrides_by_scene() -> None:
    hug = {"effect_scene": "hug_pro", "images": ["a", "b"]}
    lion = {"effect_scene": "pet_lion_pro", "image": "a"}
    assert DEFAULT.estimate(JobKind.VIDEO_EFFECTS, hug) == EFFECT_UNITS == 3.5
    table = DEFAULT.override({"video_effects": {"hug_pro": 5, "default": 2}})
    assert (
        table.estimate(JobKind.VIDEO_EFFECTS, hug),
        table.estimate(JobKind.VIDEO_EFFECTS, lion),
    ) == (5, 2)
    assert DEFAULT.override({"video_effects": 1}).estimate(JobKind.VIDEO_EFFECTS, hug) == 1


def test_the_images_go_inside_input_and_no_watermark_info_is_sent() -> None:
    endpoint = ENDPOINTS[JobKind.VIDEO_EFFECTS, Dialect.OFFICIAL]
    body = build_body(
        {"effect_scene": "hug_pro", "images": ["https://a/1.png", "https://a/2.png"]},
        endpoint,
        external_task_id="kb-1",
    )
    assert body == {
        "effect_scene": "hug_pro",
        "input": {"images": ["https://a/1.png", "https://a/2.png"]},
        "external_task_id": "kb-1",
    }
    assert endpoint.route == "videos/effects"
