"""How many jobs a run's budget held back, said once per job on either state backend."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from kbatch.cli.app import cli
from kbatch.simulator import Simulator
from tests.project import Project, video


def test_each_job_the_budget_holds_back_is_counted_once(
    tmp_path: Path, threaded: Simulator, backend: str
) -> None:
    """Five videos estimated at 3 units (charged 1) under a budget of 4: the first runs, the
    rest are held back (on a shared state, whose claims are tried again in later passes, one
    more fits once the first is charged). A job is counted once, and not once it started (the
    shared state said 8 where 4 were pending)."""
    jobs = [video(name, prompt=name) for name in "abcde"]
    project = Project(tmp_path, threaded, jobs)
    project.extra["pricing"] = {"image2video": {"kling-v1": {"std": 3}}}
    project.limits["budget_units"] = {"video": 4}
    project.save()

    result = CliRunner().invoke(cli, ["run", str(project.manifest), "--no-progress"])

    assert result.exit_code == 1, result.output
    pending = [row.id for row in project.rows().values() if row.state.value == "pending"]
    assert len(pending) == (4 if backend == "sqlite" else 3)
    assert f"{len(pending)} video jobs were not started" in result.output, result.output
