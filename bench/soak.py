"""Soak: thousands of jobs against a simulator that injects faults, for a set time, with runs
interrupted at random moments (as a user's Ctrl-C or a cron timeout would). Not a test: it
prints figures, and exits 1 if a promise broke (a duplicate create, a file lost).

    python bench/soak.py                                  # 2,000 jobs, 10% faults, 120 s
    python bench/soak.py --jobs 5000 --fault-rate 0.2 --seconds 300

Figures: jobs done, runs and interruptions, faults injected by kind (each one survived: the run
went on or the next one finished the work), duplicates (tasks created beyond one per job: must
be 0) and files lost (a job recorded as downloaded whose file is missing or differs: must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from kbatch.engine.options import RunOptions
from kbatch.engine.pacing import Pacing
from kbatch.engine.scheduler import Scheduler
from kbatch.errors import ExitCode
from kbatch.run import execute, prepare
from kbatch.simulator import Fault, FaultPlan, Simulator, SimulatorConfig, running

REPO = Path(__file__).resolve().parent.parent
PNG = REPO / "tests" / "manifests" / "images" / "ok.png"
TROUBLE: list[Fault] = [f for f in Fault if f not in (Fault.NOT_FOUND, Fault.REDIRECT)]
PACING = Pacing(backoff_base=0.05, backoff_cap=1.0, parallel_wait=0.05, transient_limit=8)

MANIFEST = """\
version: 1
name: soak
provider: {{name: simulator, base_url: "{url}"}}
limits:
  max_in_flight: 40
  submit_per_minute: 100000
  poll_interval: 100ms
  poll_max: 1s
  task_timeout: 10m
  max_attempts: 3
jobs:
  - kind: image2video
    id: clip-${{id}}
    foreach: rows.csv
    image: ok.png
    prompt: ${{prompt}}
  - kind: image_expand
    id: wide-${{id}}
    foreach: rows.csv
    image: ok.png
    up_expansion_ratio: 0.2
    n: 2
"""


def make_project(folder: Path, url: str, jobs: int) -> Path:
    (folder / "ok.png").write_bytes(PNG.read_bytes())
    with (folder / "rows.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "prompt"])
        for i in range(jobs // 2):
            writer.writerow([f"{i:06d}", f"scene {i}"])
    path = folder / "m.yaml"
    path.write_text(MANIFEST.format(url=url))
    return path


def files_lost(state: Path, out: Path) -> tuple[int, int]:
    """(files checked, files lost) over every job the state says is downloaded."""
    checked = lost = 0
    with sqlite3.connect(state) as db:
        done = {row[0] for row in db.execute("SELECT id FROM jobs WHERE state = 'downloaded'")}
        media = db.execute("SELECT job_id, path, sha256 FROM media").fetchall()
    db.close()
    with_media = set()
    for job_id, path, sha in media:
        if job_id not in done:
            continue
        with_media.add(job_id)
        checked += 1
        file = out / path if path else None
        if file is None or not file.is_file() or _sha256(file) != sha:
            lost += 1
    return checked, lost + len(done - with_media)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def soak(args: argparse.Namespace, folder: Path) -> int:
    rng = random.Random(args.seed)
    rates: dict[Fault, float] = {fault: args.fault_rate / len(TROUBLE) for fault in TROUBLE}
    config = SimulatorConfig(
        task_seconds=0.5,
        parallel_limit=30,  # below max_in_flight: 1303s too
        retry_after=0.05,
        slow_seconds=0.5,
        latency=(0.0, 0.02),
        faults=FaultPlan(rates=rates, seed=args.seed),
        seed=args.seed,
        videos=False,
    )
    async with running(config) as sim:
        manifest = make_project(folder, sim.url, args.jobs)
        deadline = time.monotonic() + args.seconds
        runs = interrupted = 0
        finished = False
        while time.monotonic() < deadline and not finished:
            runs += 1
            cut = rng.uniform(1.0, 8.0) if rng.random() < 0.7 else None

            async def interrupt(engine: Scheduler, cut: float | None = cut) -> None:
                if cut is not None:
                    await asyncio.sleep(cut)
                    engine.interrupt()
                else:
                    await asyncio.Event().wait()

            plan = prepare(manifest, RunOptions(pacing=PACING, seed=rng.randrange(2**32)))
            try:
                result = await execute(plan, watch=interrupt)
            finally:
                plan.close()
            interrupted += result.stop is not None and result.stop.value == "interrupted"
            finished = result.exit_code == ExitCode.OK
            print(
                f"run {runs}: {result.done}/{result.selected} done"
                + (f", stopped: {result.stop.value}" if result.stop else "")
            )
        report(args, sim, manifest, runs, interrupted, finished)
        checked, lost = files_lost(
            manifest.parent / "out" / "soak" / "state.sqlite3", manifest.parent / "out" / "soak"
        )
        duplicates = sum(n - 1 for n in sim.creates.values()) + max(
            0, len(sim.store.tasks) - args.jobs
        )
        print(f"duplicates: {duplicates} (must be 0)")
        print(f"files checked: {checked}, lost: {lost} (must be 0)")
        return 0 if duplicates == 0 and lost == 0 else 1


def report(
    args: argparse.Namespace,
    sim: Simulator,
    manifest: Path,
    runs: int,
    interrupted: int,
    finished: bool,
) -> None:
    with sqlite3.connect(manifest.parent / "out" / "soak" / "state.sqlite3") as db:
        states = dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
    db.close()
    print()
    print(f"jobs: {args.jobs}, by state: {states}; finished: {'yes' if finished else 'no'}")
    print(f"runs: {runs}, interrupted at random: {interrupted}")
    total = sum(sim.injected.values())
    kinds = ", ".join(f"{name} {n}" for name, n in sorted(sim.injected.items()))
    print(f"faults injected and survived: {total} ({kinds})")
    print(f"requests served: {sum(sim.requests.values())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        code = asyncio.run(soak(args, Path(tmp)))
    print(f"wall time: {time.monotonic() - started:.0f} s")
    raise SystemExit(code)


if __name__ == "__main__":
    main()
