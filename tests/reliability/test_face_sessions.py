"""Lip-sync's face session under faults and kill -9: face identification is answered at once,
with no task and no external id to look a lost answer up by, so a lost answer (a timeout after
the call landed, a run killed mid-call) fails the job ``lost`` and is never sent again by
itself; a session that was answered is remembered in the state, so that a resumed lip-sync
(its create's answer lost, the run killed before or after the create) never identifies again.
Each case: one identify-face at the simulator at most, one lip-sync task at most."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from kbatch.errors import ExitCode
from kbatch.simulator import Fault, Op, Simulator, SimulatorConfig, running
from kbatch.store import JobState
from kbatch.store.records import FailureReason
from tests.project import Project, spawn

SOUNDS = Path(__file__).parent.parent / "manifests" / "sounds"
IDENTIFY, LIP_SYNC = "/v1/videos/identify-face", "/v1/videos/advanced-lip-sync"

CLIP: dict[str, Any] = {"id": "clip", "kind": "image2video", "image": "ok.png", "prompt": "hi"}
DUB: dict[str, Any] = {"id": "dub", "kind": "lip_sync", "video_id": "job:clip"}
DUB |= {"sound_file": "speech.wav"}


def posts(sim: Simulator, path: str) -> int:
    return sum(1 for e in sim.log if e.method == "POST" and e.path == path)


async def with_a_clip(root: Path, sim: Simulator) -> Project:
    """A project whose clip is made; the lip-sync of it is then added (the next create any run
    sends is its face identification)."""
    (root / "speech.wav").write_bytes((SOUNDS / "speech.wav").read_bytes())
    project = Project(root, sim, [CLIP])
    assert (await project.run()).exit_code == ExitCode.OK
    project.jobs.append(DUB)
    project.save()
    return project


@pytest.mark.usefixtures("backend")
async def test_a_lost_identify_answer_fails_lost_and_only_retry_failed_sends_it_again(
    tmp_path: Path, live: Simulator
) -> None:
    project = await with_a_clip(tmp_path, live)
    live.faults.script(Op.CREATE, Fault.TIMEOUT_AFTER_CREATE)  # the session made, 504 answered
    assert (await project.run()).exit_code == ExitCode.FAILED
    row = project.rows()["dub"]
    assert (row.state, row.error_reason) == (JobState.FAILED, FailureReason.LOST)
    assert row.error_message is not None and "--retry-failed" in row.error_message
    assert (posts(live, IDENTIFY), posts(live, LIP_SYNC)) == (1, 0)

    assert (await project.run()).exit_code == ExitCode.OLD_FAILURES
    assert (posts(live, IDENTIFY), posts(live, LIP_SYNC)) == (1, 0)  # never by itself

    assert (await project.run(retry_failed=True)).exit_code == ExitCode.OK
    assert (posts(live, IDENTIFY), posts(live, LIP_SYNC)) == (2, 1)
    assert project.rows()["dub"].state is JobState.DOWNLOADED


async def test_a_lost_lip_sync_answer_is_adopted_with_the_session_kept(
    tmp_path: Path, live: Simulator
) -> None:
    project = await with_a_clip(tmp_path, live)
    creates = 0

    def second_create(op: Op) -> None:  # the lip-sync's create lands, its answer is lost
        nonlocal creates
        creates += op is Op.CREATE
        if op is Op.CREATE and creates == 2:
            live.faults.script(Op.CREATE, Fault.TIMEOUT_AFTER_CREATE)

    live.arrivals.append(second_create)
    assert (await project.run()).exit_code == ExitCode.OK
    assert live.injected[str(Fault.TIMEOUT_AFTER_CREATE)] == 1
    assert (posts(live, IDENTIFY), posts(live, LIP_SYNC)) == (1, 1)
    row = project.rows()["dub"]
    assert row.state is JobState.DOWNLOADED and row.units == pytest.approx(0.55)  # both calls
    assert sum(live.creates.values()) == 2  # the clip and the lip-sync: each once


@pytest.mark.parametrize("moment", [1, 2], ids=["at-identify", "at-create"])
async def test_a_run_killed_mid_lip_sync_never_identifies_twice(
    tmp_path: Path, moment: int
) -> None:
    """SIGKILL as the n-th create arrives (1: the identify call, 2: the lip-sync's create):
    killed at the identify, the next run fails the job ``lost`` (the call may have landed);
    killed at the create, the next run finds the session kept and the task by its external id."""
    async with running(SimulatorConfig(task_seconds=0.05, seed=3)) as sim:
        project = await with_a_clip(tmp_path, sim)
        child = await spawn(project, "--no-progress")
        seen = 0

        def kill(op: Op) -> None:
            nonlocal seen
            seen += op is Op.CREATE
            if op is Op.CREATE and seen == moment and child.returncode is None:
                child.send_signal(signal.SIGKILL)

        sim.arrivals.append(kill)
        assert await child.wait() == -signal.SIGKILL
        sim.arrivals.clear()
        result = await project.run()
        row = project.rows()["dub"]
        if moment == 1:
            assert result.exit_code == ExitCode.FAILED
            assert (row.state, row.error_reason) == (JobState.FAILED, FailureReason.LOST)
            assert (posts(sim, IDENTIFY), posts(sim, LIP_SYNC)) == (1, 0)
        else:
            assert result.exit_code == ExitCode.OK and row.state is JobState.DOWNLOADED
            assert posts(sim, IDENTIFY) == 1 and posts(sim, LIP_SYNC) <= 2
            assert sim.creates[row.external_task_id or ""] == 1  # one lip-sync task, adopted
