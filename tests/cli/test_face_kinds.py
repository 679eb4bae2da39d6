"""avatar and lip_sync through ``kbatch run``, end to end against the simulator: a local sound
file sent as base64, an image2video's made video lip-synced by its id (identify-face, then the
create with the remembered session), every file on disk, and a rerun that sends nothing."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kbatch.simulator import Simulator, SimulatorConfig
from kbatch.simulator.audio import wav
from kbatch.store import JobState
from tests.clips import serving
from tests.conftest import in_a_thread
from tests.project import Project, invoke

SOUNDS = Path(__file__).parent.parent / "manifests" / "sounds"


def face_jobs() -> list[dict[str, Any]]:
    """An avatar speaking a local MP3; a clip with sound, lip-synced by its id with a local WAV
    (defaults: the whole sound at the start) and with a window written; the avatar's video
    lip-synced too."""
    return [
        {"id": "talk", "kind": "avatar", "image": "ok.png", "sound_file": "speech.mp3"},
        {
            "id": "clip",
            "kind": "image2video",
            "image": "ok.png",
            "prompt": "a cat talks",
            "model_name": "kling-v2-6",
            "mode": "pro",
            "sound": "on",
        },
        {"id": "dub", "kind": "lip_sync", "video_id": "job:clip", "sound_file": "speech.wav"},
        {
            "id": "dub-window",
            "kind": "lip_sync",
            "video_id": "job:clip",
            "sound_file": "speech.wav",
            "sound_start_time": 500,
            "sound_end_time": 3000,
            "sound_insert_time": 1000,
            "sound_volume": 1.5,
            "original_audio_volume": 0.5,
        },
        # the avatar's own video (3 s) made to speak 2.5 s of the WAV
        {"id": "dub-talk", "kind": "lip_sync", "video_id": "job:talk"}
        | {"sound_file": "speech.wav", "sound_end_time": 2500},
    ]


def project_of(root: Path, sim: Simulator, jobs: list[dict[str, Any]]) -> Project:
    for name in ("speech.mp3", "speech.wav"):
        (root / name).write_bytes((SOUNDS / name).read_bytes())
    return Project(root, sim, jobs)


@pytest.fixture
def strict() -> Iterator[Simulator]:
    """A simulator as strict as Kling's pages (no unknown field, no empty string)."""
    with in_a_thread(SimulatorConfig(task_seconds=0.05, strict=True)) as simulator:
        yield simulator


def test_avatar_and_lip_sync_run_to_files_and_a_rerun_sends_nothing(
    tmp_path: Path, strict: Simulator
) -> None:
    threaded = strict
    project = project_of(tmp_path, threaded, face_jobs())
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert "5 of 5 jobs done" in output
    posts = sorted(e.path for e in threaded.log if e.method == "POST")
    assert posts == sorted(
        ["/v1/videos/avatar/image2video", "/v1/videos/image2video"]
        + ["/v1/videos/identify-face", "/v1/videos/advanced-lip-sync"] * 3
    )
    assert served_files(project) == 5  # each job's 0.mp4, with the bytes served
    sent = len(threaded.log)
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert len(threaded.log) == sent


def served_files(project: Project) -> int:
    """Every recorded result file is on disk with the bytes the simulator serves; their count."""
    rows = project.query("SELECT url, path, sha256 FROM media")
    for url, path, sha256 in rows:
        with urllib.request.urlopen(url) as answer:  # the simulator, on loopback
            served = answer.read()
        data = (project.out / path).read_bytes()
        assert data == served and hashlib.sha256(data).hexdigest() == sha256, path
    return len(rows)


def test_reports_the_gallery_and_the_export_show_the_face_videos(
    tmp_path: Path, threaded: Simulator
) -> None:
    project = project_of(tmp_path, threaded, face_jobs()[:3])
    assert invoke("run", str(project.manifest), "--no-progress")[0] == 0
    assert served_files(project) == 3
    code, output = invoke("report", str(project.manifest), "--format", "json")
    assert code == 0, output
    rows = {row["id"]: row for row in json.loads(output)["jobs"]}
    assert rows["talk"]["input_fields"] == ["image", "sound_file"]
    assert rows["talk"]["inputs"] == ["ok.png", "speech.mp3"]
    assert rows["dub"]["input_fields"] == ["video_id", "sound_file"]
    assert rows["dub"]["inputs"] == ["job:clip", "speech.wav"] and rows["dub"]["upstreams"]
    assert rows["dub"]["units"] == pytest.approx(0.55)  # 0.5 per 5 s, and identify's 0.05
    gallery = (project.out / "index.html").read_text(encoding="utf-8")
    assert gallery.count("<video controls") == 3 and 'data-kind="lip_sync"' in gallery
    code, output = invoke("export", str(project.manifest), "-o", str(tmp_path / "dataset"))
    assert code == 0, output
    lines = (tmp_path / "dataset" / "videos" / "metadata.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["kind"] for line in lines) == [
        "avatar",
        "image2video",
        "lip_sync",
    ]


@pytest.fixture
def cdn(tmp_path: Path) -> Iterator[str]:
    """Videos and a 3 s WAV served on 127.0.0.1, as a CDN serves them to Kling."""
    folder = tmp_path / "cdn"
    folder.mkdir()
    (folder / "line.wav").write_bytes(wav(3.0))
    with serving(folder) as url:
        yield url


def test_a_lip_sync_by_urls_picks_its_face_and_reads_the_sound_s_length(
    tmp_path: Path, threaded: Simulator, cdn: str
) -> None:
    """A 6 s video by URL has two faces (0: all of it, 1: its second half); the sound by URL
    is read at the run (3 s: the default window is all of it). A face not found, or a window
    that misses the face, fails the job after identify-face and before the lip-sync is paid."""
    dub = {"kind": "lip_sync", "video_url": f"{cdn}/dance.mp4", "sound_file": f"{cdn}/line.wav"}
    jobs: list[dict[str, Any]] = [
        {"id": "second-face", **dub, "face_id": "1", "sound_insert_time": 3000},
        {"id": "no-such-face", **dub, "face_id": "2"},
        {"id": "misses-the-face", **dub, "face_id": "1"},
    ]
    project = Project(tmp_path, threaded, jobs)
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 1, output
    rows = project.rows()
    assert rows["second-face"].state is JobState.DOWNLOADED
    (sent,) = [t for t in threaded.blocks.made.tasks.values() if t.block.value == "lip_sync"]
    choose = sent.fields["face_choose"][0]
    assert (choose["face_id"], choose["sound_start_time"], choose["sound_end_time"]) == (
        "1",
        0,
        3000,
    )
    assert rows["no-such-face"].error_message == (
        "Kling found no face '2' in the video (faces found: 0, 1); nothing more is paid"
    )
    message = rows["misses-the-face"].error_message or ""
    assert "overlaps face 1 (seen 3000-6000 ms) by 0 ms" in message
    # Refused before the lip-sync was paid, but after identify-face was: its 0.05 counts.
    for job_id in ("no-such-face", "misses-the-face"):
        assert rows[job_id].units == pytest.approx(0.05), job_id
    query = "SELECT job_id, charged_units FROM attempts WHERE outcome = 'rejected'"
    assert sorted(project.query(query)) == [("misses-the-face", 0.05), ("no-such-face", 0.05)]
    posts = [e.path for e in threaded.log if e.method == "POST"]
    assert posts.count("/v1/videos/identify-face") == 3
    assert posts.count("/v1/videos/advanced-lip-sync") == 1
