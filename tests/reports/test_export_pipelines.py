"""``kbatch export`` of a pipeline: one dataset row per job, with the files of the jobs it took
from as further columns, placed in its folder: the image loader loads a widened image with its
source image, a video's row names the image it was made from."""

from __future__ import annotations

import json
import os
from pathlib import Path

# Loopback only: the loader must never ask the Hub for anything (read when datasets imports).
os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"

import datasets

from kbatch.simulator import Simulator
from tests.cli.test_pipelines import pipeline
from tests.project import invoke


def test_a_pipeline_exports_rows_with_their_upstreams_files(
    tmp_path: Path, threaded: Simulator
) -> None:
    project = pipeline(tmp_path, threaded)
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    target = tmp_path / "dataset"
    code, output = invoke("export", str(project.manifest), "-o", str(target))
    assert code == 0, output

    images = datasets.load_dataset(
        "imagefolder", data_dir=str(target / "images"), split="train", cache_dir=str(tmp_path)
    )
    rows = {row["id"]: row for row in images}
    assert set(rows) == {"still-1", "still-2", "wide-1", "wide-2", "duo"}  # one row per job
    assert rows["still-1"]["upstream"] == []
    [source] = rows["wide-1"]["upstream"]  # a decoded picture: still-1's
    assert source.size == rows["still-1"]["image"].size
    assert len(rows["duo"]["upstream"]) == 2

    lines = (target / "videos" / "metadata.jsonl").read_text("utf-8").splitlines()
    videos = {row["id"]: row for row in map(json.loads, lines)}
    assert set(videos) == {"clip-1", "clip-2"}
    assert videos["clip-1"]["upstream_image_paths"] == ["still-1/0.png"]
    assert (target / "videos" / "still-1" / "0.png").read_bytes() == (
        project.out / "still-1" / "0.png"
    ).read_bytes()
