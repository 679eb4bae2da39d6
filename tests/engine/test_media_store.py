"""Local media through an S3-compatible store, end to end: a manifest with local reference
videos (omni video, motion control) and local images sent by URL (``media.images: url``), run
against the simulator's new API with a real S3 server (moto) on loopback. Each file is uploaded
once, the simulator fetches each presigned URL and checks the file, every result lands on disk,
and a rerun uploads and sends nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kbatch.cli.app import cli
from kbatch.simulator import Simulator
from kbatch.store.records import FailureReason, JobState
from tests.clips import clip
from tests.objectstore import S3Server, s3_server
from tests.project import Project

BUCKET = "kbatch-media"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    with s3_server(monkeypatch, BUCKET) as server:
        yield server


def local_jobs() -> list[dict[str, Any]]:
    """Three jobs over two local videos and one local image: dance.mp4 used twice."""
    motion = {"kind": "motion_control", "image": "ok.png", "character_orientation": "image"}
    return [
        {**motion, "id": "motion-a", "video": "clips/dance.mp4"},
        {**motion, "id": "motion-b", "video": "clips/dance.mp4", "mode": "pro"},
        {
            "kind": "omni_video",
            "id": "omni-base",
            "prompt": "make @video_1 snowy",
            "video": "clips/wide.mp4",
            "video_refer_type": "base",
        },
    ]


def project(tmp_path: Path, sim: Simulator, media: dict[str, Any]) -> Project:
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "dance.mp4").write_bytes(clip(6))
    (tmp_path / "clips" / "wide.mp4").write_bytes(clip(8, 1920, 1080))
    return Project(tmp_path, sim, local_jobs(), extra={"media": media})


def test_each_local_file_is_uploaded_once_fetched_by_url_and_a_rerun_sends_nothing(
    tmp_path: Path, threaded: Simulator, s3: S3Server
) -> None:
    proj = project(tmp_path, threaded, {"store": f"s3://{BUCKET}/runs", "images": "url"})
    result = CliRunner().invoke(cli, ["validate", str(proj.manifest)])
    assert result.exit_code == 0, result.output
    assert "media: 3 local files" in result.output  # dance, wide, ok.png
    assert s3.count("PUT", ".mp4") == 0  # validate uploads nothing

    outcome = proj.run()
    import asyncio

    outcome = asyncio.run(outcome)
    assert outcome.counts[JobState.DOWNLOADED] == 3
    assert proj.check_files() == 3
    # Once per file: two videos and the image, named by content under the prefix.
    assert s3.count("PUT", ".mp4", signed=False) == 2
    assert s3.count("PUT", ".png", signed=False) == 1
    # The simulator fetched each URL it was sent: 3 jobs x (video + image).
    assert s3.count("GET", ".mp4", signed=True) == 3
    assert s3.count("GET", ".png", signed=True) == 3
    assert sorted(name for _, name, _ in proj_uploads(proj)) == sorted(
        name for verb, name, _ in s3.requests if verb == "PUT" and name.count("/") == 3
    ) or len(proj_uploads(proj)) == 3
    # No presigned URL is kept: not in the state, not in the reports.
    assert not any("X-Amz-Signature" in path.read_text(errors="ignore") for path in texts(proj))

    before, sent = len(s3.requests), len(threaded.log)
    again = asyncio.run(proj.run())
    assert again.counts[JobState.DOWNLOADED] == 3
    assert len(s3.requests) == before  # no HEAD, no PUT: the state knows the objects
    assert len(threaded.log) == sent  # nothing sent to the provider


def proj_uploads(proj: Project) -> list[tuple[str, str, int]]:
    return [(str(a), str(b), int(c)) for a, b, c in proj.query("SELECT store, name, size FROM uploads")]


def texts(proj: Project) -> list[Path]:
    return [p for p in proj.out.rglob("*") if p.is_file() and p.suffix in (".csv", ".json", ".jsonl", ".html", ".sqlite3")]
