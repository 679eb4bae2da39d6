"""Omni image and video effects through ``kbatch run`` on the simulator: single images, a
series of a given size and one of ``auto`` size, a one-image and a two-image effect; every file
lands on disk, the reports name them, and a second run sends nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kbatch.simulator import Simulator
from tests.project import Project, invoke

OMNI = {"kind": "omni_image", "model_name": "kling-v3-omni", "prompt": "a fox, <<<image_1>>>"}
JOBS: list[dict[str, Any]] = [
    {"id": "single", "kind": "omni_image", "prompt": "a fox", "image_list": ["ok.png"], "n": 2},
    {**OMNI, "id": "series", "image_list": [{"image": "ok.png"}], "result_type": "series"}
    | {"series_amount": 3, "resolution": "4k"},
    {**OMNI, "id": "auto", "image_list": ["ok.jpg"], "result_type": "series"}
    | {"series_amount": "auto"},
    {"id": "lion", "kind": "video_effects", "effect_scene": "pet_lion_pro", "image": "ok.png"},
    {"id": "hug", "kind": "video_effects", "effect_scene": "hug_pro"}
    | {"images": ["ok.png", "ok.jpg"]},
]


def test_both_kinds_run_to_files_on_disk_and_a_rerun_sends_nothing(
    tmp_path: Path, threaded: Simulator
) -> None:
    project = Project(tmp_path, threaded, JOBS)
    project.limits["max_in_flight"] = 9  # an auto series may hold 9 image slots
    project.save()
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert f"{project.manifest}: 5 of 5 jobs done" in output

    files = {p.relative_to(project.out).as_posix() for p in project.out.rglob("*.*")}
    assert {"single/0.png", "single/1.png", "lion/0.mp4", "hug/0.mp4"} <= files
    assert {f"series/{i}.png" for i in range(3)} <= files and "series/3.png" not in files
    made = sorted(name for name in files if name.startswith("auto/"))
    assert 2 <= len(made) <= 9 and made == [f"auto/{i}.png" for i in range(len(made))]
    assert project.check_files() == 2 + 3 + len(made) + 2

    # Charged at the vendor's prices: 8 an image, 16 at 4k on kling-v3-omni; an auto series
    # for the images it made. Effects at kbatch's default, 3.5.
    units = dict(project.query("SELECT id, units FROM jobs"))
    assert units == {"single": 16, "series": 48, "auto": 8 * len(made), "lion": 3.5, "hug": 3.5}
    report = (project.out / "report.csv").read_text(encoding="utf-8")
    assert "auto/0.png" in report and "hug/0.mp4" in report

    sent = len(threaded.log)
    assert sum(e.method == "POST" for e in threaded.log) == 5
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert not [e for e in list(threaded.log)[sent:] if e.method == "POST"]


def test_plan_counts_a_series_at_its_largest_and_effects_at_the_default(
    tmp_path: Path, threaded: Simulator
) -> None:
    project = Project(tmp_path, threaded, JOBS)
    project.limits["max_in_flight"] = 9
    project.extra["pricing"] = {"video_effects": {"hug_pro": 5}}
    project.save()
    code, output = invoke("plan", str(project.manifest))
    assert code == 0, output
    # 2*8 + 3*16 + 9*8 (auto: at most 9) image units; 3.5 + 5 video units.
    assert "136" in output and "8.5" in output
