"""The report model: one row per job of a state, and the summary over them.

::

    with SqliteStore.read("out/demo/state.sqlite3") as store:
        report = collect(store, name="demo", output_dir=Path("out/demo"), base=Path("."))
    render(report, "csv")                              # kbatch.reports.formats

Every format has the same columns (:data:`COLUMNS`): the job's id, kind and state, its provider
task id and kbatch's external task id, creates started, when its last attempt was submitted and
finished (UTC, ISO 8601) and the seconds between, units (every attempt, as the budget counts
them: the provider's charge, else the estimate), then what the provider reported it charged
(``charged``: ``reported``, ``estimated`` when it reported nothing and ``units`` is the
estimate, ``partly`` for a mix; ``charged_units``; cash as ``charged_amount`` of
``charged_currency``), its result files (paths relative to the report, so the folder can be
moved) and result URLs, and the error of a failed job; ``removed`` marks a job of an earlier run
that the manifest no longer has (kept, but left out of the summary). When the manifest's jobs
are known, each job's source columns follow (:mod:`kbatch.reports.sources`: the request fields
it sent, its foreach row and matrix values). JSON adds a summary: counts by state and by kind,
wall time, throughput and the totals of what was spent (:mod:`kbatch.reports.totals`: the
manifest's current jobs, and everything this state ever paid). Nothing here reads a
credential; the state holds none.

The formats and the files are in :mod:`kbatch.reports.formats`, the HTML in
:mod:`kbatch.reports.gallery`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbatch.errors import ManifestError
from kbatch.manifest import Manifest
from kbatch.manifest.references import parse
from kbatch.provider import made
from kbatch.provider.catalogue import PACK
from kbatch.reports.sources import Input, SourceRow, Sources
from kbatch.reports.totals import Totals, of_rows
from kbatch.store import JobRow, JobState, MediaRow, StateStore

#: The report's columns, in order.
COLUMNS = (
    "id",
    "kind",
    "pack",
    "state",
    "removed",
    "task_id",
    "external_task_id",
    "attempts",
    "submitted",
    "finished",
    "seconds",
    "units",
    "charged",
    "charged_units",
    "charged_amount",
    "charged_currency",
    "outputs",
    "hosts",
    "result_urls",
    "error_reason",
    "error_code",
    "error_message",
    "made_ids",  # slice records: the provider's ids of what a job made (element_id, voice_id)
)
#: Names a foreach column or matrix key may not take: the report's columns, and those of an
#: export (the dataset loaders name the media column "image" or "video").
RESERVED = (*COLUMNS, "file_name", "index", "image", "video")
#: The gallery shows this many jobs at most; the CSV and JSON reports have them all.
GALLERY_LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class JobReport:
    """One job's line of the report."""

    id: str
    kind: str
    pack: str  # the resource pack its units come from
    state: str
    task_id: str | None
    external_task_id: str | None
    attempts: int
    submitted: str | None
    finished: str | None
    seconds: float | None
    units: float
    outputs: tuple[str, ...]
    result_urls: tuple[str, ...]
    error_reason: str | None
    error_code: str | None
    error_message: str | None
    output_kinds: tuple[str, ...] = field(default=(), repr=False)  # "image" / "video" each
    removed: bool = False  # no longer in the manifest
    #: The machine that holds each of ``outputs`` (a shared state's runners download on many).
    hosts: tuple[str, ...] = ()
    source: SourceRow | None = field(default=None, repr=False)  # see kbatch.reports.sources
    charged: str | None = None  # reported, estimated, partly; None: nothing has cost anything
    charged_units: float | None = None
    charged_amount: float | None = None
    charged_currency: str | None = None
    made_ids: tuple[str, ...] = ()  # slice records: element_id, voice_id, a video's id

    def record(self, source_columns: tuple[str, ...] = ()) -> dict[str, Any]:
        """The report's columns, then the given source columns, as JSON values."""
        values = {name: getattr(self, name) for name in COLUMNS}
        values["outputs"], values["result_urls"] = list(self.outputs), list(self.result_urls)
        values["hosts"] = list(self.hosts)
        values["made_ids"] = list(self.made_ids)
        source = self.source
        for name in source_columns:
            value = source.get(name) if source is not None else None
            values[name] = list(value) if isinstance(value, tuple) else value
        return values


