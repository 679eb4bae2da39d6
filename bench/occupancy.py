"""Occupancy: how close kbatch keeps an account's slots to full, against a client that notices
every finished task at once, and at what cost in status requests.

For each scenario (slots, task durations) the same simulator (same seed: the k-th task created
has the same duration for every client) serves in turn:

- **kbatch**, default settings (no poll_interval, no poll_max), ``max_in_flight`` = the slots;
- **kbatch + callbacks**: the same with ``--listen`` (the simulator posts each change);
- **naive**: a ten-line client that keeps the slots full and polls every task every 10 s;

and a **reference** computed from the task log: the same tasks in the same order with the same
durations, each slot refilled the instant its task ends (zero detection lag), creates paced as
kbatch's are (1 a second by default). Figures: the reference's makespan as a % of the client's
(100 = no slot idle for lack of noticing), the detection lag (the task log's "first told
finished" minus "finished") mean and p95, status requests per task (a list page counts once),
status requests per second, and 1303 answers.

Time is scaled honestly: kbatch and the simulator share a :class:`ScaledClock` (``--speed``
simulated seconds per real second), so every pause of kbatch (polling, backoff, timeouts) and
every task shrinks alike; the create rate, which aiolimiter keeps on the real clock, is
multiplied by the speed by hand. Loopback HTTP latency (about 2 ms) is *not* scaled: it weighs
``speed`` times more here than against a real provider, against kbatch.

    python bench/occupancy.py                      # the standard scenarios, about 6 minutes
    python bench/occupancy.py --slots 5 --seconds 120 --tasks 30 --speed 40
    python bench/occupancy.py --new-api            # Kling's new API beside the /v1 routes

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from kbatch.engine.clock import ScaledClock
from kbatch.engine.options import RunOptions
from kbatch.engine.scheduler import Scheduler
from kbatch.provider.config import Listen
from kbatch.run import execute, prepare
from kbatch.simulator import Simulator, SimulatorConfig, TaskLife, running

RATE = 1.0  # creates per simulated second: kbatch's default submit_per_minute of 60


@dataclass(frozen=True)
class Scenario:
    slots: int
    seconds: float  # median task duration
    tasks: int
    speed: float
    spread: float = 0.3  # lognormal sigma (uniform: the share either side of the median)
    provider: str = "simulator"
    api: str = "legacy"  # "new": Kling 3.0 Turbo text2video on the path-addressed API
    shape: str = "lognormal"


@dataclass(frozen=True)
class Figures:
    client: str
    makespan: float
    lag_mean: float
    lag_p95: float
    requests: int
    over_limit: int
    tasks: int
    reference: float  # the zero-lag makespan of the same tasks


def reference(log: list[TaskLife], slots: int) -> float:
    """The makespan with zero detection lag: same order and durations, creates at RATE."""
    free = [0.0] * slots  # when each slot frees
    heapq.heapify(free)
    last_create = -1 / RATE
    end = 0.0
    for life in log:
        start = max(heapq.heappop(free), last_create + 1 / RATE)
        last_create = start
        finish = start + (life.finished - life.created)
        heapq.heappush(free, finish)
        end = max(end, finish)
    return end


def figures(client: str, sim: Simulator, slots: int) -> Figures:
    log = sim.store.task_log()
    lags = sorted(life.lag for life in log if life.lag is not None)
    first = min(life.created for life in log)
    last = max(life.seen or life.finished for life in log)
    statuses = sum(n for route, n in sim.requests.items() if route.startswith("GET /"))
    over = sum(1 for exchange in sim.log if exchange.code == 1303)
    p95 = lags[min(len(lags) - 1, math.ceil(0.95 * len(lags)) - 1)]
    mean = sum(lags) / len(lags)
    ideal = reference(log, slots)
    return Figures(client, last - first, mean, p95, statuses, over, len(log), ideal)


def config(scenario: Scenario, clock: ScaledClock) -> SimulatorConfig:
    return SimulatorConfig(
        task_seconds=scenario.seconds,
        duration_shape=scenario.shape,
        duration_spread=scenario.spread,
        parallel_limit=scenario.slots,
        clock=clock.monotonic,
        seed=11,
        videos=False,
        callback_duplicates=0.2,
    )


async def kbatch(scenario: Scenario, folder: Path, *, callbacks: bool) -> Figures:
    clock = ScaledClock(scenario.speed)
    async with running(config(scenario, clock)) as sim:
        provider: dict[str, Any] = {"name": scenario.provider, "base_url": sim.url}
        name = "callbacks" if callbacks else "defaults"
        manifest = {
            "version": 1,
            "name": f"{name}-{scenario.slots}-{scenario.seconds:g}-{scenario.provider}-"
            f"{scenario.api}",
            "provider": {**provider, "api": scenario.api},
            "limits": {
                "max_in_flight": scenario.slots,
                "submit_per_minute": 60 * RATE * scenario.speed,
                "task_timeout": "2h",
            },
            "output": {"download": False},
            "jobs": [job(scenario)],
        }
        path = folder / f"{manifest['name']}.yaml"
        path.write_text(yaml.safe_dump(manifest))
        listen = None
        if callbacks:
            port = free_port()
            listen = Listen("127.0.0.1", port, f"http://127.0.0.1:{port}")
        engines: list[Scheduler] = []

        async def keep(engine: Scheduler) -> None:
            engines.append(engine)

        with prepare(path, RunOptions(listen=listen)) as plan:
            result = await execute(plan, clock=clock, watch=keep)
        assert result.done == scenario.tasks, result
        client = "kbatch + callbacks" if callbacks else "kbatch (defaults)"
        return figures(client, sim, scenario.slots)


def job(scenario: Scenario) -> dict[str, Any]:
    """The scenario's job template: image2video on /v1, or Kling 3.0 Turbo text2video (on the
    new API, whose status comes in batches) with ``api: new``."""
    rows = {"id": "clip-${n}", "foreach": [{"n": i} for i in range(scenario.tasks)]}
    if scenario.api == "new":
        return {
            "kind": "text2video",
            "model_name": "kling-3.0-turbo",
            "prompt": "scene ${n}",
        } | rows
    image = "https://cdn.example.com/${n}.png"
    return {"kind": "image2video", "image": image, "prompt": "scene ${n}"} | rows


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def naive(scenario: Scenario, every: float = 10.0) -> Figures:
    """Keep the slots full; poll each task every ``every`` seconds; refill when one ends."""
    clock = ScaledClock(scenario.speed)
    async with running(config(scenario, clock)) as sim:
        route = f"{sim.url}/v1/videos/image2video"
        pending = list(range(scenario.tasks))
        gate = asyncio.Lock()  # creates at RATE
        auth = {"Authorization": "Bearer naive"}
        async with aiohttp.ClientSession(headers=auth) as session:

            async def slot() -> None:
                while pending:
                    number = pending.pop(0)
                    async with gate:
                        await clock.sleep(1 / RATE)
                        body = {"image": f"https://cdn.example.com/{number}.png",
                                "prompt": f"scene {number}"}  # fmt: skip
                        async with session.post(route, json=body) as answer:
                            task_id = (await answer.json())["data"]["task_id"]
                    while True:
                        await clock.sleep(every)
                        async with session.get(f"{route}/{task_id}") as answer:
                            status = (await answer.json())["data"]["task_status"]
                        if status in ("succeed", "failed"):
                            break

            await asyncio.gather(*(slot() for _ in range(scenario.slots)))
        return figures(f"naive, every {every:g} s", sim, scenario.slots)


def show(scenario: Scenario, rows: list[Figures]) -> None:
    print(
        f"\n{scenario.slots} slots, tasks of {scenario.seconds:g} s ({scenario.shape} "
        f"{scenario.spread:.2g}), {scenario.tasks} tasks, provider {scenario.provider} "
        f"({scenario.api} API), speed x{scenario.speed:g}"
    )
    print(
        f"  {'client':<22} {'% of ref':>8} {'lag mean':>9} {'lag p95':>8} "
        f"{'req/task':>9} {'req/s':>6} {'1303':>5}"
    )
    for row in rows:
        print(
            f"  {row.client:<22} {100 * row.reference / row.makespan:>7.1f}% "
            f"{row.lag_mean:>8.1f}s {row.lag_p95:>7.1f}s {row.requests / row.tasks:>9.2f} "
            f"{row.requests / row.makespan:>6.2f} {row.over_limit:>5}"
        )


async def scenario_rows(scenario: Scenario, folder: Path, clients: str) -> list[Figures]:
    rows = [await kbatch(scenario, folder, callbacks=False)]
    if "callbacks" in clients:
        rows.append(await kbatch(scenario, folder, callbacks=True))
    if "naive" in clients:
        rows.append(await naive(scenario))
    return rows


STANDARD = [
    Scenario(5, 30.0, 40, speed=15),
    Scenario(20, 30.0, 120, speed=15),
    Scenario(5, 120.0, 30, speed=40),
    Scenario(20, 120.0, 100, speed=40),
    Scenario(5, 600.0, 20, speed=150),
    Scenario(20, 600.0, 60, speed=150),
    Scenario(20, 120.0, 100, speed=40, provider="cometapi"),
]
#: Kling's new API: status for every watched task in one request. Tasks of 30 to 60 s, and of
#: 120 to 200 s.
NEW_API = [
    Scenario(10, 45.0, 80, speed=8, spread=1 / 3, api="new", shape="uniform"),
    Scenario(10, 160.0, 60, speed=20, spread=0.25, api="new", shape="uniform"),
    Scenario(10, 45.0, 80, speed=15, spread=1 / 3, shape="uniform"),  # the /v1 routes, alike
]


async def main_async(scenarios: list[Scenario], clients: str) -> None:
    import os

    os.environ.setdefault("COMETAPI_KEY", "sk-bench")  # the simulator accepts any key
    with tempfile.TemporaryDirectory() as folder:
        for scenario in scenarios:
            show(scenario, await scenario_rows(scenario, Path(folder), clients))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slots", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--speed", type=float, default=40.0)
    parser.add_argument("--spread", type=float, default=0.3)
    parser.add_argument("--provider", default="simulator")
    parser.add_argument("--clients", default="kbatch,callbacks,naive")
    parser.add_argument("--api", default="legacy", choices=("legacy", "new"))
    parser.add_argument("--shape", default="lognormal", choices=("lognormal", "uniform"))
    parser.add_argument("--new-api", action="store_true", help="the new API's scenarios")
    args = parser.parse_args()
    if args.slots and args.seconds:
        chosen = [
            Scenario(
                args.slots,
                args.seconds,
                args.tasks,
                args.speed,
                args.spread,
                args.provider,
                args.api,
                args.shape,
            )
        ]
    elif args.new_api:
        chosen = NEW_API
    else:
        chosen = STANDARD
    asyncio.run(main_async(chosen, args.clients))


if __name__ == "__main__":
    main()
