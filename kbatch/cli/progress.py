"""What ``kbatch run`` shows while it runs, and the summary at its end.

Four modes, chosen by :func:`choose`:

- ``live``: stdout is a terminal. The event log scrolls above a panel (rich) that shows jobs by
  state, a bar of jobs done, slots in flight, the submit rate, units spent and an ETA.
- ``lines``: stdout is a file or a pipe (cron). The event log, and every ``every`` seconds one
  plain ``progress:`` line with the same figures.
- ``log``: ``--no-progress``. The event log only.
- ``quiet``: ``--quiet``. Only what went wrong (failures, stops), and the summary.

The summary at the run's end is :mod:`kbatch.cli.summary`'s.
"""

from __future__ import annotations

import asyncio
import enum
import json
import time
from collections import deque
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from kbatch.cli.log import Format, stamp
from kbatch.engine.events import PROBLEMS, Event
from kbatch.engine.options import Snapshot
from kbatch.engine.scheduler import Scheduler
from kbatch.pricing import show_units
from kbatch.store import JobState

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


def clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def line(figures: Figures) -> str:
    """The plain progress line of ``lines`` mode."""
    snap = figures.snapshot
    eta = "-" if figures.eta is None else clock(figures.eta)
    blocked = snap.counts.get(JobState.BLOCKED, 0)
    piped = f"{snap.waiting} waiting, {blocked} blocked, " if snap.waiting or blocked else ""
    return (
        f"progress: {figures.done}/{snap.selected} done, {figures.failed} failed, {piped}"
        f"slots {_slots(snap)}, {figures.per_minute:.1f} submits/min, "
        f"units {show_units(snap.units)}, elapsed {clock(figures.elapsed)}, ETA {eta}"
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
    eta = "-" if figures.eta is None else clock(figures.eta)
    facts = Text(
        f"slots {_slots(snap)} · {figures.per_minute:.1f} submits/min"
        f" · units {show_units(snap.units)} · elapsed {clock(figures.elapsed)} · ETA {eta}"
    )
    table = Table.grid(padding=(0, 1))
    table.add_row(Text(title, style="bold"))
    table.add_row(states)
    table.add_row(bar(figures.done, snap.selected) + count)
    table.add_row(facts)
    if snap.uploads is not None:
        ready, started, sent = snap.uploads
        table.add_row(Text(f"media: {ready}/{started} files in the store, {sent:,} bytes sent"))
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


__all__ = [
    "Display",
    "Figures",
    "Mode",
    "bar",
    "choose",
    "clock",
    "line",
    "panel",
]
