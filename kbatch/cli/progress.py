"""What ``kbatch run`` shows while it runs, and the summary at its end.

Four modes, chosen by :func:`choose`:

- ``live``: stdout is a terminal. The event log scrolls above a panel (rich) that shows jobs by
  state, a bar of jobs done, slots in flight, the submit rate, units spent and an ETA.
- ``lines``: stdout is a file or a pipe (cron). The event log, and every ``every`` seconds one
  plain ``progress:`` line with the same figures.
- ``log``: ``--no-progress``. The event log only.
- ``quiet``: ``--quiet``. Only what went wrong (failures, stops), and the summary.

The summary is a short table of jobs by state, units and wall time, then the failures grouped
by reason with a count, an example and the command that retries them.
"""

from __future__ import annotations

import asyncio
import enum
import json
import shlex
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from kbatch.cli import charges
from kbatch.cli.log import Format, stamp
from kbatch.engine.events import PROBLEMS, Event
from kbatch.engine.options import Snapshot
from kbatch.engine.scheduler import Scheduler
from kbatch.pricing import Units, show_units
from kbatch.store import JobRow, JobState, StateLocation

#: Events shown even with --quiet: something went wrong or the run stopped early.


class Mode(enum.StrEnum):
    LIVE = "live"
    LINES = "lines"
    LOG = "log"
    QUIET = "quiet"


def choose(*, terminal: bool, no_progress: bool, quiet: bool) -> Mode:
    if quiet:
        return Mode.QUIET
    if no_progress:
        return Mode.LOG
    return Mode.LIVE if terminal else Mode.LINES


@dataclass(frozen=True, slots=True)
class Figures:
    """A snapshot with the rates worked out."""

    snapshot: Snapshot
    done: int
    failed: int
    elapsed: float
    per_minute: float  # creates accepted in the last minute (or since the start, if shorter)
    eta: float | None  # seconds, from the pace of finished jobs so far


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def line(figures: Figures) -> str:
    """The plain progress line of ``lines`` mode."""
    snap = figures.snapshot
    eta = "-" if figures.eta is None else _clock(figures.eta)
    blocked = snap.counts.get(JobState.BLOCKED, 0)
    piped = f"{snap.waiting} waiting, {blocked} blocked, " if snap.waiting or blocked else ""
    return (
        f"progress: {figures.done}/{snap.selected} done, {figures.failed} failed, {piped}"
        f"slots {_slots(snap)}, {figures.per_minute:.1f} submits/min, "
        f"units {show_units(snap.units)}, elapsed {_clock(figures.elapsed)}, ETA {eta}"
    )


def _slots(snap: Snapshot) -> str:
    """Slots per pack, each against its own target: ``video 3/5, image 4/5``."""
    if not snap.slots:
        return f"{snap.in_flight}/{snap.target}"
    return ", ".join(
        f"{pack} {used}/{target}" for pack, (used, target) in sorted(snap.slots.items())
    )


def record(figures: Figures) -> dict[str, object]:
    """The progress line as a JSON object (``--log-format json``): the same figures."""
    snap = figures.snapshot
    return {
        "time": stamp(time.time()),
        "event": "progress",
        "done": figures.done,
        "selected": snap.selected,
        "failed": figures.failed,
        "slots": {
            pack.value: {"used": used, "target": target}
            for pack, (used, target) in sorted(snap.slots.items())
        },
        "submits_per_minute": round(figures.per_minute, 1),
        "units": {pack.value: amount for pack, amount in sorted(snap.units.items())},
        "elapsed": round(figures.elapsed, 1),
        "eta": None if figures.eta is None else round(figures.eta, 1),
    }


def panel(figures: Figures, title: str) -> Table:
    """The live panel of ``live`` mode."""
    snap = figures.snapshot
    states = Text("  ".join(f"{state} {n}" for state, n in snap.counts.items() if n))
    if snap.waiting:  # of the pending: waiting for a job they take from
        states += Text(f"  (waiting {snap.waiting})")
    count = Text(f" {figures.done}/{snap.selected} done, {figures.failed} failed")
    eta = "-" if figures.eta is None else _clock(figures.eta)
    facts = Text(
        f"slots {_slots(snap)} · {figures.per_minute:.1f} submits/min"
        f" · units {show_units(snap.units)} · elapsed {_clock(figures.elapsed)} · ETA {eta}"
    )
    table = Table.grid(padding=(0, 1))
    table.add_row(Text(title, style="bold"))
    table.add_row(states)
    table.add_row(bar(figures.done, snap.selected) + count)
    table.add_row(facts)
    return table


