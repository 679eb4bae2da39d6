"""Every fault the simulator can inject, alone and mixed: the runs (as many as a user's cron
would make) finish every job, none is paid for twice, no result is lost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from kbatch.errors import ExitCode
from kbatch.provider.catalogue import JobKind
from kbatch.provider.transport import Timeouts
from kbatch.simulator import Fault, FaultPlan, Op, Simulator, SimulatorConfig, running
from kbatch.store import JobState
from tests.project import Project, expand, multi, on, sound, video
from tests.reliability.checks import exactly_once, injected, settle

#: Each test runs on the state file and on a shared PostgreSQL state.
pytestmark = pytest.mark.usefixtures("backend")

JOBS = [video(f"v{i}", f"prompt {i}") for i in range(5)] + [
    expand("e1", n=2),
    expand("e2", n=2),
    multi("m1"),
    sound("s1"),  # slice audio: a text2audio task, its mp3 and its wav
]


def jobs(api: str) -> list[dict[str, object]]:
    """:data:`JOBS`, their video jobs on ``api``."""
    return [job | on(api) if job["kind"] == "image2video" else job for job in JOBS]


def went_to(api: str, sim: Simulator) -> bool:
    """Whether the video jobs were created on ``api``, and followed there."""
    new = any(route.startswith("POST /image-to-video/") for route in sim.requests)
    batched = any(route.startswith("GET /tasks") for route in sim.requests)
    return new and batched if api == "new" else not new


FILES = 5 + 2 + 2 + 1 + 2
#: Client timeouts shorter than the simulator's slow answers, so that "slow" means "timed out".
SHORT = Timeouts(connect=2.0, read=0.2, download_read=0.2)
#: Faults that stand for a provider in trouble (a route that is not served is another story).
TROUBLE: list[Fault] = [f for f in Fault if f not in (Fault.NOT_FOUND, Fault.REDIRECT)]


@asynccontextmanager
async def simulator(faults: FaultPlan, **config: object) -> AsyncIterator[Simulator]:
    settings = SimulatorConfig(
        task_seconds=0.05, seed=3, retry_after=0.01, slow_seconds=0.4, faults=faults, videos=False
    )
    for name, value in config.items():
        setattr(settings, name, value)
    async with running(settings) as sim:
        yield sim


@pytest.mark.parametrize("fault", TROUBLE, ids=[fault.value for fault in TROUBLE])
async def test_each_fault_alone(tmp_path: Path, fault: Fault, api: str) -> None:
    plan = FaultPlan(rates={fault: 0.25}, seed=11)
    first = {Fault.TIMEOUT_AFTER_CREATE: Op.CREATE, Fault.TRUNCATE: Op.DOWNLOAD}
    plan.script(first.get(fault, Op.ANY), fault)  # once for sure, whatever the order of requests
    async with simulator(plan) as sim:
        project = Project(tmp_path, sim, jobs(api))
        await settle(project, timeouts=SHORT)
        assert injected(sim) > 0, f"{fault} never landed"
        exactly_once(project, sim, FILES)
        assert went_to(api, sim)


async def test_all_faults_mixed(tmp_path: Path, api: str) -> None:
    rates: dict[Fault, float] = dict.fromkeys(TROUBLE, 0.04)
    async with simulator(FaultPlan(rates=rates, seed=23)) as sim:
        more = [video(f"w{i}", f"w {i}", **on(api)) for i in range(8)]
        project = Project(tmp_path, sim, jobs(api) + more)
        await settle(project, most=25, timeouts=SHORT)
        assert injected(sim) >= 10
        exactly_once(project, sim, FILES + 8)


async def test_fewer_slots_than_max_in_flight(tmp_path: Path, api: str) -> None:
    async with simulator(FaultPlan(), parallel_limit=2) as sim:
        project = Project(tmp_path, sim, jobs(api))
        project.limits["max_in_flight"] = 6
        project.save()
        runs, _ = await settle(project)
        refused = sum(1 for exchange in sim.log if exchange.code == 1303)
        assert runs == 1 and refused > 0
        exactly_once(project, sim, FILES)


async def test_scripted_faults_at_the_worst_moments(tmp_path: Path, api: str) -> None:
    """Each dangerous fault scripted onto the request where it hurts most."""
    plan = FaultPlan()
    plan.script(Op.CREATE, Fault.TIMEOUT_AFTER_CREATE, times=2)  # made, answer lost
    plan.script(Op.CREATE, Fault.RESET_AFTER, times=2)  # made, connection dropped
    plan.script(Op.CREATE, Fault.GARBLED, times=2)  # made, answer unreadable
    plan.script(Op.DOWNLOAD, Fault.TRUNCATE, times=3)  # half a file
    plan.script(Op.DOWNLOAD, Fault.NOT_FOUND, times=1)  # a result URL gone: asked for afresh
    async with simulator(plan) as sim:
        project = Project(tmp_path, sim, jobs(api))
        await settle(project)
        assert plan.pending == 0 and injected(sim) == 10
        exactly_once(project, sim, FILES)
        assert went_to(api, sim)


async def test_a_route_that_is_not_served_fails_only_its_kind_at_once(tmp_path: Path) -> None:
    plan = FaultPlan(not_served={JobKind.IMAGE_EXPAND})
    async with simulator(plan) as sim:
        project = Project(tmp_path, sim, list(JOBS))
        result = await project.run()
        rows = project.rows()
        assert result.exit_code != ExitCode.OK
        assert {rows[i].error_reason for i in ("e1", "e2")} == {"not_served"}
        # No retries: one create per job at most (both may be on the wire before the first 404).
        assert sum(1 for e in sim.log if e.kind is JobKind.IMAGE_EXPAND) <= 2
        done = [row for row in rows.values() if row.state is JobState.DOWNLOADED]
        assert len(done) == len(JOBS) - 2
        assert set(sim.creates.values()) == {1}
