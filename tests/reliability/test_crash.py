"""A real ``kbatch run`` child killed with SIGKILL at seeded random moments, over many cycles,
against a simulator with random latencies and a few faults: after the last run every job was
created once, every file holds the served bytes."""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

import pytest

from kbatch.errors import ExitCode
from kbatch.simulator import Fault, FaultPlan, Op, Simulator, SimulatorConfig, running
from tests.project import Project, expand, multi, on, spawn, video
from tests.reliability.checks import exactly_once, injected, settle
from tests.reliability.conftest import FIGURES

#: Each test runs on the state file and on a shared PostgreSQL state.
pytestmark = pytest.mark.usefixtures("backend")

#: Kills a round tries before it moves on (an earlier run that finishes ends the round too):
#: the seeded moments after these were repeats of the same two kinds (the n-th request, a time),
#: each costing a child process for nothing new. What is left is finished by the last runs.
CYCLES = 10
ROUNDS = 2
SEED = 20261121


async def test_sigkill_at_random_moments_over_many_cycles(tmp_path: Path, api: str) -> None:
    rng = random.Random(SEED)
    faults = FaultPlan(
        rates={Fault.RESET_AFTER: 0.03, Fault.TIMEOUT_AFTER_CREATE: 0.03, Fault.TRUNCATE: 0.05},
        seed=SEED,
    )
    config = SimulatorConfig(
        task_seconds=0.5, seed=SEED, latency=(0.0, 0.03), faults=faults, videos=False
    )
    async with running(config) as sim:
        project = Project(tmp_path, sim, [])
        kills = 0
        for batch in range(ROUNDS):  # each round adds jobs, then kills runs (or one finishes)
            project.jobs += [
                video(f"v{batch}-{i}", f"prompt {batch} {i}", **on(api)) for i in range(20)
            ]
            project.jobs += [expand(f"e{batch}-{i}", n=2) for i in range(4)] + [multi(f"m{batch}")]
            project.save()
            kills += await kill_until_done(project, sim, rng, CYCLES)
        sim.arrivals.clear()
        await settle(project)
        FIGURES["kill -9 survived"] += kills
        injected(sim)

        assert kills >= 16, f"only {kills} kills landed"
        exactly_once(project, sim, files=ROUNDS * (20 + 8 + 1))


async def kill_until_done(project: Project, sim: Simulator, rng: random.Random, cycles: int) -> int:
    """Start ``kbatch run`` children of the project and SIGKILL each at a seeded moment,
    until one finishes (it must exit 0) or ``cycles`` are spent; how many kills landed."""
    kills = 0
    for _ in range(cycles):
        child = await spawn(project, "--no-progress")
        code = await kill_at_random(child, sim, rng)
        if code != -signal.SIGKILL:
            assert code == ExitCode.OK, (project.root / "child.log").read_text()
            break
        kills += 1
    return kills


async def kill_at_random(
    child: asyncio.subprocess.Process, sim: Simulator, rng: random.Random
) -> int | None:
    """SIGKILL the child at a seeded moment, unless it ends first; its exit code."""
    if rng.random() < 0.5:  # at the n-th request the child sends, whatever it is
        moment, seen = rng.randint(1, 25), 0

        def at_request(op: Op) -> None:
            nonlocal seen
            seen += 1
            if seen == moment and child.returncode is None:
                child.send_signal(signal.SIGKILL)

        sim.arrivals[:] = [at_request]
        return await child.wait()
    sim.arrivals.clear()  # after a random time, wherever the child is (starting, writing...)
    try:
        return await asyncio.wait_for(child.wait(), rng.uniform(0.05, 1.5))
    except TimeoutError:
        child.send_signal(signal.SIGKILL)
        return await child.wait()
