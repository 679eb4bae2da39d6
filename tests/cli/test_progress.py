"""What a run shows: the live panel on a terminal (a real pseudo-terminal), progress lines for
cron, --quiet, and the end summary with failures grouped and the commands that retry them."""

from __future__ import annotations

import asyncio
import io
import os
import pty
import re
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner
from rich.console import Console

from kbatch.cli import progress, summary
from kbatch.cli.app import cli
from kbatch.cli.log import text
from kbatch.engine.events import Event, EventName
from kbatch.engine.options import RunOptions, Snapshot
from kbatch.provider.catalogue import JobKind, PackType
from kbatch.run import execute, prepare
from kbatch.simulator import FAIL, FLAKY, UNSAFE, Simulator
from kbatch.store import JobRow, JobState, locate
from kbatch.store.records import FailureReason
from tests.project import FAST, Project, video

COUNTS = dict.fromkeys(JobState, 0) | {
    JobState.PENDING: 3,
    JobState.RUNNING: 2,
    JobState.DOWNLOADED: 4,
    JobState.FAILED: 1,
}
SNAPSHOT = Snapshot(
    COUNTS,
    selected=10,
    in_flight=2,
    target=4,
    units={PackType.VIDEO: 6.5},
    submitted=7,
    slots={PackType.VIDEO: (2, 4)},  # image jobs would show their own slots beside
)


def test_figures_give_the_rate_and_an_eta_from_the_pace_so_far() -> None:
    display = progress.Display(Console(file=io.StringIO()), progress.Mode.LINES, text)
    start = dict.fromkeys(JobState, 0) | {JobState.PENDING: 10}
    display.figures(Snapshot(start, 10, 0, 4, {}, 0), now=display._started)

    figures = display.figures(SNAPSHOT, now=display._started + 30)

    assert (figures.done, figures.failed) == (4, 1)
    assert figures.per_minute == 14.0  # 7 accepted in the first 30 s
    assert figures.eta == 30.0  # 5 finished in 30 s, 5 left
    assert progress.line(figures) == (
        "progress: 4/10 done, 1 failed, slots video 2/4, 14.0 submits/min, "
        "units video 6.5, elapsed 0:30, ETA 0:30"
    )


def test_the_panel_shows_states_a_bar_and_the_figures() -> None:
    display = progress.Display(Console(file=io.StringIO()), progress.Mode.LIVE, text)
    figures = display.figures(SNAPSHOT, now=display._started + 90)
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(progress.panel(figures, "kbatch run m.yaml"))
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines[0].rstrip() == "kbatch run m.yaml"
    assert lines[1].rstrip() == "pending 3  running 2  downloaded 4  failed 1"
    assert lines[2].rstrip() == "█" * 16 + "░" * 24 + " 4/10 done, 1 failed"
    assert lines[3].startswith("slots video 2/4 · ")  # per pack: never one sum of both
    assert " · units video 6.5 · " in lines[3]  # per pack, never one sum of both


async def test_lines_mode_prints_progress_lines_between_the_events(
    tmp_path: Path, live: Simulator
) -> None:
    project = Project(tmp_path, live, [video(f"v{i}", prompt=f"p{i}") for i in range(6)])
    project.limits["max_in_flight"] = 2
    project.save()
    stream = io.StringIO()
    display = progress.Display(Console(file=stream), progress.Mode.LINES, text, every=0.02)
    plan = prepare(project.manifest, RunOptions(pacing=FAST))
    try:
        result = await execute(plan, on_event=display.on_event, watch=display.watch)
    finally:
        plan.close()

    assert result.exit_code == 0
    lines = stream.getvalue().splitlines()
    progress_lines = [line for line in lines if line.startswith("progress: ")]
    assert progress_lines, lines
    assert all(
        re.search(r"/6 done, 0 failed, slots video [0-2]/2", line) for line in progress_lines
    )
    assert sum(" downloaded  " in line for line in lines) == 6


