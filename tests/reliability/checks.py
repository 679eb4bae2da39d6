"""What every reliability test checks at its end: each job done exactly once, each result file
on disk with the bytes the simulator served, nothing half-written left behind."""

from __future__ import annotations

from typing import Any

from kbatch.errors import ExitCode
from kbatch.provider.catalogue import PackType
from kbatch.run import RunResult
from kbatch.simulator import Simulator
from kbatch.store import JobRow, JobState, budgets
from kbatch.store.mapping import columns, job
from tests.project import Project
from tests.reliability.conftest import FIGURES


async def settle(project: Project, most: int = 15, **options: Any) -> tuple[int, RunResult]:
    """Run again until every job is done, as a user (or cron) would; the runs it took."""
    result = None
    for runs in range(1, most + 1):
        result = await project.run(**options)
        if result.exit_code == ExitCode.OK:
            return runs, result
    raise AssertionError(f"not done after {most} runs: {result}")


def injected(sim: Simulator) -> int:
    """Count the faults the simulator injected, by kind, into the figures."""
    for fault, count in sim.injected.items():
        FIGURES[f"faults injected: {fault}"] += count
    return sum(sim.injected.values())


def exactly_once(project: Project, sim: Simulator, files: int) -> None:
    """Every job downloaded from one task that was created once; every file served intact."""
    rows = project.rows()
    assert {row.state for row in rows.values()} == {JobState.DOWNLOADED}, rows
    tasks = len(sim.store.tasks) + len(sim.blocks.made.tasks)  # and the building blocks'
    duplicates = sum(n - 1 for n in sim.creates.values()) + tasks - len(rows)
    FIGURES["duplicates (must be 0)"] += duplicates
    assert duplicates == 0, dict(sim.creates)
    lost = files - project.check_files()
    FIGURES["files lost (must be 0)"] += lost
    assert lost == 0
    assert not list(project.out.glob("*/.*.part")), "a part file was left behind"


def totals_agree(url: str, manifest: str) -> None:
    """The shared state's running budget totals equal :func:`kbatch.store.budgets.share` summed
    over the manifest's job rows (the totals are moved by every transition: after chaos they
    must still be exact)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        kept = {
            PackType(pack): budgets.Share(spent, reserved)
            for pack, spent, reserved in db.execute(
                "SELECT pack, spent, reserved FROM budgets WHERE manifest = %s", (manifest,)
            )
        }
        found = db.execute(f"SELECT {columns(JobRow)} FROM jobs WHERE manifest = %s", (manifest,))
        summed = budgets.totals(job(values) for values in found)
    off = 0
    for pack in {*kept, *summed}:
        one, other = kept.get(pack, budgets.Share()), summed.get(pack, budgets.Share())
        off += abs(one.spent - other.spent) > 1e-6 or abs(one.reserved - other.reserved) > 1e-6
    FIGURES["budget totals off their job rows (must be 0)"] += off
    assert off == 0, (kept, summed)
    assert summed, "no job counted: the check checked nothing"
