"""``kbatch export`` and the source columns of reports, through the real CLI after a real run
on the simulator; what export writes is loaded by the real loaders (datasets, pyarrow)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

# Loopback only: the loader must never ask the Hub for anything (read when datasets imports).
os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"

import datasets
import pyarrow.parquet as parquet
import pytest
from click.testing import CliRunner

from kbatch.cli.app import cli
from kbatch.simulator import FAIL, Simulator
from tests.project import Project, expand, video

SHOTS = (
    "id,prompt,caption,image\n"
    "sun,a sunny street,Street at noon,ok.png\n"
    "night,a street at night,Night,ok.png\n"
)
ROOMS = '{"id": "a", "take": 1}\n{"id": "b", "take": "second"}\n'


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.fixture
def project(tmp_path: Path, threaded: Simulator) -> Project:
    (tmp_path / "shots.csv").write_text(SHOTS, encoding="utf-8")
    (tmp_path / "rooms.jsonl").write_text(ROOMS, encoding="utf-8")
    shots = {
        "kind": "image2video",
        "id": "shot-${id}-${mode}",
        "foreach": "shots.csv",
        "matrix": {"mode": ["std", "pro"]},
        "image": "${image}",
        "prompt": "${prompt}",
        "model_name": "kling-v1-6",
    }
    rooms = {**expand("room-${id}", n=2), "foreach": "rooms.jsonl"}
    jobs = [shots, rooms, video("broken", prompt=f"{FAIL} a cat")]
    made = Project(tmp_path, threaded, jobs)
    code, output = invoke("run", str(made.manifest), "--no-progress")
    assert code == 1, output  # "broken" fails every attempt
    return made


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by relative path, with its content's hash."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def load(folder: Path, builder: str, cache: Path) -> Any:
    return datasets.load_dataset(builder, data_dir=str(folder), split="train", cache_dir=str(cache))


def test_reports_carry_each_jobs_request_fields_row_columns_and_matrix_values(
    project: Project,
) -> None:
    rows = list(csv.DictReader(io.StringIO((project.out / "report.csv").read_text("utf-8"))))
    shot = next(row for row in rows if row["id"] == "shot-night-pro")
    assert shot["prompt"] == "a street at night" and shot["model"] == "kling-v1-6"
    assert shot["mode"] == "pro" and shot["matrix.mode"] == "pro"
    assert shot["row.id"] == "night" and shot["caption"] == "Night"
    assert shot["inputs"] == "ok.png" and shot["input_fields"] == "image"
    assert shot["row.image"] == "ok.png"  # "image" names the loaders' media column
    document = json.loads((project.out / "report.json").read_text("utf-8"))
    room = next(job for job in document["jobs"] if job["id"] == "room-b")
    assert room["take"] == "second" and room["inputs"] == ["ok.png"]


def test_export_hf_is_an_imagefolder_and_a_videofolder_that_datasets_loads(
    project: Project, tmp_path: Path
) -> None:
    target = tmp_path / "dataset"
    code, output = invoke("export", str(project.manifest), "-o", str(target))
    assert code == 0, output
    assert f"{target / 'images'}: 4 files" in output and f"{target / 'videos'}: 4 files" in output

    images = load(target / "images", "imagefolder", tmp_path / "cache")
    assert len(images) == 4  # two rooms, two results each
    assert sorted(images["id"]) == ["room-a", "room-a", "room-b", "room-b"]
    assert images[0]["image"].size[0] > 0  # a real decoded picture
    assert sorted(images["take"]) == ["1", "1", "second", "second"]  # mixed types become text

    lines = (target / "videos" / "metadata.jsonl").read_text("utf-8").splitlines()
    videos = [json.loads(line) for line in lines]
    assert {v["id"] for v in videos} == {
        "shot-sun-std",
        "shot-sun-pro",
        "shot-night-std",
        "shot-night-pro",
    }  # "broken" failed: not exported
    assert all((target / "videos" / v["file_name"]).is_file() for v in videos)
    assert {v["caption"] for v in videos} == {"Street at noon", "Night"}
    loaded = load(target / "videos", "videofolder", tmp_path / "cache")
    assert sorted(loaded["id"]) == sorted(v["id"] for v in videos)


def test_export_parquet_loads_with_pyarrow_and_datasets(project: Project, tmp_path: Path) -> None:
    target = tmp_path / "parquet"
    code, output = invoke("export", str(project.manifest), "--format", "parquet", "-o", str(target))
    assert code == 0, output
    table = parquet.read_table(target / "videos" / "metadata.parquet")
    assert table.num_rows == 4
    assert {"file_name", "id", "prompt", "model", "matrix.mode", "caption"} <= set(
        table.column_names
    )
    assert not (target / "videos" / "metadata.jsonl").exists()
    images = load(target / "images", "imagefolder", tmp_path / "cache")
    assert len(images) == 4 and set(images["kind"]) == {"image_expand"}


def test_a_second_export_is_identical_and_drops_what_is_gone(
    project: Project, tmp_path: Path
) -> None:
    target = tmp_path / "dataset"
    assert invoke("export", str(project.manifest), "-o", str(target))[0] == 0
    first = tree(target)
    assert invoke("export", str(project.manifest), "-o", str(target))[0] == 0
    assert tree(target) == first

    project.jobs = project.jobs[:1]  # the rooms leave the manifest
    project.save()
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert invoke("export", str(project.manifest), "-o", str(target))[0] == 0
    assert not (target / "images").exists()
    now = tree(target)
    assert set(now) == {name for name in first if not name.startswith("images/")}
    assert all(now[name] == first[name] for name in now if name.endswith(".mp4"))
    # the rooms' "take" column went with them
    assert "take" not in json.loads(
        (target / "videos" / "metadata.jsonl").read_text("utf-8").splitlines()[0]
    )


def test_removed_jobs_are_marked_in_status_and_reports_and_not_counted(
    project: Project,
) -> None:
    project.jobs = project.jobs[:2]  # "broken" leaves the manifest
    project.save()
    code, output = invoke("run", str(project.manifest), "--dry-run")
    assert code == 0 and "removed from the manifest: 1 (kept in the state, not run)" in output
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output  # the failed job is no longer this manifest's
    assert "6 of 6 jobs done" in output

    code, status = invoke("status", str(project.manifest))
    assert "6 jobs: 6 downloaded" in status
    assert "removed: 1 job of earlier runs was taken out of the manifest" in status
    code, text = invoke("status", str(project.manifest), "--format", "json")
    assert json.loads(text)["removed"] == 1

    document = json.loads((project.out / "report.json").read_text("utf-8"))
    assert document["summary"]["jobs"] == 6 and document["summary"]["removed"] == 1
    assert document["summary"]["by_state"]["failed"] == 0
    broken = next(job for job in document["jobs"] if job["id"] == "broken")
    assert broken["removed"] is True and broken["state"] == "failed"

    project.jobs.append(video("broken", prompt=f"{FAIL} a cat"))  # back, unedited
    project.save()
    invoke("run", str(project.manifest), "--no-progress")
    code, status = invoke("status", str(project.manifest))
    assert "7 jobs: 6 downloaded, 1 failed" in status and "\nremoved:" not in status


def test_export_refuses_a_folder_that_is_not_an_earlier_export(
    project: Project, tmp_path: Path
) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me", encoding="utf-8")
    code, output = invoke("export", str(project.manifest), "-o", str(target))
    assert code == 2
    assert "is not empty and holds no earlier kbatch export" in output
    assert "Traceback" not in output and [p.name for p in target.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "zip"], "Invalid value for '--format'"),
        ([], "Missing option '-o'"),
    ],
)
def test_export_options_are_checked(project: Project, args: list[str], message: str) -> None:
    code, output = invoke("export", str(project.manifest), *args)
    assert code == 2 and message in output


def test_export_before_any_run_says_so(tmp_path: Path, threaded: Simulator) -> None:
    fresh = Project(tmp_path, threaded, [video("a")])
    code, output = invoke("export", str(fresh.manifest), "-o", str(tmp_path / "d"))
    assert code != 0 and "has not been run yet" in output


def test_parquet_without_pyarrow_says_how_to_get_it(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if the extra were not installed
    target = tmp_path / "p"
    code, output = invoke("export", str(project.manifest), "--format", "parquet", "-o", str(target))
    assert code == 2 and "pip install 'kbatch[parquet]'" in output
    assert not target.exists(), "nothing is written before the check"
