"""Polling economy: status requests per task per poll round, with many tasks in flight.

``--tasks`` video jobs are submitted at once (``max_in_flight`` as large), each taking
``--task-seconds`` at the simulator; kbatch polls them all until they finish. A poll round of one
task is one status learnt for it; the figure is status requests (list pages and single gets)
divided by those. With the list route, one page answers for up to 500 tasks.

    python bench/polling.py                       # 500 tasks of 20 s, polled from 1 s
    python bench/polling.py --tasks 2000

Not a test: it prints figures. The target is at most 0.05 requests per task per round.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import yaml

from kbatch.engine.options import RunOptions
from kbatch.engine.scheduler import Scheduler
from kbatch.run import execute, prepare
from kbatch.simulator import SimulatorConfig, running


async def measure(tasks: int, task_seconds: float, folder: Path) -> None:
    config = SimulatorConfig(task_seconds=task_seconds, parallel_limit=100_000, videos=False)
    async with running(config) as sim:
        manifest = {
            "version": 1,
            "name": "polling",
            "provider": {"name": "simulator", "base_url": sim.url},
            "limits": {
                "max_in_flight": tasks,
                "submit_per_minute": 100_000,
                "poll_interval": "1s",
                "poll_max": "2s",
            },
            "jobs": [
                {
                    "kind": "image2video",
                    "id": "clip-${n}",
                    "foreach": [{"n": i} for i in range(tasks)],
                    "image": "https://cdn.example.com/${n}.png",
                    "prompt": "scene ${n}",
                }
            ],
        }
        path = folder / "m.yaml"
        path.write_text(yaml.safe_dump(manifest))
        engines: list[Scheduler] = []

        async def keep(engine: Scheduler) -> None:
            engines.append(engine)

        plan = prepare(path, RunOptions())
        started = time.perf_counter()
        try:
            result = await execute(plan, watch=keep)
        finally:
            plan.close()
        seconds = time.perf_counter() - started
        poller = engines[0].run_context.poller
        sent = sum(poller.requests.values())
        rounds = poller.observations
        print(f"tasks: {tasks}, done: {result.done}, wall {seconds:.1f} s")
        print(f"status requests: {dict(poller.requests)}; task-rounds observed: {rounds}")
        print(f"requests per task per round: {sent / rounds:.4f} (target <= 0.05)")
        print(f"requests per finished task: {sent / max(result.done, 1):.3f}")
        print(f"simulator saw: { {k: v for k, v in sim.requests.items() if 'GET' in k} }")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--task-seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(measure(args.tasks, args.task_seconds, Path(tmp)))


if __name__ == "__main__":
    main()
