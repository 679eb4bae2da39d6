"""Local media that Kling takes by URL, end to end against the simulator's new API (which
fetches every URL it is sent, as Kling does, and checks the video it gets).

Through a store: local reference videos (omni video, motion control) and local images
(``media.images: url``), with a real S3 server (moto) on loopback; each file is uploaded once,
the simulator fetches each presigned URL, every result lands on disk, and a rerun uploads and
sends nothing. Without a bucket (``media: {serve: true}``): the same from the run's listener.
A file Kling would refuse is never uploaded; an upload that keeps failing fails only the jobs
that need it, with the store's message, and nothing is sent for them.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kbatch.cli.app import cli
from kbatch.provider.config import Listen
from kbatch.simulator import Simulator
from kbatch.store.records import FailureReason, JobState
from tests.clips import clip
from tests.objectstore import S3Server, s3_server
from tests.project import Project


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    with s3_server(monkeypatch) as server:
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
    (tmp_path / "clips").mkdir(parents=True, exist_ok=True)
    (tmp_path / "clips" / "dance.mp4").write_bytes(clip(6))
    (tmp_path / "clips" / "wide.mp4").write_bytes(clip(8, 1920, 1080))
    return Project(tmp_path, sim, local_jobs(), extra={"media": media})


def kept_texts(proj: Project) -> str:
    """Everything the run kept: the state and the reports."""
    kept = [p for p in proj.out.rglob("*") if p.is_file() and p.suffix != ".mp4"]
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in kept)


def test_each_local_file_is_uploaded_once_fetched_by_url_and_a_rerun_sends_nothing(
    tmp_path: Path, threaded: Simulator, s3: S3Server, backend: str
) -> None:
    """On a state file and on a shared PostgreSQL state (its uploads table)."""
    proj = project(tmp_path, threaded, {"store": f"s3://{s3.bucket}/runs", "images": "url"})
    for command in (["validate"], ["plan"], ["run", "--dry-run"]):
        result = CliRunner().invoke(cli, [*command, str(proj.manifest)])
        assert result.exit_code == 0, result.output
        assert "media: 3 local files (" in result.output, command  # dance, wide, ok.png
    assert len(s3.requests) == 1  # the bucket's creation: nothing was uploaded or asked

    outcome = asyncio.run(proj.run())
    assert outcome.counts[JobState.DOWNLOADED] == 3
    assert proj.check_files() == 3
    # Once per file: two videos and the image, named by content under the prefix.
    assert s3.count("PUT", ".mp4", signed=False) == 2
    assert s3.count("PUT", ".png", signed=False) == 1
    assert all(path.startswith(f"/{s3.bucket}/runs/") for verb, path, _ in s3.requests[1:])
    # The simulator fetched each URL it was sent: three videos, two images.
    assert s3.count("GET", ".mp4", signed=True) == 3
    assert s3.count("GET", ".png", signed=True) == 2
    assert sorted(size for (size,) in proj.query("SELECT size FROM uploads")) == sorted(
        [len(clip(6)), len(clip(8, 1920, 1080)), (tmp_path / "ok.png").stat().st_size]
    )
    assert "X-Amz-Signature" not in kept_texts(proj)  # no presigned URL is kept
    assert not any("X-Amz-Signature" in event.message for event in proj.events)

    before, sent = len(s3.requests), len(threaded.log)
    again = asyncio.run(proj.run())
    assert again.counts[JobState.DOWNLOADED] == 3
    assert len(s3.requests) == before  # no HEAD, no PUT: the state knows the objects
    assert len(threaded.log) == sent  # nothing sent to the provider


def test_an_object_already_in_the_bucket_is_not_sent_again(
    tmp_path: Path, threaded: Simulator, s3: S3Server
) -> None:
    """A second project (another state) on the same bucket: HEAD finds each object."""
    first = project(tmp_path / "one", threaded, {"store": f"s3://{s3.bucket}/shared"})
    asyncio.run(first.run())
    assert s3.count("PUT", ".mp4") == 2
    second = project(tmp_path / "two", threaded, {"store": f"s3://{s3.bucket}/shared"})
    outcome = asyncio.run(second.run())
    assert outcome.counts[JobState.DOWNLOADED] == 3
    assert s3.count("PUT", ".mp4") == 2  # none more
    assert s3.count("HEAD", ".mp4") == 4  # each object looked at once per state


def test_a_video_kling_would_refuse_is_never_uploaded(
    tmp_path: Path, threaded: Simulator, s3: S3Server
) -> None:
    proj = project(tmp_path, threaded, {"store": f"s3://{s3.bucket}/runs"})
    (tmp_path / "clips" / "dance.mp4").write_bytes(clip(40))  # motion control takes 3..10 s
    result = CliRunner().invoke(cli, ["run", str(proj.manifest), "--no-progress"])
    assert result.exit_code != 0
    assert 'dance.mp4" lasts 40.0 s' in result.output
    assert len(s3.requests) == 1  # the bucket's creation only
    assert len(threaded.log) == 0


def test_an_upload_that_keeps_failing_fails_only_the_jobs_that_need_it(
    tmp_path: Path, threaded: Simulator, s3: S3Server
) -> None:
    """The bucket is not there for the omni job's prefix: motion jobs go on."""
    proj = project(tmp_path, threaded, {"store": f"s3://{s3.bucket}-gone/runs"})
    proj.jobs = [{**job, "video": "clips/dance.mp4"} for job in local_jobs()[:1]]
    proj.jobs.append({"id": "plain", "kind": "text2video", "prompt": "a fox"})
    proj.save()
    outcome = asyncio.run(proj.run())
    rows = proj.rows()
    assert rows["plain"].state is JobState.DOWNLOADED
    failed = rows["motion-a"]
    assert failed.state is JobState.FAILED and failed.error_reason == FailureReason.MEDIA
    assert "dance.mp4 could not be uploaded" in (failed.error_message or "")
    assert "NoSuchBucket: The specified bucket does not exist (HTTP 404)" in (
        failed.error_message or ""
    )
    assert failed.attempt == 0  # nothing was sent for it
    assert outcome.counts[JobState.FAILED] == 1
    assert proj.query("SELECT COUNT(*) FROM uploads") == [(0,)]  # the claim was given back


