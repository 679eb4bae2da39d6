"""The disk fails under a run: the state file cannot grow (a child run under a file-size limit,
which makes writes fail as a full disk does), or a result cannot be written where it belongs.
The run stops, says why, and the next run finishes without paying twice."""

from __future__ import annotations

import asyncio
import resource
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from kbatch.engine.options import StopReason
from kbatch.errors import ExitCode
from kbatch.simulator import Simulator, SimulatorConfig, running
from tests.project import Project, expand, on, video
from tests.reliability.checks import exactly_once, settle
from tests.reliability.conftest import FIGURES

FILES = 8 + 2


def jobs(api: str) -> list[dict[str, object]]:
    """Eight videos (on ``api``) and an expansion of two images."""
    return [video(f"v{i}", f"prompt {i}", **on(api)) for i in range(8)] + [expand("e", n=2)]


def file_size_limit(size: int) -> Callable[[], None]:
    """For the child: writes past ``size`` bytes fail with EFBIG instead of killing it."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return apply


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with running(SimulatorConfig(task_seconds=0.1, videos=False)) as simulator:
        yield simulator


@pytest.mark.parametrize(
    ("size", "api"),
    [
        *((size, "legacy") for size in (8_192, 65_536, 131_072, 262_144)),
        *((size, "new") for size in (65_536, 262_144)),  # videos on Kling's new API
    ],
)
async def test_a_state_file_that_cannot_grow_stops_the_run_and_loses_nothing(
    tmp_path: Path, sim: Simulator, size: int, api: str
) -> None:
    project = Project(tmp_path, sim, jobs(api))
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kbatch",
        "run",
        str(project.manifest),
        "--no-progress",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        preexec_fn=file_size_limit(size),
    )
    output, _ = await child.communicate()
    text = output.decode()

    assert child.returncode == 1, text
    assert "state.sqlite3: disk I/O error" in text and "nothing recorded so far is lost" in text
    assert "Traceback" not in text
    FIGURES["disk failures survived"] += 1

    runs, _ = await settle(project)  # the disk has room again
    assert runs == 1
    exactly_once(project, sim, FILES)


@pytest.mark.parametrize("api", ["legacy", "new"])
async def test_a_result_that_cannot_be_written_stops_the_run_until_it_can(
    tmp_path: Path, sim: Simulator, api: str
) -> None:
    project = Project(tmp_path, sim, jobs(api))
    project.out.mkdir(parents=True)
    blocked = [project.out / name for name in ("v3", "e")]
    for path in blocked:  # a file where the job's folder must go: the folder cannot be made
        path.write_text("in the way", encoding="utf-8")

    first = await project.run()

    assert first.stop is StopReason.STATE and first.exit_code != ExitCode.OK
    assert first.message is not None and "cannot write" in first.message
    FIGURES["disk failures survived"] += 1

    for path in blocked:
        path.unlink()
    runs, _ = await settle(project)
    assert runs == 1
    exactly_once(project, sim, FILES)
