"""``kbatch run`` as a library: prepare a manifest's state, run what is left, sum it up.

::

    with prepare("manifests/demo.yaml", RunOptions()) as plan:   # validate, lock, sync the state
        result = asyncio.run(execute(plan, on_event=print))       # submit, poll, download
    result.exit_code                                              # 0, 1, 4 or 130

:func:`prepare` checks the manifest, takes the state's run lock and brings the state in line with
the manifest: new jobs become ``pending``; an edited job (new fingerprint) starts afresh and its
old result files are removed; ``--retry-failed`` gives failed jobs new attempts. Jobs no longer in
the manifest are kept in the state, marked removed: not run, not counted, their files kept.
:func:`execute` runs what is left with the :class:`~kbatch.engine.scheduler.Scheduler`, and
sends no request at all (nor starts a simulator) when nothing is. Inside a running event loop
(a notebook), ``await execute(plan)`` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Self

from kbatch import pricing
from kbatch import reports as report
from kbatch.engine.clock import Clock
from kbatch.engine.events import Event, EventName, OnEvent
from kbatch.engine.options import RunOptions, StopReason
from kbatch.engine.scheduler import Batch, Scheduler
from kbatch.engine.sharing import lease_problem
from kbatch.errors import ConfigError, ExitCode, KbatchError
from kbatch.intake import (
    Seen,
    SeenJob,
    check_credentials,
    check_manifest,
    check_selection,
    fingerprints,
    redone,
)
from kbatch.manifest import Manifest
from kbatch.pricing import Units
from kbatch.provider.connect import connect
from kbatch.reconciliation import reconcile, with_dependents
from kbatch.store import STATE_FILE, JobRow, JobState, StateStore, owner
from kbatch.store.location import SharedDatabase, StateFile, StateLocation, locate
from kbatch.store.seats import Role, RunnerSpec, RunnerView


@dataclass(frozen=True)
class RunResult:
    counts: dict[JobState, int]
    done: int
    selected: int
    units: Units  # spent, per pack
    stop: StopReason | None = None
    message: str | None = None
    reports: tuple[Path, ...] = ()  # written into the output folder after the run
    report_error: str | None = None  # why they could not be
    #: Every selected job not done had failed for good before this run began (none new).
    old_failures: bool = False

    @property
    def exit_code(self) -> ExitCode:
        if self.stop is StopReason.INTERRUPTED:
            return ExitCode.INTERRUPTED
        if self.done == self.selected:
            return ExitCode.OK
        return ExitCode.OLD_FAILURES if self.old_failures else ExitCode.FAILED


@dataclass
class Plan:
    """A manifest brought in line with its state, ready to run. Holds the run lock until it is
    closed: use it as a context manager."""

    batch: Batch
    store: StateStore
    location: StateLocation  # where ``store`` lives
    pending: int  # selected jobs to submit
    #: A shared state: jobs at the provider or waiting for a download, whoever holds them.
    unsettled: int = 0
    #: The jobs that had failed for good when the run began (not retried by this run).
    failed_before: frozenset[str] = frozenset()

    @property
    def manifest(self) -> Manifest:
        return self.batch.manifest

    @property
    def options(self) -> RunOptions:
        return self.batch.options

    @property
    def ids(self) -> list[str]:
        return self.batch.ids

    @property
    def rows(self) -> dict[str, JobRow]:
        """Current: the engine updates it with every row it writes."""
        return self.batch.rows

    @property
    def idle(self) -> bool:
        return not self.batch.resumed and not self.pending and not self.unsettled

    @property
    def others(self) -> tuple[RunnerView, ...]:
        """Other live runners of the manifest, in a shared state, when this one started."""
        return self.store.others

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def state_location(manifest: Manifest, options: RunOptions) -> StateLocation:
    """The state file (``--state``, else the output folder's), or the shared database."""
    return locate(manifest.output.dir, options.state_path)


def prepare(path: str | Path, options: RunOptions | None = None) -> Plan:
    """Validate the manifest (ManifestError with every problem), take the run lock (LockHeld),
    and record new, edited and retried jobs in the state file."""
    options = options or RunOptions()
    manifest, seen = check_manifest(path)
    check_selection(options, seen)
    check_credentials(manifest, options, seen)
    where = state_location(manifest, options)
    store = open_state(manifest, options, seen, where)
    try:
        rows = store.load()
        options = with_dependents(options, manifest.graph, rows)
        redo = redone(options, manifest, seen)
        changed, reset = reconcile(rows, seen, manifest.pricing, options, time.time(), redo)
        for job_id in reset:  # an edited job's old results would mix with its new ones
            for media in store.media(job_id):
                if media.path:
                    (manifest.output.dir / media.path).unlink(missing_ok=True)
        if changed:
            store.write_now(changed, delete_media=reset)
    except BaseException:
        store.close()
        raise
    rows.update((row.id, row) for row in changed)
    download_wanted = manifest.output.download
    resumed = [
        row
        for row in (rows[i] for i in seen)
        if row.state.at_provider or (row.state is JobState.SUCCEEDED and download_wanted)
    ]
    pending = sum(1 for i in seen if rows[i].state is JobState.PENDING and options.selects(i))
    keys = {job_id: job.price for job_id, job in seen.items()}
    api = manifest.provider.api
    targets = {i: t for i, job in seen.items() if (t := job.target(api)) != job.kind}
    unsettled = 0
    if store.shared is not None:  # taken over by claims when no live lease holds them
        resumed, unsettled = [], len(resumed)
    batch = Batch(manifest, store, options, list(seen), rows, resumed, keys, targets)
    failed = frozenset(i for i in seen if rows[i].state is JobState.FAILED)
    return Plan(batch, store, where, pending, unsettled, failed)


def open_state(
    manifest: Manifest, options: RunOptions, seen: Seen, where: StateLocation
) -> StateStore:
    """Open the manifest's state for a run: the state file under its run lock (LockHeld), or
    the shared state as a new runner (StateError if other runners run other jobs). Either
    becomes the output folder's owner (another state is refused there)."""
    problem = lease_problem(options.lease, options.timeouts) if where.shared else None
    if not where.shared and options.role is not Role.ALL:
        problem = (
            f"--role {options.role} needs a shared state (--state postgresql://...): a state "
            "file has one runner, which both submits and downloads"
        )
    if problem is not None:
        raise ConfigError(problem)
    owner.check(manifest.output.dir, where, take=options.take_output)
    store = where.open(
        manifest_name=manifest.name,
        account=manifest.provider.account_label,
        runner=RunnerSpec(options.role, options.lease, manifest.output.download),
        jobs=fingerprints(seen),
    )
    try:
        owner.claim(manifest.output.dir, where)
    except BaseException:
        store.close()
        raise
    return store


def summarize(plan: Plan, stop: StopReason | None, message: str | None) -> RunResult:
    """Counts over the manifest's jobs. ``plan.rows`` is current: the engine updates it with
    every row it writes, so the state file need not be read again."""
    rows = plan.rows
    counts = dict.fromkeys(JobState, 0)
    done = selected = 0
    old = True  # every selected job not done failed before this run
    download_wanted = plan.options.downloads(plan.manifest.output.download)
    for job_id in plan.ids:
        row = rows[job_id]
        counts[row.state] += 1
        if plan.options.selects(job_id):
            selected += 1
            finished = row.state.done(download_wanted)
            done += finished
            old = old and (finished or _failed_before(plan, row))
    units = pricing.by_pack((row.kind, row.units) for row in rows.values())  # as store.units()
    return RunResult(counts, done, selected, units, stop, message, old_failures=old)


def _failed_before(plan: Plan, row: JobRow) -> bool:
    return row.state is JobState.FAILED and row.id in plan.failed_before


async def execute(
    plan: Plan,
    *,
    on_event: OnEvent = lambda event: None,
    env: Mapping[str, str] | None = None,
    simulator: Any = None,
    handle_signals: bool = False,
    watch: Callable[[Scheduler], Coroutine[Any, Any, None]] | None = None,
    clock: Clock | None = None,
) -> RunResult:
    """Run a prepared plan, then write the reports into the output folder. Sends no request
    (and starts no simulator) when nothing is left to do. ``watch`` runs beside the engine
    until it ends (a progress display). ``clock`` replaces the real one (tests of timeouts)."""
    if plan.idle:
        result = summarize(plan, None, None)
    else:
        async with connect(
            plan.manifest.provider,
            env=env,
            timeouts=plan.options.timeouts,
            simulator=simulator,
            simulator_tasks=simulator_tasks(plan),
        ) as client:
            scheduler = Scheduler(plan.batch, client, on_event, clock=clock)
            watcher = asyncio.create_task(watch(scheduler)) if watch else None
            try:
                with _signals(scheduler, enabled=handle_signals):
                    await scheduler.run()
            finally:
                if watcher is not None:
                    watcher.cancel()
                    await asyncio.gather(watcher, return_exceptions=True)
        message = scheduler.stop_message or scheduler.notice
        if plan.store.shared is not None and scheduler.stop is not StopReason.STATE:
            plan.rows.update(await asyncio.to_thread(plan.store.load))  # others moved jobs too
        result = summarize(plan, scheduler.stop, message)
    try:
        written = await asyncio.to_thread(write_reports, plan)
    except (OSError, KbatchError) as exc:
        message = f"the reports could not be written: {exc}; the state is intact"
        on_event(Event(EventName.REPORT, None, message))
        return replace(result, report_error=message)
    return replace(result, reports=tuple(written))


def simulator_tasks(plan: Plan) -> Path:
    """Where the built-in simulator keeps its tasks between runs: beside the state file (in
    the output folder for a shared state)."""
    match plan.location:
        case StateFile(path):
            return path.with_name(path.name + ".simulator.jsonl")
        case SharedDatabase():
            return plan.manifest.output.dir / "state.simulator.jsonl"


def write_reports(plan: Plan) -> list[Path]:
    """report.csv, report.json and index.html in the plan's output folder. A run that changed
    nothing keeps the reports of the state it found, if they are all there: a cron job rerunning
    a finished 100,000-job manifest need not rewrite 50 MB of identical reports."""
    output = plan.manifest.output
    paths = [output.dir / name for name in report.FILES.values()]
    revision = plan.store.revision()
    key = "reports"
    if plan.store.shared is not None:  # each host writes its own reports from the one state
        key = f"reports@{socket.gethostname()}:{output.dir}"
    if plan.store.recall(key) == revision and all(path.is_file() for path in paths):
        return paths
    written = report.write_all(
        plan.store,
        name=plan.manifest.name,
        output_dir=output.dir,
        download=output.download,
        sources=report.job_sources(plan.manifest),
    )
    plan.store.remember(key, revision)
    return written


@contextlib.contextmanager
def _signals(scheduler: Scheduler, *, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, scheduler.interrupt)
    try:
        yield
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)


__all__ = [
    "STATE_FILE",
    "Plan",
    "RunOptions",
    "RunResult",
    "SeenJob",
    "execute",
    "prepare",
    "state_location",
    "summarize",
    "write_reports",
]
