"""omni_video and motion_control through ``kbatch run``, end to end: every model of each kind on
the simulator's new API, the reference videos served on loopback by a small file server (as a
CDN would serve them to Kling), every result on disk, and a second run that sends nothing."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kbatch import validate
from kbatch.simulator import Simulator
from tests.clips import serving
from tests.conftest import REPO
from tests.project import Project, invoke


@pytest.fixture
def cdn(tmp_path: Path) -> Iterator[str]:
    """A file server on 127.0.0.1 with ``dance.mp4`` (6 s), ``long.mp4`` (20 s) and
    ``wide.mp4`` (8 s, 1920x1080), among others: the base URL."""
    with serving(tmp_path / "cdn") as url:
        yield url


def jobs(cdn: str) -> list[dict[str, Any]]:
    """One job per model and use: omni 3.0 from a prompt, frames and references, a feature and
    a base video; O1 from references and a feature video; motion control on both models."""
    omni, o1 = {"kind": "omni_video"}, {"kind": "omni_video", "model_name": "kling-o1"}
    motion = {"kind": "motion_control", "image": "ok.png", "video": f"{cdn}/dance.mp4"}
    return [
        {**omni, "id": "omni-prompt", "prompt": "a fox in snow", "aspect_ratio": "16:9"},
        {
            **omni,
            "id": "omni-frames",
            "prompt": "the cat of @image_1 walks to the end frame",
            "image": "ok.png",
            "image_tail": "ok.jpg",
            "image_list": ["ok.png"],
            "element_list": [{"element_id": "881"}],
            "mode": "pro",
            "duration": 8,
        },
        {
            **omni,
            "id": "omni-feature",
            "prompt": "shot 1, 3, a dancer; shot 2, 5, the dancer bows;",
            "video": f"{cdn}/wide.mp4",
            "image_list": ["ok.png", "ok.jpg"],
            "duration": 8,
        },
        {
            **omni,
            "id": "omni-base",
            "prompt": "make @video_1 snowy",
            "video": f"{cdn}/wide.mp4",
            "video_refer_type": "base",
            "audio": "original",
            "mode": "4k",
        },
        {
            **o1,
            "id": "o1-refs",
            "prompt": "@image_1 in a park",
            "image_list": ["ok.png"],
            "aspect_ratio": "1:1",
        },
        {
            **o1,
            "id": "o1-feature",
            "prompt": "the same motion, at night",
            "video": f"{cdn}/dance.mp4",
            "image": "ok.png",
        },
        {**motion, "id": "motion-26", "character_orientation": "image"},
        {
            **motion,
            "id": "motion-30",
            "model_name": "kling-3.0",
            "character_orientation": "video",
            "video": f"{cdn}/long.mp4",
            "element_list": [{"element_id": "42"}],
            "mode": "pro",
            "audio": "off",
        },
    ]


def test_every_model_of_both_kinds_runs_to_files_and_a_rerun_sends_nothing(
    tmp_path: Path, threaded: Simulator, cdn: str
) -> None:
    project = Project(tmp_path, threaded, jobs(cdn))
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert f"{project.manifest}: 8 of 8 jobs done" in output
    assert project.check_files() == 8
    paths = sorted(exchange.path for exchange in threaded.log if exchange.method == "POST")
    assert paths == sorted(
        ["/omni-video/kling-3.0-omni"] * 4
        + ["/omni-video/kling-o1"] * 2
        + ["/motion-control/kling-2.6", "/motion-control/kling-3.0"]
    )
    assert {path.suffix for path in (project.out).glob("*/0.*")} == {".mp4"}
    sent = len(threaded.log)
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert len(threaded.log) == sent  # nothing asked of the provider: every job is done


def test_reports_the_gallery_and_the_export_show_the_videos(
    tmp_path: Path, threaded: Simulator, cdn: str
) -> None:
    project = Project(tmp_path, threaded, jobs(cdn)[5:])  # o1-feature and both motion jobs
    assert invoke("run", str(project.manifest), "--no-progress")[0] == 0
    code, output = invoke("report", str(project.manifest), "--format", "json")
    assert code == 0, output
    rows = {row["id"]: row for row in json.loads(output)["jobs"]}
    assert {row["kind"] for row in rows.values()} == {"omni_video", "motion_control"}
    assert all(row["state"] == "downloaded" for row in rows.values())
    # the reference video is an input of the job, as given, beside its images
    assert (rows["motion-26"]["inputs"], rows["motion-26"]["input_fields"]) == (
        ["ok.png", f"{cdn}/dance.mp4"],
        ["image", "video"],
    )
    assert rows["motion-30"]["mode"] == "pro" and f"{cdn}/long.mp4" in rows["motion-30"]["inputs"]
    assert rows["o1-feature"]["inputs"][-1] == f"{cdn}/dance.mp4"
    gallery = (project.out / "index.html").read_text(encoding="utf-8")
    assert gallery.count("<video controls") == 3 and 'data-kind="motion_control"' in gallery
    code, output = invoke("export", str(project.manifest), "-o", str(tmp_path / "dataset"))
    assert code == 0, output
    lines = (tmp_path / "dataset" / "videos" / "metadata.jsonl").read_text().splitlines()
    exported = {json.loads(line)["id"]: json.loads(line) for line in lines}
    assert exported["motion-26"]["inputs"] == ["ok.png", f"{cdn}/dance.mp4"]
    assert sorted(json.loads(line)["kind"] for line in lines) == [
        "motion_control",
        "motion_control",
        "omni_video",
    ]


def test_motion_control_is_estimated_on_its_videos_seconds(
    tmp_path: Path, threaded: Simulator, cdn: str
) -> None:
    """Kling bills the seconds made, at most the video's: 6 s at 2.6's std price (0.5/s), and
    20 s at 3.0's pro price (1.2/s)."""
    project = Project(tmp_path, threaded, [job for job in jobs(cdn) if "motion" in job["id"]])
    code, output = invoke("plan", str(project.manifest))
    assert code == 0, output
    validation = validate(project.manifest)
    requests = {job.id: job.request for job in validation.summary.first}
    assert requests["motion-26"]["duration"] == "6"
    assert requests["motion-30"]["duration"] == "20"
    assert validation.manifest is not None
    units = validation.summary.units_by_kind(validation.manifest.pricing)
    assert list(units.values()) == [pytest.approx(6 * 0.5 + 20 * 1.2)]


def test_the_shipped_new_kinds_manifest_runs_on_the_simulator(tmp_path: Path, cdn: str) -> None:
    """manifests/new-kinds/new-kinds.yaml names its video at 127.0.0.1:8765; here a file server
    on another port stands in for it."""
    source = REPO / "manifests" / "new-kinds"
    shutil.copytree(REPO / "manifests" / "images", tmp_path / "images")
    folder = tmp_path / "new-kinds"
    folder.mkdir()
    text = (source / "new-kinds.yaml").read_text(encoding="utf-8")
    manifest = folder / "new-kinds.yaml"
    manifest.write_text(text.replace("http://127.0.0.1:8765", cdn), encoding="utf-8")
    code, output = invoke("run", str(manifest), "--no-progress")
    assert code == 0, output
    assert "4 of 4 jobs done" in output
    assert len(list((folder / "out" / "new-kinds").glob("*/0.mp4"))) == 4
