"""Speech, sound effects and sound for a video (``tts``, ``text2audio``, ``video2audio``) through
``kbatch run`` on a strict simulator: every file on disk with the bytes the simulator served,
the reports, the export and the gallery name them, a rerun sends nothing; and the sync call's
safety: a tts answer lost on the way, or a run killed during the call, ends ``lost`` with one
call at the simulator, never a silent second one."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kbatch.errors import ExitCode
from kbatch.simulator import Fault, FaultPlan, Op, Simulator, SimulatorConfig, running
from kbatch.simulator.blockroutes import render
from kbatch.store import JobState, locate
from tests.conftest import in_a_thread
from tests.project import Project, invoke, spawn, video

TTS = "POST /v1/audio/tts"
SPEECH = {
    "id": "line",
    "kind": "tts",
    "text": "Hello from the lighthouse",
    "voice_id": "oversea_male1",
}
JOBS: list[dict[str, Any]] = [
    SPEECH | {"voice_language": "en", "voice_speed": 1.2},
    {"id": "rain", "kind": "text2audio", "prompt": "rain on a tin roof", "duration": 4.5},
    video("clip"),
    {"id": "clip-sound", "kind": "video2audio", "video_id": "job:clip"}
    | {"sound_effect_prompt": "a cat yawns", "asmr_mode": True},
    {"id": "clip-music", "kind": "video2audio", "video_url": "job:clip", "bgm_prompt": "piano"},
]


@pytest.fixture
def strict() -> Iterator[Simulator]:
    """A strict simulator in a thread: a field the route does not take is refused."""
    with in_a_thread(SimulatorConfig(task_seconds=0.05, strict=True)) as sim:
        yield sim


def served_files(project: Project, sim: Simulator) -> dict[str, str]:
    """Every recorded file (path: variant), checked to hold the bytes the simulator served."""
    found = {}
    with locate(project.out, project.state).read(manifest_name=project.name) as state:
        rows, media = state.load(), state.all_media()
    for job_id, items in media.items():
        task_id = rows[job_id].task_id
        for item in items:
            assert item.path is not None, (job_id, item)
            data = (project.out / item.path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == item.sha256
            if task_id in sim.blocks.made.tasks:  # a block's file, by the name it served
                task, name = sim.blocks.made.tasks[task_id], item.url.rsplit("/", 1)[1]
                expected, _ = render(task, name, videos=sim.config.videos)
                assert data == expected, (job_id, item.path)
            found[item.path] = item.variant
    return found


def test_the_audio_kinds_run_to_files_on_disk_and_a_rerun_sends_nothing(
    tmp_path: Path, strict: Simulator
) -> None:
    project = Project(tmp_path, strict, JOBS)
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert f"{project.manifest}: 5 of 5 jobs done" in output

    files = served_files(project, strict)
    assert files == {
        "line/0.mp3": "",
        "rain/0.mp3": "",
        "rain/0.wav": "wav",
        "clip/0.mp4": "",
        **{f"{job}/0.mp4": "" for job in ("clip-sound", "clip-music")},
        **{f"{job}/1.mp3": "" for job in ("clip-sound", "clip-music")},
        **{f"{job}/1.wav": "wav" for job in ("clip-sound", "clip-music")},
    }
    # The vendor's prices, a call each: speech 0.05, a sound 0.25; the tts is answered at once.
    units = dict(project.query("SELECT id, units FROM jobs WHERE kind != 'image2video'"))
    assert units == {"line": 0.05, "rain": 0.25, "clip-sound": 0.25, "clip-music": 0.25}
    made = dict(project.query("SELECT job_id, made_id FROM media WHERE kind = 'audio'"))
    assert made["line"] and made["rain"]  # the audio_id avatar and lip-sync take
    # video2audio was sent the made video's id, and its URL (job:clip in each field)
    sent = [e for e in strict.log if e.method == "POST" and "video-to-audio" in e.path]
    assert len(sent) == 2 and strict.requests[TTS] == 1

    report = (project.out / "report.csv").read_text(encoding="utf-8")
    assert "line/0.mp3" in report and "Hello from the lighthouse" in report
    gallery = (project.out / "index.html").read_text(encoding="utf-8")
    assert '<audio controls preload="none" src="line/0.mp3">' in gallery
    code, output = invoke("export", str(project.manifest), "-o", str(tmp_path / "ds"))
    assert code == 0, output
    rows = (tmp_path / "ds" / "audios" / "metadata.jsonl").read_text(encoding="utf-8")
    names = [json.loads(line)["file_name"] for line in rows.splitlines()]
    assert {"line/0.mp3", "rain/0.mp3", "clip-sound/1.mp3"} <= set(names)
    assert "audiofolder" in output

    before = len(strict.log)
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert not [e for e in list(strict.log)[before:] if e.method == "POST"]


@pytest.mark.usefixtures("backend")  # on the state file and on a shared PostgreSQL state
async def test_a_lost_tts_answer_fails_lost_and_is_never_called_again(tmp_path: Path) -> None:
    plan = FaultPlan()
    plan.script(Op.CREATE, Fault.TIMEOUT_AFTER_CREATE)  # made (and charged), then a 504
    config = SimulatorConfig(task_seconds=0.05, faults=plan, videos=False)
    async with running(config) as sim:
        project = Project(tmp_path, sim, [SPEECH])
        result = await project.run()
        row = project.rows()["line"]
        assert result.exit_code != ExitCode.OK and plan.pending == 0
        assert (row.state, row.error_reason) == (JobState.FAILED, "lost")
        assert row.error_message is not None and "--retry-failed" in row.error_message
        assert "may pay a second time" in row.error_message
        outcomes = project.query("SELECT outcome FROM attempts WHERE job_id = 'line'")
        assert outcomes == [("lost",)]
        await project.run()  # a rerun does not call again by itself
        assert sim.requests[TTS] == 1 and len(sim.blocks.made.tasks) == 1

        again = await project.run(retry_failed=True)  # the user's choice: a second call
        assert again.exit_code == ExitCode.OK and sim.requests[TTS] == 2
        assert project.rows()["line"].state is JobState.DOWNLOADED


@pytest.mark.usefixtures("backend")
async def test_a_run_killed_during_the_tts_call_leaves_it_lost_not_called_again(
    tmp_path: Path,
) -> None:
    async with running(SimulatorConfig(task_seconds=0.05, videos=False)) as sim:
        sound = {"id": "rain", "kind": "text2audio", "prompt": "rain", "duration": 3}
        project = Project(tmp_path, sim, [SPEECH, sound])
        child = await spawn(project)

        def kill_on_the_call(op: Op) -> None:  # the tts call has reached Kling: kill -9
            if op is Op.CREATE and sim.requests[TTS] and child.returncode is None:
                child.kill()

        sim.arrivals[:] = [kill_on_the_call]
        assert await asyncio.wait_for(child.wait(), 60) == -signal.SIGKILL
        sim.arrivals.clear()
        assert project.rows()["line"].state is JobState.SUBMITTING
        await project.run()
        rows = project.rows()
        assert (rows["line"].state, rows["line"].error_reason) == (JobState.FAILED, "lost")
        assert "ended during the call" in (rows["line"].error_message or "")
        assert sim.requests[TTS] == 1  # never called again
        assert rows["rain"].state is JobState.DOWNLOADED and set(sim.creates.values()) == {1}


async def test_the_async_audio_kinds_survive_lost_answers_and_cut_downloads(
    tmp_path: Path,
) -> None:
    """text2audio and video2audio have tasks and external ids: a create whose answer was lost
    is looked up and adopted, a cut download fetched again; each is created once."""
    plan = FaultPlan()
    plan.script(Op.CREATE, Fault.TIMEOUT_AFTER_CREATE)  # the first create: made, answer lost
    plan.script(Op.CREATE, Fault.RESET_AFTER, times=2)  # then two made, connection dropped
    plan.script(Op.DOWNLOAD, Fault.TRUNCATE, times=3)  # half a file, three times
    jobs = [JOBS[1], JOBS[2], JOBS[3]]  # rain, clip, clip-sound (video_id: job:clip)
    async with running(SimulatorConfig(task_seconds=0.05, faults=plan, videos=False)) as sim:
        project = Project(tmp_path, sim, jobs)
        for _ in range(5):
            if (await project.run()).exit_code == ExitCode.OK:
                break
        landed = dict(sim.injected)  # every create's answer was lost or cut; files cut
        assert landed["timeout_after_create"] == 1 and landed["reset_after"] == 2, landed
        assert landed.get("truncate", 0) >= 1, landed
        rows = project.rows()
        assert {row.state for row in rows.values()} == {JobState.DOWNLOADED}, rows
        assert len(sim.creates) == 3 and set(sim.creates.values()) == {1}  # no duplicate
        assert len(sim.blocks.made.tasks) == 2  # the sound and the video's sound, once each
        files = served_files(project, sim)
        assert {"rain/0.mp3", "rain/0.wav", "clip-sound/1.mp3", "clip-sound/1.wav"} <= set(files)
        assert not list(project.out.glob("*/.*.part"))
