"""The shared PostgreSQL state: what a claim costs, what more runners buy, what it costs a runner.

Four figures, each beside a baseline measured in the same run:

- claims under a budget: claims per second on a manifest of 2,000 jobs and of 100,000
  (``--budget-sizes``), one runner and three; baseline: the first size (a claim reads its
  manifest's running totals, so the figure must not fall with the size);

- claims: a runner's claims per second (one transaction each: the account row lock, the job
  ``FOR UPDATE SKIP LOCKED``, the slot sum, the budget, the submitting write), alone and three
  claiming at once; baseline: the SQLite state's durable ``submitting`` write, the step a claim
  replaces for a single runner.
- runners: a 200-job manifest against one simulator process whose account has 10 slots, with 1
  runner and with 3 (``kbatch run --state postgresql://...`` processes): the account is the
  limit, so the wall times should be equal within noise.
- overhead: one ``kbatch run`` of 2,000 instant jobs (64 in flight) on PostgreSQL against the
  same on the SQLite state file.

    eval "$(bash tests/postgres.sh)"        # a throwaway server; or set KBATCH_TEST_POSTGRES
    python bench/shared.py
    python bench/shared.py --repeat 3 --jobs 200 --instant 2000
    python bench/shared.py --only-budget --repeat 3 --budget-claims 300

Each measurement gets a fresh schema of its own. Not a test: it prints figures and ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kbatch.provider.catalogue import JobKind, PackType
from kbatch.store import JobRow, SqliteStore, external_task_id
from kbatch.store.postgres import PostgresStore
from kbatch.store.records import AttemptRow
from kbatch.store.seats import RunnerSpec

MANIFEST = """\
version: 1
name: {name}
provider: {{name: simulator, base_url: "{url}", account: bench}}
limits:
  max_in_flight: {in_flight}
  submit_per_minute: 100000
  poll_interval: 50ms
  poll_max: 200ms
  max_attempts: 1
jobs:
  - kind: text2video
    id: clip-${{n}}
    foreach: rows.csv
    prompt: scene ${{n}}
