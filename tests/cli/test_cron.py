"""``kbatch run`` from cron: exit 1 when something new failed (or waits), 4 when nothing new
did and only the failures of earlier runs remain, so an hourly cron need not mail every hour
about the same old failure."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kbatch.cli.app import cli
from kbatch.errors import ExitCode
from kbatch.simulator import Simulator
from kbatch.simulator.tasks import FAIL, UNSAFE
from tests.project import Project, video


def run(project: Project, *more: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", str(project.manifest), "--no-progress", *more])
    return result.exit_code, result.output


def test_only_old_failures_exit_4_and_a_new_failure_exits_1(
    threaded: Simulator, tmp_path: Path
) -> None:
    project = Project(tmp_path, threaded, [video("good"), video("bad", prompt=f"{FAIL} x")])

    assert run(project)[0] == ExitCode.FAILED.value == 1  # bad failed in this run
    code, output = run(project)
    assert code == ExitCode.OLD_FAILURES.value == 4, output  # the same old failure, nothing new
    assert "1 of 2 jobs done" in output

    project.jobs.append(video("refused", prompt=f"{UNSAFE} y"))
    project.save()
    code, output = run(project, "--log-format", "json")
    assert code == 1, output  # a new job failed: cron should hear of it
    end = json.loads(output.splitlines()[-1])
    (refused,) = [group for group in end["failures"] if group["code"] == "1301"]
    assert refused["retry"] is None and "edit each prompt" in refused["advice"]
    assert "--only bad" in end["retry"] and "refused" not in end["retry"]
    assert run(project)[0] == 4

    code, output = run(project, "--retry-failed", "--only", "bad")
    assert code == 1  # retried and failed again: a new failure of this run
    project.jobs = project.jobs[:1]  # the failed ones taken out of the manifest
    project.save()
    assert run(project)[0] == 0
