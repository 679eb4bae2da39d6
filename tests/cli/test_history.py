"""A job's history through the CLI, against the simulator: every attempt ever sent is kept, of
every version of the job (an edit makes a new fingerprint, whose attempts count from 1 again),
and ``kbatch show`` lists them by version; and a task is followed on the API it was sent to,
whatever ``provider.api`` says by the next run."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from kbatch.cli.app import cli
from kbatch.errors import ExitCode
from kbatch.simulator import FAIL, FLAKY, ManualClock, Simulator, SimulatorConfig, running
from kbatch.simulator.faults import Op
from kbatch.store.records import JobState
from tests.project import Project, spawn


def text(job_id: str, prompt: str) -> dict[str, Any]:
    """Kling 3.0, which both APIs serve: ``provider.api`` alone says where it goes."""
    return {"id": job_id, "kind": "text2video", "model_name": "kling-v3", "prompt": prompt}


def test_an_edited_job_keeps_every_attempt_of_every_version(
    tmp_path: Path, threaded: Simulator
) -> None:
    """The issue's case: four failed attempts, an edit, then a failure and a success. Every
    one of the six is kept, and ``show`` lists them by version, oldest first, with its charge."""
    project = Project(tmp_path, threaded, [text("cat", f"a cat {FAIL}")])
    project.limits["max_attempts"] = 4
    project.save()
    result = CliRunner().invoke(cli, ["run", str(project.manifest), "--no-progress"])
    assert result.exit_code == 1, result.output
    old = project.rows()["cat"].fingerprint

    project.jobs = [text("cat", f"a cat, edited {FLAKY}")]  # fails once, then succeeds
    project.save()
    result = CliRunner().invoke(cli, ["run", str(project.manifest), "--no-progress"])
    assert result.exit_code == 0, result.output
    new = project.rows()["cat"].fingerprint
    assert new != old

    ids = project.query("SELECT external_task_id FROM attempts")
    assert len(ids) == len(set(ids)) == 6  # every attempt paid for is kept

    result = CliRunner().invoke(cli, ["show", str(project.manifest), "cat"])
    assert result.exit_code == 0, result.output
    shown = result.output.split("attempts:\n", 1)[1].split("files:")[0].splitlines()
    assert shown[0] == f"  version 1 (fingerprint {old[:12]}, edited since):"
    assert [line.split(".")[0].strip() for line in shown[1:5]] == ["1", "2", "3", "4"]
    assert all("failed, 0 units (as the provider charged)" in line for line in shown[1:5])
    assert shown[5] == f"  version 2 (fingerprint {new[:12]}, as the manifest has it now):"
    assert "failed, 0 units" in shown[6] and shown[6].strip().startswith("1. ")
    assert "succeed, 3 units (as the provider charged)" in shown[7]
    assert shown[7].strip().startswith("2. ") and len(shown) == 8
    assert "(/v1)" in shown[7]  # where it was sent

    kept = project.query("SELECT fingerprint, attempt, outcome FROM attempts ORDER BY started_at")
    assert kept == [
        *((old, n, "failed") for n in (1, 2, 3, 4)),
        (new, 1, "failed"),
        (new, 2, "succeed"),
    ]


async def test_a_task_is_followed_on_the_api_it_was_sent_to_after_provider_api_changes(
    tmp_path: Path,
) -> None:
    """Sent on the new API, interrupted in flight, ``provider.api`` edited to ``legacy``: the
    next run follows each task on the new API (where it is), never on /v1 (where it is not),
    and pays for nothing twice."""
    clock = ManualClock()
    async with running(SimulatorConfig(task_seconds=10, clock=clock)) as sim:
        jobs = [text("a", "a cat"), text("b", "a dog")]
        project = Project(tmp_path, sim, jobs, provider={"api": "new"})
        polling = asyncio.Event()

        def created_and_polled(op: Op) -> None:
            if op in (Op.GET, Op.LIST) and len(sim.creates) == 2:
                polling.set()

        sim.arrivals.append(created_and_polled)
        child = await spawn(project)
        await polling.wait()
        child.send_signal(signal.SIGINT)
        assert await child.wait() == ExitCode.INTERRUPTED
        rows = project.rows()
        assert {row.state for row in rows.values()} <= {JobState.SUBMITTED, JobState.RUNNING}

        project.provider["api"] = "legacy"  # as an edit, or an upgrade changing what auto picks
        project.save()
        clock.advance(10)
        again = await spawn(project, log="again.log")
        assert await again.wait() == ExitCode.OK, (project.root / "again.log").read_text()

    rows = project.rows()
    assert {row.state for row in rows.values()} == {JobState.DOWNLOADED}
    assert len(sim.creates) == 2 and set(sim.creates.values()) == {1}  # nothing paid twice
    assert [route for route in sim.requests if route.startswith("POST ")] == [
        "POST /text-to-video/kling-3.0"
    ]
    assert not [route for route in sim.requests if "/v1/" in route]  # never looked for there
    assert project.check_files() == 2
    sent = project.query("SELECT DISTINCT target FROM attempts UNION SELECT target FROM jobs")
    assert sent == [("text-to-video/kling-3.0",)]