"""


@contextmanager
def schema(url: str) -> Iterator[str]:
    name = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {name}")
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {name} CASCADE")


# -- claims --------------------------------------------------------------------------------------


def rows(count: int, prefix: str = "j") -> list[JobRow]:
    return [
        JobRow(f"{prefix}{i}", JobKind.TEXT2VIDEO, "fp", slots=1, estimate=1.0)
        for i in range(count)
    ]


async def claims_per_second(
    url: str, count: int, claimers: int, *, budget: float | None = None, claims: int = 0
) -> float:
    """``claims`` (all of them when 0) of a manifest of ``count`` jobs claimed by ``claimers``
    runners at once, under ``budget`` units (None: no budget)."""
    stores = [
        PostgresStore.open(
            url, manifest_name="m", account="a", fingerprint="f", runner=RunnerSpec()
        )
        for _ in range(claimers)
    ]
    stores[0].write_now(rows(count))
    for store in stores:
        assert store.runner is not None
        await store.runner.join(slot_limit=1_000_000)
    ids = [f"j{i}" for i in range(claims or count)]

    async def claimer(store: PostgresStore, mine: list[str]) -> None:
        def make(current: JobRow) -> tuple[JobRow, AttemptRow]:
            external = external_task_id(store.salt, current.id, current.fingerprint, 1)
            row = current.submitting(external, now=time.time())
            return row, AttemptRow(row.id, row.attempt, external, started_at=row.updated_at)

        for job_id in mine:
            assert store.runner is not None
            claim = await store.runner.claim(
                job_id, make, pack=PackType.VIDEO, budget=budget, rate_step=0.0
            )
            assert claim.row is not None, claim

    started = time.perf_counter()
    await asyncio.gather(*(claimer(s, ids[n::claimers]) for n, s in enumerate(stores)))
    seconds = time.perf_counter() - started
    for store in stores:
        assert store.runner is not None
        await store.runner.leave()
        store.close()
    return len(ids) / seconds


def budget_claims(base: str, sizes: list[int], claims: int, repeat: int) -> None:
    """Claims a second under a budget, by the manifest's size: a claim must not cost more
    on a big manifest than on a small one."""
    print(f"claims under a budget ({claims} claimed, median of {repeat}):")
    figures: dict[tuple[int, int], list[float]] = {}
    for _ in range(repeat):  # the sizes in turn each round: a machine's load weighs on all alike
        for size in sizes:
            for claimers in (1, 3):
                with schema(base) as url:
                    rate = asyncio.run(
                        claims_per_second(url, size, claimers, budget=10.0 * size, claims=claims)
                    )
                figures.setdefault((size, claimers), []).append(rate)
    first: dict[int, float] = {}
    for size in sizes:
        for claimers in (1, 3):
            rate = statistics.median(figures[size, claimers])
            first.setdefault(claimers, rate)
            print(
                f"  {size:>7,} jobs, {claimers} runner{'s' if claimers > 1 else ' '}: "
                f"{rate:7.0f} /s  ({rate / first[claimers]:.2f}x the first size)"
            )


async def sqlite_writes_per_second(folder: Path, count: int) -> float:
    store = SqliteStore.open(folder / "state.sqlite3", manifest_name="m")
    store.write_now(rows(count))
    started = time.perf_counter()
    for row in rows(count):
        external = external_task_id(store.salt, row.id, row.fingerprint, 1)
        submitting = row.submitting(external, now=time.time())
        await store.write(submitting, AttemptRow(row.id, 1, external, started_at=0.0))
    seconds = time.perf_counter() - started
    store.close()
    return count / seconds


# -- runs ----------------------------------------------------------------------------------------


def project(folder: Path, url: str, name: str, jobs: int, in_flight: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "rows.csv").write_text("n\n" + "".join(f"{i}\n" for i in range(jobs)))
    manifest = folder / "m.yaml"
    manifest.write_text(MANIFEST.format(name=name, url=url, in_flight=in_flight))
    return manifest


def run_runners(manifest: Path, runners: int, state: str | None) -> float:
    """Wall time of ``runners`` kbatch processes on one manifest, started together."""
    command = [sys.executable, "-m", "kbatch", "run", str(manifest), "--no-progress"]
    if state is not None:
        command += ["--state", state]
    started = time.perf_counter()
    children = [
        subprocess.Popen(command, cwd=manifest.parent, stdout=subprocess.DEVNULL)
        for _ in range(runners)
    ]
    codes = [child.wait() for child in children]
    seconds = time.perf_counter() - started
    if any(codes):
        raise RuntimeError(f"kbatch run exited {codes}")
    return seconds


def files(manifest: Path, name: str) -> int:
    return sum(1 for _ in (manifest.parent / "out" / name).glob("*/0.mp4"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=os.environ.get("KBATCH_TEST_POSTGRES"))
    parser.add_argument("--claims", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--slots", type=int, default=10)
    parser.add_argument("--task-seconds", type=float, default=1.0)
    parser.add_argument("--instant", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget-sizes", default="2000,100000", help="manifest sizes")
    parser.add_argument("--budget-claims", type=int, default=1000)
    parser.add_argument("--only-budget", action="store_true", help="only claims under a budget")
    args = parser.parse_args()
    if not args.database:
        parser.error('no database: eval "$(bash tests/postgres.sh)" or pass --database URL')
    base: str = args.database
    sizes = [int(size) for size in args.budget_sizes.split(",")]
    budget_claims(base, sizes, args.budget_claims, args.repeat)
    if args.only_budget:
        return

    with tempfile.TemporaryDirectory() as tmp:
        sqlite: list[float] = []
        alone: list[float] = []
        three: list[float] = []
        for round_ in range(args.repeat):
            folder = Path(tmp, f"s{round_}")
            folder.mkdir()
            sqlite.append(asyncio.run(sqlite_writes_per_second(folder, args.claims)))
            with schema(base) as url:
                alone.append(asyncio.run(claims_per_second(url, args.claims, 1)))
            with schema(base) as url:
                three.append(asyncio.run(claims_per_second(url, args.claims, 3)))
        s, a, t = (statistics.median(x) for x in (sqlite, alone, three))
        print(f"claims ({args.claims} jobs, median of {args.repeat}):")
        print(f"  SQLite durable submitting write (baseline): {s:7.0f} /s")
        print(f"  PostgreSQL claim, one runner:               {a:7.0f} /s  ({a / s:.2f}x)")
        print(f"  PostgreSQL claims, three runners at once:   {t:7.0f} /s  ({t / s:.2f}x)")

        one: list[float] = []
        many: list[float] = []
        for round_ in range(args.repeat):
            for runners, into in ((1, one), (3, many)):
                with simulator_with(args.slots, args.task_seconds) as sim, schema(base) as url:
                    name = f"r{runners}x{round_}"
                    manifest = project(Path(tmp, name), sim, name, args.jobs, args.slots)
                    into.append(run_runners(manifest, runners, url))
                    assert files(manifest, name) == args.jobs
        o, m = statistics.median(one), statistics.median(many)
        ideal = args.jobs * args.task_seconds / args.slots
        print(
            f"runners ({args.jobs} jobs of {args.task_seconds:g}s, {args.slots} slots; "
            f"the account's own bound {ideal:.0f}s):"
        )
        print(f"  1 runner:  {o:6.1f}s wall (median of {args.repeat})")
        print(f"  3 runners: {m:6.1f}s wall  ({m / o:.2f}x the single runner)")

        lite: list[float] = []
        pg: list[float] = []
        for round_ in range(args.repeat):
            with simulator_with(1_000_000, 0.0) as sim:
                name = f"lite{round_}"
                manifest = project(Path(tmp, name), sim, name, args.instant, 64)
                lite.append(args.instant / run_runners(manifest, 1, None))
            with simulator_with(1_000_000, 0.0) as sim, schema(base) as url:
                name = f"pg{round_}"
                manifest = project(Path(tmp, name), sim, name, args.instant, 64)
                pg.append(args.instant / run_runners(manifest, 1, url))
        li, p = statistics.median(lite), statistics.median(pg)
        print(f"one runner, {args.instant} instant jobs, 64 in flight (median of {args.repeat}):")
        print(f"  SQLite state file:  {li:6.0f} jobs/s (baseline)")
        print(f"  PostgreSQL state:   {p:6.0f} jobs/s  ({p / li:.2f}x)")


@contextmanager
def simulator_with(slots: int, task_seconds: float) -> Iterator[str]:
    """A simulator process whose account has ``slots`` parallel tasks."""
    command = [
        sys.executable, "-m", "kbatch", "simulator", "--port", "0",
        "--task-seconds", str(task_seconds), "--parallel-limit", str(slots), "--no-videos",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        match = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
        if not match:
            raise RuntimeError("the simulator did not start")
        yield match.group(0)
    finally:
        process.terminate()
        process.wait()


if __name__ == "__main__":
    main()
