"""avatar and lip_sync through ``kbatch run``, end to end against the simulator: a local sound
file sent as base64, an image2video's made video lip-synced by its id (identify-face, then the
create with the remembered session), every file on disk, and a rerun that sends nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from kbatch.cli.app import cli
from kbatch.simulator import Simulator
from tests.project import Project

SOUNDS = Path(__file__).parent.parent / "manifests" / "sounds"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def face_jobs() -> list[dict[str, Any]]:
    """An avatar speaking a local MP3; a clip with sound, lip-synced by its id with a local WAV
    (defaults: the whole sound at the start) and with a window written."""
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
    ]


def project_of(root: Path, sim: Simulator, jobs: list[dict[str, Any]]) -> Project:
    for name in ("speech.mp3", "speech.wav"):
        (root / name).write_bytes((SOUNDS / name).read_bytes())
    return Project(root, sim, jobs)


def test_avatar_and_lip_sync_run_to_files_and_a_rerun_sends_nothing(
    tmp_path: Path, threaded: Simulator
) -> None:
    project = project_of(tmp_path, threaded, face_jobs())
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert "4 of 4 jobs done" in output
    posts = sorted(e.path for e in threaded.log if e.method == "POST")
    assert posts == sorted(
        ["/v1/videos/avatar/image2video", "/v1/videos/image2video"]
        + ["/v1/videos/identify-face", "/v1/videos/advanced-lip-sync"] * 2
    )
    for job in ("talk", "dub", "dub-window"):
        assert (project.out / job / "0.mp4").is_file(), job
    sent = len(threaded.log)
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert len(threaded.log) == sent