def test_a_refused_upload_is_tried_again_with_backoff(
    tmp_path: Path, threaded: Simulator, s3: S3Server
) -> None:
    """The store refuses the first two PUTs: the third goes through (the tests' pacing gives up
    at the third failure in a row), and the job runs."""
    proj = project(tmp_path, threaded, {"store": f"s3://{s3.bucket}/runs"})
    proj.jobs = local_jobs()[:1]
    proj.save()
    s3.refuse_puts[0] = 2
    outcome = asyncio.run(proj.run())
    assert outcome.counts[JobState.DOWNLOADED] == 1
    assert s3.count("PUT", ".mp4") == 3
    waits = [e.message for e in proj.named("upload") if "trying the upload again" in e.message]
    assert len(waits) == 2 and all("AccessDenied: Access Denied" in w for w in waits)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_without_a_bucket_the_listener_serves_the_files(
    tmp_path: Path, threaded: Simulator
) -> None:
    proj = project(tmp_path, threaded, {"serve": True, "images": "url"})
    result = CliRunner().invoke(cli, ["run", str(proj.manifest), "--no-progress"])
    assert result.exit_code != 0 and "--listen" in result.output  # serving needs a listener
    port = free_port()
    listen = Listen("127.0.0.1", port, f"http://127.0.0.1:{port}")
    outcome = asyncio.run(proj.run(listen=listen))
    assert outcome.counts[JobState.DOWNLOADED] == 3
    assert proj.check_files() == 3
    assert "/kbatch/media/" not in kept_texts(proj)
