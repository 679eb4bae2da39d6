"""Occupancy of a two-stage pipeline: how close kbatch keeps the slots full when half its
tasks wait for the other half, against a zero-lag client that starts each downstream the moment
its upstream ends; beside the same tasks run as one stage (no references).

The pipeline is N rows of text2image (stage 0), each image then widened by image_expand
(stage 1, ``image: job:still-${n}``): both in the image pack, one slot a task, results left
remote (``output.download: false``: a downstream is ready when its upstream succeeded, and is
sent its URL). The **reference** replays the run's own task log (the same tasks in kbatch's
order, each with the duration the simulator drew) on the same slots at the same create rate
with zero detection lag: each task starts the moment a slot is free, and a downstream the moment its
upstream ends (if a slot is). The one-stage run sends the same tasks with every image_expand
given a URL instead; its reference is :func:`bench.occupancy.reference` (tasks in creation
order, zero lag). Figures: each reference's makespan as a % of kbatch's (100 = no slot idle for
lack of noticing); time is scaled as in :mod:`bench.occupancy` (``--speed``).

    python bench/pipeline_occupancy.py                  # 5 and 20 slots, tasks of 30 s
    python bench/pipeline_occupancy.py --slots 10 --rows 60 --seconds 60

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import tempfile
from pathlib import Path
from typing import Any

import yaml
from occupancy import RATE, Scenario, config, reference

from kbatch.engine.clock import ScaledClock
from kbatch.engine.options import RunOptions
from kbatch.run import execute, prepare
from kbatch.simulator import TaskLife, running


def jobs(rows: int, *, piped: bool) -> list[dict[str, Any]]:
    each = {"foreach": [{"n": i} for i in range(rows)]}
    image = "job:still-${n}" if piped else "https://cdn.example.com/${n}.png"
    return [
        {"kind": "text2image", "id": "still-${n}", "prompt": "scene ${n}"} | each,
        {"kind": "image_expand", "id": "wide-${n}", "image": image}
        | {"left_expansion_ratio": 0.25}
        | each,
    ]


def piped_reference(lives: dict[str, TaskLife], slots: int) -> float:
    """The zero-lag makespan of the pipeline: the same tasks in kbatch's order with the same
    durations, each started the moment a slot is free, the create rate allows and (for a
    downstream) its upstream has ended: every second lost to noticing late is gone."""
    free = [0.0] * slots
    heapq.heapify(free)
    ended: dict[str, float] = {}
    last_create, end = -1 / RATE, 0.0
    for job, life in sorted(lives.items(), key=lambda item: item[1].created):
        upstream = (
            ended.get("still-" + job.partition("-")[2], 0.0) if job.startswith("wide") else 0.0
        )
        start = max(heapq.heappop(free), last_create + 1 / RATE, upstream)
        last_create = start
        finish = ended[job] = start + (life.finished - life.created)
        heapq.heappush(free, finish)
        end = max(end, finish)
    return end


async def run(scenario: Scenario, rows: int, folder: Path, *, piped: bool) -> tuple[float, float]:
    """kbatch's makespan and its reference's, for the pipeline or the one stage."""
    clock = ScaledClock(scenario.speed)
    async with running(config(scenario, clock)) as sim:
        name = f"{'piped' if piped else 'flat'}-{scenario.slots}-{rows}"
        manifest = {
            "version": 1,
            "name": name,
            "provider": {"name": "simulator", "base_url": sim.url},
            "limits": {
                "max_in_flight": scenario.slots,
                "submit_per_minute": 60 * RATE * scenario.speed,
                "task_timeout": "2h",
            },
            "output": {"download": False},
            "jobs": jobs(rows, piped=piped),
        }
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(manifest))
        with prepare(path, RunOptions()) as plan:
            result = await execute(plan, clock=clock)
            assert result.done == 2 * rows, result
            by_task = {row.task_id: job_id for job_id, row in plan.rows.items()}
        log = sim.store.task_log()
        makespan = max(life.seen or life.finished for life in log) - min(
            life.created for life in log
        )
        if not piped:
            return makespan, reference(log, scenario.slots)
        lives = {by_task[life.task_id]: life for life in log}
        print(f"  {'row lag':<24} {row_lag(lives):7.1f}s from a still's end to its wide's create")
        return makespan, piped_reference(lives, scenario.slots)


def row_lag(lives: dict[str, TaskLife]) -> float:
    """The mean delay from an upstream's end to its downstream's create (scaled seconds)."""
    lags = [
        life.created - lives["still-" + job.partition("-")[2]].finished
        for job, life in lives.items()
        if job.startswith("wide")
    ]
    return sum(lags) / len(lags)


async def main_async(cases: list[tuple[Scenario, int]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for scenario, rows in cases:
            print(
                f"\n{scenario.slots} slots, tasks of {scenario.seconds:g} s (lognormal "
                f"{scenario.spread:.2g}), {rows} rows = {2 * rows} tasks, speed x{scenario.speed:g}"
            )
            for piped in (True, False):
                makespan, ideal = await run(scenario, rows, Path(folder), piped=piped)
                label = "two stages (job:<id>)" if piped else "one stage (same tasks)"
                print(
                    f"  {label:<24} kbatch {makespan:7.1f}s  zero-lag {ideal:7.1f}s  "
                    f"occupancy {100 * ideal / makespan:5.1f}% of the reference"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slots", type=int)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--speed", type=float, default=15.0)
    args = parser.parse_args()
    if args.slots:
        cases = [(Scenario(args.slots, args.seconds, 2 * args.rows, args.speed), args.rows)]
    else:
        cases = [
            (Scenario(5, 30.0, 80, speed=15), 40),
            (Scenario(20, 30.0, 240, speed=15), 120),
        ]
    asyncio.run(main_async(cases))


if __name__ == "__main__":
    main()
