"""A real ``kbatch run`` child process, stopped hard (kill -9) or politely (SIGINT), against a
simulator in this process: the state it leaves lets the next run finish without paying twice."""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from kbatch.cli.app import cli
from kbatch.errors import ExitCode
from kbatch.simulator import Fault, ManualClock, Op, Simulator, SimulatorConfig, running
from kbatch.store import JobState
from tests.project import Project, expand, multi, spawn, video

#: Each test runs on the state file and on a shared PostgreSQL state.
pytestmark = pytest.mark.usefixtures("backend")

#: The moments a child is killed at: its n-th request, each n once, in a seeded order (drawn
#: with repeats, 12 draws of 8 moments cost a child each for a moment already tried).
MOMENTS = range(1, 9)


async def test_kill_9_at_seeded_moments_never_pays_twice_and_loses_nothing(
    tmp_path: Path,
) -> None:
    rng = random.Random(20261121)
    async with running(SimulatorConfig(task_seconds=0.05, seed=5)) as sim:
        jobs = [video(f"v{i}", f"prompt {i}") for i in range(5)] + [expand("e1", n=2), multi("m1")]
        project = Project(tmp_path, sim, jobs)
        kills = 0
        for moment in rng.sample(MOMENTS, len(MOMENTS)):  # the n-th request, whatever it is
            seen = 0
            child = await spawn(project)

            def kill_at_moment(
                op: Op, child: asyncio.subprocess.Process = child, moment: int = moment
            ) -> None:
                nonlocal seen, kills
                seen += 1
                if seen == moment and child.returncode is None:
                    child.kill()
                    kills += 1

            sim.arrivals[:] = [kill_at_moment]
            code = await child.wait()
            if code == ExitCode.OK:
                break
            assert code == -signal.SIGKILL, (project.root / "child.log").read_text()
        sim.arrivals.clear()
        final = await project.run()

        assert kills >= 3, "too few kills landed to prove anything"
        assert final.exit_code == ExitCode.OK
        assert len(sim.creates) == len(jobs) and set(sim.creates.values()) == {1}
        assert project.check_files() == 8
        assert not list(project.out.glob("*/.*.part"))


@pytest.mark.sqlite_only  # a second run on a state file is refused by its lock; on a shared
async def test_sigint_exits_130_keeps_the_tasks_and_the_next_run_adopts_them(  # state it joins
    tmp_path: Path,  # as another runner (tests/reliability/test_failover.py)
) -> None:
    clock = ManualClock()
    async with running(SimulatorConfig(task_seconds=10, clock=clock)) as sim:
        project = Project(tmp_path, sim, [video("v1"), video("v2", "b"), video("v3", "c")])
        polling = asyncio.Event()

        def all_created_and_polled(op: Op) -> None:
            if op in (Op.GET, Op.LIST) and len(sim.creates) == 3:
                polling.set()

        sim.arrivals.append(all_created_and_polled)
        child = await spawn(project)
        await polling.wait()

        second = await spawn(project)  # the same manifest while the first holds the lock
        assert await second.wait() == 3
        log = (project.root / "child.log").read_text()
        assert f"pid {child.pid}" in log and "Already running" in log
        status = CliRunner().invoke(cli, ["status", str(project.manifest)])
        assert status.exit_code == 0 and f"running: pid {child.pid}" in status.output

        child.send_signal(signal.SIGINT)
        assert await child.wait() == ExitCode.INTERRUPTED
        rows = project.rows()
        assert {row.state for row in rows.values()} <= {JobState.SUBMITTED, JobState.RUNNING}
        assert all(row.task_id for row in rows.values())

        clock.advance(10)
        result = await project.run()

    assert result.exit_code == ExitCode.OK
    assert len(sim.creates) == 3 and set(sim.creates.values()) == {1}
    assert not project.named("submitted") and len(project.named("downloaded")) == 3


async def test_a_resumed_job_sent_back_to_pending_while_the_feed_waits_for_its_slot_is_sent(
    tmp_path: Path, live: Simulator
) -> None:
    # A create that never landed leaves "b" submitting; the next run looks it up, finds nothing
    # and gives its slot back, which wakes the feed waiting to admit "a": the feed then reaches
    # "b" before the life's end is counted, and must send it, not leave it pending.
    live.faults.script(Op.CREATE, Fault.MAINTENANCE, times=1)  # 503: unknown, nothing made
    live.faults.script(Op.ANY, Fault.SERVER_ERROR, times=50)
    project = Project(tmp_path, live, [video("b", "b")])
    assert (await project.run()).exit_code == ExitCode.FAILED
    assert project.rows()["b"].state is JobState.SUBMITTING
    live.faults._script.clear()
    project.jobs = [video("a"), video("b", "b")]
    project.limits["max_in_flight"] = 1  # "a" waits for the slot the resumed "b" holds
    project.save()
    live.config.latency = (0.1, 0.1)  # the feed is waiting before the lookup answers

    result = await project.run()

    assert result.exit_code == ExitCode.OK, result.message
    assert {row.state for row in project.rows().values()} == {JobState.DOWNLOADED}
    assert sorted(live.creates.values()) == [1, 1]