@dataclass(frozen=True, slots=True)
class ReportTotals:
    """Totals over the report's jobs. Wall time runs from the first submission to the last
    finish that the state records; throughput is jobs done per hour of it."""

    jobs: int  # the manifest's: jobs removed from it are counted apart
    by_state: dict[str, int]
    by_kind: dict[str, dict[str, int]]
    done: int
    started: str | None
    finished: str | None
    wall_seconds: float | None
    jobs_per_hour: float | None
    removed: int = 0
    #: What was spent: by the manifest's current jobs, and all this state ever paid
    #: (:mod:`kbatch.reports.totals`, the figures every surface shows).
    totals: Totals = field(default_factory=Totals)

    def record(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__}
        out["totals"] = self.totals.record()
        return out


@dataclass(frozen=True)
class Report:
    name: str
    generated: str
    summary: ReportTotals
    jobs: tuple[JobReport, ...]
    inputs: Mapping[str, tuple[Input, ...]] = field(default_factory=dict)
    source_columns: tuple[str, ...] = ()  # after COLUMNS, in every format


def manifest_sources(path: str | Path) -> Sources:
    """An empty :class:`Sources` for a manifest's jobs, to pass to validation as ``on_job``."""
    return Sources(Path(path).resolve().parent, reserved=RESERVED, gallery=GALLERY_LIMIT)


#: The states whose error message a report shows (a blocked job's names the failed upstream).
_EXPLAINED = frozenset({JobState.FAILED, JobState.BLOCKED})


def job_sources(manifest: Manifest) -> Sources:
    """The sources of a validated manifest's jobs, read again only when reports are written
    (a run need not hold them all the while). A file changed since validation leaves the
    jobs after it without sources; the report is written all the same."""
    sources = manifest_sources(manifest.path)
    with contextlib.suppress(ManifestError):
        for job in manifest.jobs():
            sources.add(job)
    return sources


def stamp(seconds: float | None) -> str | None:
    """Unix seconds as UTC ISO 8601 to the second: ``2026-11-21T12:04:31Z``."""
    if seconds is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _relative(path: Path, base: Path | None) -> str:
    """``path`` relative to ``base``, or absolute when the report has no place (standard
    output: where the text ends up is not known, so a relative path would point nowhere)."""
    if base is None:
        return path.resolve().as_posix()
    return Path(os.path.relpath(path, base)).as_posix()


def job_report(
    row: JobRow,
    media: Iterable[MediaRow],
    output_dir: Path,
    base: Path | None,
    source: SourceRow | None = None,
) -> JobReport:
    items = list(media)
    seconds = None
    if row.submitted_at is not None and row.finished_at is not None:
        seconds = round(row.finished_at - row.submitted_at, 1)
    return JobReport(
        id=row.id,
        kind=row.kind.value,
        pack=PACK[row.kind].value,
        state=row.state.value,
        task_id=row.task_id,
        external_task_id=row.external_task_id,
        attempts=row.attempt,
        submitted=stamp(row.submitted_at),
        finished=stamp(row.finished_at),
        seconds=seconds,
        units=row.units,
        charged=None if row.charged is None else row.charged.value,
        charged_units=row.charged_units,
        charged_amount=row.charged_amount,
        charged_currency=row.charged_currency,
        outputs=tuple(_relative(output_dir / m.path, base) for m in items if m.path),
        result_urls=tuple(m.url for m in items if not made.is_record(m.url)),  # records: inline
        hosts=tuple(m.host or "" for m in items if m.path),
        error_reason=row.error_reason if row.state is JobState.FAILED else None,
        error_code=row.error_code if row.state is JobState.FAILED else None,
        error_message=row.error_message if row.state in _EXPLAINED else None,
        output_kinds=tuple(m.kind for m in items if m.path),
        removed=row.removed,
        source=source,
        made_ids=tuple(m.made_id for m in items if m.made_id and not m.variant),
    )