def bar(done: int, total: int, width: int = 40) -> Text:
    """A bar of jobs done, as text blocks, so that it sits on one line with its count."""
    filled = round(width * min(done, total) / total) if total else 0
    return Text("█" * filled, style="green") + Text("░" * (width - filled), style="grey50")


class Display:
    """Receives a run's events and shows its progress, in one :class:`Mode`."""

    def __init__(
        self,
        console: Console,
        mode: Mode,
        log: Format,
        *,
        title: str = "kbatch run",
        every: float = 30.0,
        refresh: float = 0.25,
        json: bool = False,
        verbose: bool = False,
    ) -> None:
        self.verbose = verbose  # every event line on a terminal, not only the problems
        self.console = console
        self.json = json  # progress lines as JSON objects (--log-format json)
        self.mode = mode
        self.log = log
        self.title = title
        self.every = every
        self.refresh = refresh
        self._started = time.monotonic()
        self._accepted: deque[float] = deque()  # when creates were accepted, last minute
        self._seen = 0
        self._first: Snapshot | None = None
        self._flushing = False
        self._lines: list[str] = []  # event lines not yet written

    def on_event(self, event: Event) -> None:
        # On a terminal the live panel tells how things go: event lines only for what needs
        # attention (failures, stops), unless --verbose; 600 jobs are not 2,400 lines.
        quiet = self.mode is Mode.QUIET or (self.mode is Mode.LIVE and not self.verbose)
        if quiet and event.name not in PROBLEMS:
            return
        text = self.log(event)
        if self.mode is Mode.LIVE:
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)
            return
        self._lines.append(text)
        self._flush_soon()

    def _flush_soon(self) -> None:
        """Write once the events of this turn of the event loop are in: one write for many
        lines instead of one each (even with PYTHONUNBUFFERED, which makes every write a system
        call), and still no line held back longer than a turn."""
        if self._flushing:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside a run: write now
            self.flush()
            return
        self._flushing = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the event lines not yet written."""
        self._flushing = False
        lines, self._lines = self._lines, []
        if lines:
            self.console.file.write("".join(f"{line}\n" for line in lines))
            self.console.file.flush()

    def figures(self, snap: Snapshot, now: float | None = None) -> Figures:
        now = time.monotonic() if now is None else now
        if self._first is None:
            self._first = snap
        for _ in range(snap.submitted - self._seen):
            self._accepted.append(now)
        self._seen = snap.submitted
        while self._accepted and self._accepted[0] < now - 60:
            self._accepted.popleft()
        elapsed = now - self._started
        per_minute = len(self._accepted) * 60 / max(min(elapsed, 60.0), 1.0)
        done = snap.counts[JobState.DOWNLOADED] + snap.counts[JobState.SUCCEEDED]
        failed = snap.counts[JobState.FAILED]
        first = self._first
        finished_before = first.counts[JobState.DOWNLOADED] + first.counts[JobState.SUCCEEDED]
        finished_before += first.counts[JobState.FAILED]
        finished_now = done + failed - finished_before
        left = max(snap.selected - done - failed, 0)
        eta = left * elapsed / finished_now if finished_now > 0 else None
        return Figures(snap, done, failed, elapsed, per_minute, eta)

    async def watch(self, engine: Scheduler) -> None:
        """Show progress until cancelled (when the run ends)."""
        self._started = time.monotonic()
        self.figures(engine.snapshot())
        if self.mode is Mode.LIVE:

            def render() -> Table:
                return panel(self.figures(engine.snapshot()), self.title)

            with Live(render(), console=self.console, auto_refresh=False, transient=True) as live:
                while True:
                    await asyncio.sleep(self.refresh)
                    live.update(render(), refresh=True)
        elif self.mode is Mode.LINES:
            while True:
                await asyncio.sleep(self.every)
                figures = self.figures(engine.snapshot())
                text = json.dumps(record(figures)) if self.json else line(figures)
                self._lines.append(text)
                self.flush()


# -- the end of a run ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FailureGroup:
    """Failed jobs that share a reason and code."""

    reason: str
    code: str | None
    ids: tuple[str, ...]
    example: str

    @property
    def count(self) -> int:
        return len(self.ids)


def failures(rows: Iterable[JobRow]) -> list[FailureGroup]:
    """Failed jobs grouped by reason and code, the largest group first."""
    groups: dict[tuple[str, str | None], list[JobRow]] = {}
    for row in rows:
        if row.state is JobState.FAILED:
            groups.setdefault((row.error_reason or "unknown", row.error_code), []).append(row)
    out = [
        FailureGroup(reason, code, tuple(r.id for r in group), group[0].error_message or "")
        for (reason, code), group in groups.items()
    ]
    return sorted(out, key=lambda group: (-group.count, group.reason))


def summary_record(
    manifest: Path,
    counts: dict[JobState, int],
    rows: Iterable[JobRow],
    *,
    units: Units,
    elapsed: float,
    state: StateLocation | None = None,
) -> dict[str, object]:
    """The end of a run as one JSON object (``--log-format json``): what :func:`summary`
    prints, with the retry commands."""
    rows = list(rows)
    groups = failures(rows)
    return {
        "event": "summary",
        "manifest": str(manifest),
        "counts": {job_state.value: count for job_state, count in counts.items()},
        "units": {pack.value: amount for pack, amount in sorted(units.items())},
        **charges.document(*charges.of_rows(rows)),
        "elapsed": round(elapsed, 1),
        "failures": [
            {
                "reason": group.reason,
                "code": group.code,
                "jobs": list(group.ids),
                "example": group.example,
                "retry": retry_command(manifest, group.ids, state),
            }
            for group in groups
        ],
        "retry": retry_command(manifest, (), state) if groups else None,
    }


def retry_command(
    manifest: Path, ids: Sequence[str] = (), state: StateLocation | None = None
) -> str:
    """The command that gives these failed jobs (all, if none named) new attempts."""
    parts = ["kbatch", "run", _quoted(str(manifest)), "--retry-failed"]
    if state is not None:
        parts += ["--state", _quoted(state.describe())]  # a database URL without its password
    for job_id in ids:
        parts += ["--only", _quoted(job_id)]
    return " ".join(parts)


def _quoted(text: str) -> str:
    return shlex.quote(text)


#: A group this small gets its own retry command with --only.
NAMED = 3


def summary(
    console: Console,
    manifest: Path,
    counts: dict[JobState, int],
    rows: Iterable[JobRow],
    *,
    units: Units,
    elapsed: float,
    state: StateLocation | None = None,
) -> None:
    """Print the end-of-run table, the failures by reason, and how to retry them."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("state")
    table.add_column("jobs", justify="right")
    for job_state, count in counts.items():
        if count:
            table.add_row(job_state.value, str(count))
    table.add_row("total", str(sum(counts.values())), style="bold")
    console.print(table)
    spent = show_units(units)
    console.print(f"units spent: {spent}   wall time: {_clock(elapsed)}", highlight=False)
    rows = list(rows)
    for said in charges.lines(*charges.of_rows(rows)):
        console.print(f"  {said}", highlight=False)
    groups = failures(rows)
    if not groups:
        return
    console.print()
    reasons = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left")
    reasons.add_column("failed: reason")
    reasons.add_column("code")
    reasons.add_column("jobs", justify="right")
    reasons.add_column("example")
    for group in groups:
        example = f"{group.ids[0]}: {group.example}"
        reasons.add_row(group.reason, group.code or "", str(group.count), example)
    console.print(reasons)
    for group in groups:
        if group.count <= NAMED:
            command = retry_command(manifest, group.ids, state)
            console.print(f"retry {group.reason}: {command}", highlight=False, soft_wrap=True)
    command = retry_command(manifest, (), state)
    console.print(f"retry every failed job: {command}", highlight=False, soft_wrap=True)


__all__ = [
    "Display",
    "FailureGroup",
    "Figures",
    "Mode",
    "bar",
    "choose",
    "failures",
    "line",
    "panel",
    "retry_command",
    "summary",
]
