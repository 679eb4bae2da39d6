"""The batched lane of the poller on Kling's new API (``GET /tasks?task_ids=``), against the
simulator on a scaled clock: a refused batch size is remembered, every status request is paced,
and the budget of status requests is spent while a task could be ending."""

from __future__ import annotations

import itertools
from pathlib import Path

from kbatch.engine.clock import ScaledClock
from kbatch.errors import ExitCode
from kbatch.simulator import Op, SimulatorConfig, running
from tests.engine.test_polling import DEFAULTS, run
from tests.project import Project, on, video

SPEED = 20.0  # a request's real latency (10 ms under load) is 0.2 s here


async def test_a_refused_batch_size_is_remembered_and_its_halves_are_paced(
    tmp_path: Path,
) -> None:
    """24 tasks watched, the provider takes 8 ids a request: the full batch and its first
    halves are refused once, then the size it accepted is used for every later round (today
    every round began again from 24: 69 of 191 status requests refused)."""
    clock = ScaledClock(SPEED)
    config = SimulatorConfig(
        clock=clock.monotonic, seed=7, task_seconds=60.0, parallel_limit=24, videos=False,
        task_ids_limit=8,
    )  # fmt: skip
    async with running(config) as sim:
        asked: list[float] = []
        sim.arrivals.append(lambda op: asked.append(clock.monotonic()) if op is Op.GET else None)
        jobs = [video(f"v{i:02}", prompt=f"p{i}", **on("new")) for i in range(24)]
        project = Project(tmp_path, sim, jobs, limits={**DEFAULTS, "max_in_flight": 24})
        result = await run(project, clock)
    assert result.exit_code == ExitCode.OK, project.events
    statuses = [e for e in sim.log if e.method == "GET" and e.path.startswith("/tasks")]
    refused = [e for e in statuses if e.code == 1201]
    assert len(statuses) > 20  # rounds went on for a minute: the size held across them
    assert 1 <= len(refused) <= 3, refused  # 24, then 12 and 12 (at most): the discovery
    gaps = [later - earlier for earlier, later in itertools.pairwise(asked)]
    # one status request a second (the pace), halves included: back to back they were ~0 s
    # apart; the scaled clock's jitter under load takes up to a few tenths off a gap
    assert min(gaps) >= 0.5, gaps