class CountingFile(io.StringIO):
    """A file that counts its writes: each is a system call on an unbuffered stdout."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


async def test_the_events_of_one_loop_turn_are_written_at_once() -> None:
    stream = CountingFile()
    display = progress.Display(Console(file=stream), progress.Mode.LOG, text)
    for i in range(5):
        display.on_event(Event(EventName.SUBMITTED, f"j{i}", "task t"))
    assert stream.getvalue() == ""  # held until the turn ends

    await asyncio.sleep(0)  # the loop turns

    assert stream.writes == 1 and len(stream.getvalue().splitlines()) == 5
    display.on_event(Event(EventName.DOWNLOADED, "j0", "1 file"))
    display.flush()  # what the CLI does once the run is over
    assert stream.writes == 2 and stream.getvalue().splitlines()[-1].endswith("j0: 1 file")


def test_quiet_shows_only_failures_and_the_summary(threaded: Simulator, tmp_path: Path) -> None:
    project = Project(tmp_path, threaded, [video("good"), video("bad", prompt=f"{FAIL} x")])
    result = CliRunner().invoke(cli, ["run", str(project.manifest), "--quiet"])
    assert result.exit_code == 1
    events = [line for line in result.stdout.splitlines() if re.match(r"\d\d:\d\d:\d\d ", line)]
    assert len(events) == 1 and " failed      bad: " in events[0]
    assert f"{project.manifest}: 1 of 2 jobs done" in result.stdout


def test_the_summary_groups_failures_and_its_retry_command_works(
    threaded: Simulator, tmp_path: Path
) -> None:
    jobs = [video("good"), video("flaky", prompt=f"{FLAKY} x")]
    jobs += [video(f"bad{i}", prompt=f"{UNSAFE} {i}") for i in range(2)]
    project = Project(tmp_path, threaded, jobs)
    project.limits["max_attempts"] = 1
    project.save()

    first = CliRunner().invoke(cli, ["run", str(project.manifest), "--no-progress"])

    assert first.exit_code == 1
    out = first.stdout
    assert f"{project.manifest}: 1 of 4 jobs done" in out
    assert re.search(r"rejected\s+1301\s+2\s+bad0: create image2video: HTTP 400", out), out
    assert re.search(r"provider_failed\s+1\s+flaky: The task failed once", out), out
    assert (
        "flaky: The task failed once as asked (the prompt contains sim:flaky)" in out
    )  # unwrapped
    retries = dict(
        line.removeprefix("retry ").split(": ", 1)
        for line in out.splitlines()
        if line.startswith("retry ")
    )
    manifest = shlex.quote(str(project.manifest))
    assert retries == {  # a refused prompt is never offered a retry as written
        "provider_failed": f"kbatch run {manifest} --retry-failed --only flaky",
        "every failed job": f"kbatch run {manifest} --retry-failed --only flaky",
    }
    assert "rejected 1301: Kling's content policy refused these prompts (code 1301): edit " in out
    assert "an edited job runs again on the next kbatch run, with no --retry-failed" in out

    # The flaky job's own retry command gives it a new attempt, which succeeds.
    command = shlex.split(retries["provider_failed"])
    again = CliRunner().invoke(cli, [*command[1:], "--no-progress"])
    assert again.exit_code == 0, again.output  # --only: every job asked for is done
    rows = project.rows()
    assert rows["flaky"].state is JobState.DOWNLOADED and rows["flaky"].attempt == 2
    assert rows["bad0"].state is JobState.FAILED and rows["bad0"].attempt == 1


def test_failures_are_grouped_by_reason_and_code_largest_first() -> None:
    def failed(job_id: str, reason: str, code: str | None) -> JobRow:
        why = FailureReason(reason)
        row = JobRow(job_id, JobKind.IMAGE2VIDEO, "f", JobState.FAILED, error_reason=why)
        return replace(row, error_code=code, error_message=f"{reason} of {job_id}")

    rows = [
        failed("a", "rejected", "1301"),
        failed("b", "provider_failed", None),
        failed("c", "rejected", "1301"),
        failed("d", "rejected", "1201"),
    ]
    groups = summary.failures(rows)
    assert [(g.reason, g.code, g.ids) for g in groups] == [
        ("rejected", "1301", ("a", "c")),
        ("provider_failed", None, ("b",)),
        ("rejected", "1201", ("d",)),
    ]
    assert groups[0].example == "rejected of a"


def test_a_terminal_gets_the_live_panel(threaded: Simulator, tmp_path: Path) -> None:
    project = Project(tmp_path, threaded, [video(f"v{i}", prompt=f"p{i}") for i in range(3)])
    controller, terminal = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "kbatch", "run", str(project.manifest)],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert child.wait(timeout=60) == 0
    shown = output.decode("utf-8", "replace")
    assert f"kbatch run {project.manifest}" in shown  # the panel's title
    assert "/3 done, 0 failed" in shown
    assert "\x1b[2K" in shown  # the panel redraws itself in place
    assert f"{project.manifest}: 3 of 3 jobs done" in shown


def test_a_terminal_shows_only_the_problems_unless_verbose() -> None:
    events = [
        Event(EventName.SUBMITTED, "v1", "created task t1"),
        Event(EventName.FAILED, "v2", "provider refused the prompt"),
    ]
    shown = {}
    for verbose in (False, True):
        stream = io.StringIO()
        display = progress.Display(
            Console(file=stream, width=200), progress.Mode.LIVE, text, verbose=verbose
        )
        for event in events:
            display.on_event(event)
        shown[verbose] = stream.getvalue()

    assert "v2" in shown[False] and "v1" not in shown[False]
    assert "v1" in shown[True] and "v2" in shown[True]


def test_a_retry_command_names_the_state_it_was_given_without_its_password() -> None:
    shared = locate(Path("out"), "postgresql://kb:s3cret@db.example/kbatch")
    command = summary.retry_command(Path("shots.yaml"), ("a",), shared)
    assert command == (
        "kbatch run shots.yaml --retry-failed --state 'postgresql://kb:***@db.example/kbatch' "
        "--only a"
    )
    assert summary.retry_command(Path("shots.yaml"), (), locate(Path("out"), "my state.db")) == (
        "kbatch run shots.yaml --retry-failed --state 'my state.db'"
    )
