"""A pipeline run by three ``kbatch run`` children at once on one shared PostgreSQL state: a
runner claims only ready jobs (a downstream waits for its upstream, whichever runner makes
it), every job is created once, every file is on disk, and each downstream is created after
its upstream succeeded, with its result."""

from __future__ import annotations

from pathlib import Path

from kbatch.simulator import SimulatorConfig, running
from tests.project import Project, spawn
from tests.reliability.checks import exactly_once, settle
from tests.reliability.test_pipeline_crash import ROWS, downstream_after_upstream, pipeline_jobs

CHILD = ("--no-progress", "--lease", "3", "--request-timeout", "1")


async def test_three_runners_share_a_pipeline_and_pay_once(tmp_path: Path, pg_state: str) -> None:
    # Two slots and tasks of a second: the work outlasts the runners' start-up (about a
    # second each), so all three are claiming while the first is still busy.
    config = SimulatorConfig(task_seconds=1.0, seed=7, latency=(0.0, 0.02), videos=False)
    async with running(config) as sim:
        project = Project(tmp_path, sim, pipeline_jobs(), state=pg_state)
        project.limits.update(max_in_flight=2)
        project.save()
        children = [
            await spawn(project, *CHILD, "--state", pg_state, log=f"child{i}.log") for i in range(3)
        ]
        codes = [await child.wait() for child in children]
        logs = [(tmp_path / f"child{i}.log").read_text()[-2000:] for i in range(3)]
        assert all(code in (0, 1) for code in codes), logs
        full = [(tmp_path / f"child{i}.log").read_text() for i in range(3)]
        assert sum('"event": "submitted"' in log for log in full) >= 2  # the work was shared
        runs, _ = await settle(project)  # a runner may end before another's upstream is done
        exactly_once(project, sim, files=3 * ROWS + 1)
        downstream_after_upstream(project, sim)
        assert runs == 1  # nothing left that a first settling run could not finish
