"""From a task's end to the next create: the slot is free once the provider says the task ended,
so the next job's create does not wait for the finished task's download."""

from __future__ import annotations

from pathlib import Path

from kbatch.errors import ExitCode
from kbatch.simulator import Fault, Op, Simulator
from kbatch.store import JobState
from tests.project import Project, video


async def test_the_next_create_goes_out_while_the_finished_task_still_downloads(
    tmp_path: Path, live: Simulator
) -> None:
    live.config.slow_seconds = 1.0  # the first result file answers after a second
    live.faults.script(Op.DOWNLOAD, Fault.SLOW)
    project = Project(tmp_path, live, [video("a"), video("b", prompt="a dog")])
    project.limits["max_in_flight"] = 1  # b needs a's slot
    project.save()
    seen: list[tuple[Op, int]] = []  # at each create and download: a's files on disk

    def note(op: Op) -> None:
        if op in (Op.CREATE, Op.DOWNLOAD):
            seen.append((op, len(list(project.out.glob("a/*.mp4")))))

    live.arrivals.append(note)
    result = await project.run()

    assert result.exit_code == ExitCode.OK
    assert project.check_files() == 2
    rows = project.rows()
    assert rows["a"].state is JobState.DOWNLOADED and rows["b"].state is JobState.DOWNLOADED
    creates = [files for op, files in seen if op is Op.CREATE]
    assert creates == [0, 0]  # b was sent before a's (held back) file was on disk
    assert seen.index((Op.DOWNLOAD, 0)) < len(seen) - 1  # a's download had begun by then
