"""Rate accuracy: with ``limits.submit_per_minute`` set, creates never pass it in any 60 s
window, and the run keeps close to it.

``--jobs`` video jobs (zero task time, slots to spare) against an in-process simulator that notes
when each create arrives. Figures: the busiest 60 s window (must be at most the limit), the
creates in the first full minute and the mean rate over the run, as shares of the limit (the
target is at least 95%).

    python bench/rate.py                         # 1,800 jobs at 1,200 a minute: about 90 s
    python bench/rate.py --rate 600 --jobs 900

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import tempfile
import time
from pathlib import Path

import yaml

from kbatch.engine.options import RunOptions
from kbatch.run import execute, prepare
from kbatch.simulator import Op, SimulatorConfig, running


async def measure(rate: float, jobs: int, folder: Path) -> None:
    config = SimulatorConfig(task_seconds=0.0, parallel_limit=100_000, videos=False)
    async with running(config) as sim:
        arrivals: list[float] = []
        sim.arrivals.append(
            lambda op: arrivals.append(time.monotonic()) if op is Op.CREATE else None
        )
        manifest = {
            "version": 1,
            "name": "rate",
            "provider": {"name": "simulator", "base_url": sim.url},
            "limits": {
                "max_in_flight": 200,
                "submit_per_minute": rate,
                "poll_interval": "50ms",
                "poll_max": "200ms",
            },
            "output": {"download": False},
            "jobs": [
                {
                    "kind": "image2video",
                    "id": "clip-${n}",
                    "foreach": [{"n": i} for i in range(jobs)],
                    "image": "https://cdn.example.com/${n}.png",
                    "prompt": "scene ${n}",
                }
            ],
        }
        path = folder / "m.yaml"
        path.write_text(yaml.safe_dump(manifest))
        plan = prepare(path, RunOptions())
        try:
            result = await execute(plan)
        finally:
            plan.close()
    times = sorted(arrivals)
    busiest = max(bisect.bisect_left(times, t + 60.0) - i for i, t in enumerate(times))
    first_minute = bisect.bisect_left(times, times[0] + 60.0)
    span = times[-1] - times[0]
    mean = (len(times) - 1) / span * 60 if span else float("nan")
    print(f"creates: {len(times)} of {jobs} jobs ({result.done} done) over {span:.1f} s")
    print(f"limit: {rate:g} a minute")
    print(f"busiest 60 s window: {busiest} creates ({busiest / rate:.1%} of the limit)")
    if span >= 60:
        print(f"first full minute: {first_minute} creates ({first_minute / rate:.1%})")
    print(f"mean over the run: {mean:.1f} a minute ({mean / rate:.1%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1200.0)
    parser.add_argument("--jobs", type=int, default=1800)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(measure(args.rate, args.jobs, Path(tmp)))


if __name__ == "__main__":
    main()