def summarize(
    rows: Iterable[JobRow],
    *,
    download: bool = True,
    cash: Mapping[str, Mapping[str, float]] | None = None,
) -> ReportTotals:
    rows = list(rows)
    by_state = dict.fromkeys((s.value for s in JobState), 0)
    by_kind: dict[str, dict[str, int]] = {}
    total = done = removed = 0
    first: float | None = None
    last: float | None = None
    for row in rows:
        if row.removed:
            removed += 1
            continue
        total += 1
        by_state[row.state.value] += 1
        kind = by_kind.setdefault(row.kind.value, {})
        kind[row.state.value] = kind.get(row.state.value, 0) + 1
        done += row.state.done(download)
        if row.submitted_at is not None:
            first = row.submitted_at if first is None else min(first, row.submitted_at)
        if row.finished_at is not None:
            last = row.finished_at if last is None else max(last, row.finished_at)
    wall = round(last - first, 1) if first is not None and last is not None else None
    rate = round(done * 3600 / wall, 1) if wall else None
    ordered = {kind: by_kind[kind] for kind in sorted(by_kind)}
    return ReportTotals(
        total,
        by_state,
        ordered,
        done,
        stamp(first),
        stamp(last),
        wall,
        rate,
        removed,
        of_rows(rows, cash),
    )


def collect(
    state: StateStore,
    *,
    name: str,
    output_dir: Path,
    base: Path | None,
    download: bool = True,
    sources: Sources | None = None,
    now: float | None = None,
) -> Report:
    """The report of every job the state holds, with file paths relative to ``base`` (the
    folder the report goes in; None: absolute paths, for a report on standard output), and
    each job's source columns and input images when ``sources`` has them."""
    rows = state.load()
    media = state.all_media()
    found: Mapping[str, SourceRow] = sources.rows if sources else {}
    jobs = tuple(
        job_report(row, media.get(i, ()), output_dir, base, found.get(i)) for i, row in rows.items()
    )
    summary = summarize(rows.values(), download=download, cash=state.cash_by_job())
    generated = stamp(time.time() if now is None else now) or ""
    seen = {
        job_id: tuple(_placed(_made(item, media, output_dir), base) for item in items)
        for job_id, items in (sources.inputs if sources else {}).items()
    }
    named = tuple(sources.names) if sources and found else ()
    return Report(name, generated, summary, jobs, seen, named)


def _made(item: Input, media: Mapping[str, list[MediaRow]], output_dir: Path) -> Input:
    """An input that is another job's output (``job:<id>``): that job's file, else its URL."""
    reference = parse(item.src) if item.src else None
    if reference is None:
        return item
    results = sorted((m for m in media.get(reference.job_id, ()) if not m.variant), key=_index)
    if reference.position >= len(results):
        return Input(item.field)
    made = results[reference.position]
    if made.path:
        return Input(item.field, src=str(output_dir / made.path))
    return Input(item.field, link=made.url)


def _index(item: MediaRow) -> int:
    return item.index


def _placed(item: Input, base: Path | None) -> Input:
    if item.src is None or item.src.startswith("data:"):
        return item
    return Input(item.field, src=_relative(Path(item.src), base))


__all__ = [
    "COLUMNS",
    "GALLERY_LIMIT",
    "Input",
    "JobReport",
    "Report",
    "ReportTotals",
    "collect",
    "job_report",
    "job_sources",
    "manifest_sources",
    "stamp",
    "summarize",
]
