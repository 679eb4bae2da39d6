"""Noticing finished tasks: with the default settings, against the simulator, on a sped-up clock
(kbatch and the simulator share it: tasks of minutes run in seconds, every pause shrinks alike).

The simulator's task log says when each task really finished and when a client was first told;
the difference is the lag that leaves a paid slot idle. Figures against targets are in
bench/occupancy.py; these tests hold the mechanisms: windows learnt from finished tasks, the
provider's pace, and callbacks as hints that are looked up before they are believed."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from statistics import mean
from typing import Any

import aiohttp
import pytest

from kbatch.engine.clock import ScaledClock
from kbatch.engine.events import EventName
from kbatch.engine.options import RunOptions
from kbatch.engine.scheduler import Scheduler
from kbatch.errors import ConfigError, ExitCode
from kbatch.provider.config import Listen
from kbatch.run import RunResult, execute, prepare
from kbatch.simulator import Op, Simulator, SimulatorConfig, running
from kbatch.store import JobState
from tests.project import FAST, Project, on, video

SPEED = 40.0  # 2-minute tasks in 3 s
DEFAULTS = {"max_in_flight": 4, "submit_per_minute": 60000, "task_timeout": "60m"}
Watcher = Callable[[Scheduler], Coroutine[Any, Any, None]]


def simulator(**config: Any) -> tuple[ScaledClock, SimulatorConfig]:
    clock = ScaledClock(SPEED)
    settings: dict[str, Any] = {"task_seconds": 120.0, "parallel_limit": 4, "videos": False}
    settings.update(config)
    return clock, SimulatorConfig(clock=clock.monotonic, seed=7, **settings)


async def run(
    project: Project, clock: ScaledClock, watch: Watcher | None = None, **options: Any
) -> RunResult:
    with prepare(project.manifest, RunOptions(pacing=FAST, **options)) as plan:
        return await execute(plan, on_event=project.events.append, clock=clock, watch=watch)


def status_requests(sim: Simulator) -> int:
    return sum(count for route, count in sim.requests.items() if route.startswith("GET /"))


async def test_later_tasks_are_noticed_within_a_small_share_of_their_duration(
    tmp_path: Path,
) -> None:
    clock, config = simulator()
    async with running(config) as sim:
        jobs = [video(f"v{i:02}", prompt=f"p{i}") for i in range(12)]
        project = Project(tmp_path, sim, jobs, limits=dict(DEFAULTS))  # no poll settings
        result = await run(project, clock)
    assert result.exit_code == ExitCode.OK
    log = sim.store.task_log()
    lags = [life.lag for life in log[4:] if life.lag is not None]  # after the first wave
    assert len(lags) == 8
    assert mean(lags) < 0.05 * 120, lags  # dense polling around the learnt end
    # A client polling every task every 10 s asks 12 times per 2-minute task.
    assert status_requests(sim) / len(jobs) < 12


async def test_a_gateway_that_asks_for_a_slower_pace_gets_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMETAPI_KEY", "sk-test")
    clock, config = simulator(task_seconds=60.0)
    async with running(config) as sim:
        rounds: list[float] = []

        def note(op: Op) -> None:
            now = clock.monotonic()
            if op in (Op.GET, Op.LIST) and (not rounds or now - rounds[-1] > 1.0):
                rounds.append(now)  # requests within a second are one round

        sim.arrivals.append(note)
        jobs = [video(f"v{i}", prompt=f"p{i}") for i in range(6)]
        project = Project(tmp_path, sim, jobs, limits=dict(DEFAULTS))
        project.provider = {"name": "cometapi"}  # its catalogue pace: 20 s per route
        project.save()
        result = await run(project, clock)
    assert result.exit_code == ExitCode.OK
    gaps = [later - earlier for earlier, later in itertools.pairwise(rounds)]
    assert gaps and min(gaps) >= 19.0, gaps


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def listening() -> Listen:
    port = free_port()
    return Listen("127.0.0.1", port, f"http://127.0.0.1:{port}")


SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="


@pytest.mark.parametrize("api", ["legacy", "new"])
async def test_callbacks_are_hints_that_end_tasks_at_once_at_few_requests(
    tmp_path: Path, api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every callback comes twice; tasks end between the safety net's polls (every 60 s). On
    # the new API, callbacks have its shape and are signed: each one verifies, or is dropped.
    signed: dict[str, Any] = {}
    if api == "new":
        monkeypatch.setenv("KLING_WEBHOOK_SECRET", SECRET)
        signed["webhook_secret"] = SECRET
    clock, config = simulator(task_seconds=100.0, callback_duplicates=1.0, **signed)
    async with running(config) as sim:
        jobs = [video(f"v{i}", prompt=f"p{i}", **on(api)) for i in range(8)]
        project = Project(tmp_path, sim, jobs, limits=dict(DEFAULTS))
        engines: list[Scheduler] = []

        async def keep(engine: Scheduler) -> None:
            engines.append(engine)

        result = await run(project, clock, keep, listen=listening())
    assert result.exit_code == ExitCode.OK
    receiver = engines[0].receiver
    assert receiver is not None
    # Two copies of each callback: submitted, processing (noted), and the end, which makes
    # its task due at once (a copy that comes after the lookup finds it no longer watched).
    assert receiver.counts["noted"] == 8 * 2 * 2
    assert receiver.counts["hinted"] + receiver.counts["unwatched"] == 8 * 2
    assert receiver.counts["hinted"] >= 6
    lags = [life.lag for life in sim.store.task_log() if life.lag is not None]
    # A hiccup of the machine (75 ms is 3 s here) may delay one task: the mean is the claim.
    assert mean(lags) < 0.02 * 100 and max(lags) < 0.1 * 100, lags
    assert status_requests(sim) / len(jobs) < 3  # the lookup after each end, and little else
    urls = {task.callback_url for task in sim.store.tasks.values()}
    assert len(urls) == 1 and "/kbatch/callback/" in str(urls.pop())


async def test_a_forged_callback_is_looked_up_not_believed(tmp_path: Path) -> None:
    clock, config = simulator(task_seconds=120.0)
    async with running(config) as sim:
        project = Project(tmp_path, sim, [video("real")], limits=dict(DEFAULTS))
        answers: list[int] = []
        polled = asyncio.Event()  # the task exists once it is polled
        sim.arrivals.append(lambda op: polled.set() if op in (Op.GET, Op.LIST) else None)

        async def forge(engine: Scheduler) -> None:
            await polled.wait()
            task = next(iter(sim.store.tasks.values()))
            url = task.callback_url or ""
            lie = {"task_id": task.task_id, "task_status": "succeed", "task_result": {}}
            async with aiohttp.ClientSession() as session:
                for body in (lie, {"not": "a task"}):
                    async with session.post(url, json=body) as answer:
                        answers.append(answer.status)
                async with session.post(url.rsplit("/", 1)[0] + "/guess", json=lie) as answer:
                    answers.append(answer.status)

        result = await run(project, clock, forge, listen=listening())
    assert result.exit_code == ExitCode.OK
    assert answers == [200, 400, 404]
    life = sim.store.task_log()[0]
    succeeded = project.named(EventName.SUCCEEDED)[0]
    # Believed only when the provider said so: never before the task really ended.
    assert succeeded.time - clock.time() + clock.monotonic() >= life.finished - 0.5


async def test_when_the_receiver_goes_down_polling_takes_over(tmp_path: Path) -> None:
    clock, config = simulator()
    async with running(config) as sim:
        jobs = [video(f"v{i:02}", prompt=f"p{i}") for i in range(12)]
        project = Project(tmp_path, sim, jobs, limits=dict(DEFAULTS))
        engines: list[Scheduler] = []
        fifth = asyncio.Event()  # the first create of the second wave
        sim.arrivals.append(lambda op: fifth.set() if sim.creates.total() >= 4 else None)

        async def close_after_first_wave(engine: Scheduler) -> None:
            engines.append(engine)
            await fifth.wait()
            assert engine.receiver is not None
            await engine.receiver.close()

        result = await run(project, clock, close_after_first_wave, listen=listening())
    assert result.exit_code == ExitCode.OK
    assert project.check_files() == 12
    assert sim.callbacks.counts["failed"] > 0
    poller = engines[0].run_context.poller
    assert not poller.sparse  # two ends found without a callback: dense polling again
    lags = [life.lag for life in sim.store.task_log()[8:] if life.lag is not None]
    assert mean(lags) < 0.05 * 120, lags


async def test_a_port_already_taken_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    clock, config = simulator()
    async with running(config) as sim:
        project = Project(tmp_path, sim, [video("a")], limits=dict(DEFAULTS))
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            listen = Listen("127.0.0.1", port, f"http://127.0.0.1:{port}")
            with pytest.raises(
                ConfigError, match=f"cannot listen for callbacks on 127.0.0.1:{port}"
            ):
                await run(project, clock, listen=listen)
    assert not sim.store.tasks and project.rows()["a"].state is JobState.PENDING


async def test_the_manifest_can_ask_for_callbacks(tmp_path: Path) -> None:
    clock, config = simulator(task_seconds=50.0)  # ends before the safety net's first poll
    async with running(config) as sim:
        project = Project(tmp_path, sim, [video("a"), video("b", prompt="b")])
        project.limits = dict(DEFAULTS)
        project.extra = {"callbacks": {"listen": f"127.0.0.1:{free_port()}"}}
        project.save()
        engines: list[Scheduler] = []

        async def keep(engine: Scheduler) -> None:
            engines.append(engine)

        result = await run(project, clock, keep)
    assert result.exit_code == ExitCode.OK
    receiver = engines[0].receiver
    assert receiver is not None and receiver.counts["hinted"] >= 1
    assert all(task.callback_url == receiver.callback_url for task in sim.store.tasks.values())
