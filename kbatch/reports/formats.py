"""The report formats (CSV, JSON, JSONL, HTML) and the report files.

::

    report, warnings = from_manifest("manifests/demo.yaml", base=Path.cwd())
    print(render(report, "csv"), end="")
    write_file(report, "html", Path("demo.html"))     # a temporary name, then a rename

After every run, :func:`write_all` puts ``report.csv``, ``report.json`` and ``index.html`` into
the output folder. Each file is written to a temporary name and renamed, so a reader never sees
half a report.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from kbatch.reports import gallery
from kbatch.reports.model import COLUMNS, GALLERY_LIMIT, Report, collect, manifest_sources
from kbatch.reports.sources import Sources
from kbatch.store import StateStore, locate

#: Files :func:`write_all` writes into the output folder.
FILES = {"csv": "report.csv", "json": "report.json", "html": "index.html"}


@dataclass(frozen=True, slots=True)
class Reporter:
    """One format: writes a whole report to a text stream."""

    name: str
    write: Callable[[Report, TextIO], None]


def _cell(value: Any) -> Any:
    """A CSV cell: lists joined by spaces, other structures as JSON, None empty."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " ".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def _csv(report: Report, stream: TextIO) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    names = (*COLUMNS, *report.source_columns)
    writer.writerow(names)
    for job in report.jobs:
        values = job.record(report.source_columns)
        values["units"] = f"{job.units:g}"
        for name in ("charged_units", "charged_amount"):
            values[name] = None if values[name] is None else f"{values[name]:g}"
        values["removed"] = "yes" if job.removed else ""
        writer.writerow(_cell(values[c]) for c in names)


def _json(report: Report, stream: TextIO) -> None:
    """Indented, but one line per job: json's indenting encoder is pure Python and several
    times slower than the compact one, which matters for 100,000 jobs."""
    head: dict[str, Any] = {"name": report.name, "generated": report.generated}
    head["summary"] = report.summary.record()
    text = json.dumps(head, indent=2, ensure_ascii=False)
    stream.write(text[: text.rindex("}")].rstrip() + ',\n  "jobs": [')
    for index, job in enumerate(report.jobs):
        stream.write(",\n    " if index else "\n    ")
        stream.write(json.dumps(job.record(report.source_columns), ensure_ascii=False))
    stream.write("\n  ]\n}\n" if report.jobs else "]\n}\n")


def _jsonl(report: Report, stream: TextIO) -> None:
    for job in report.jobs:
        stream.write(json.dumps(job.record(report.source_columns), ensure_ascii=False))
        stream.write("\n")


def _html(report: Report, stream: TextIO) -> None:
    gallery.write(report, stream, limit=GALLERY_LIMIT)


FORMATS: dict[str, Reporter] = {
    "csv": Reporter("csv", _csv),
    "json": Reporter("json", _json),
    "jsonl": Reporter("jsonl", _jsonl),
    "html": Reporter("html", _html),
}


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path`` to write; renamed onto ``path`` when the block ends,
    removed if it fails, so that a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        yield temporary
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_file(report: Report, fmt: str, path: Path) -> None:
    """Write one report atomically: a temporary file beside ``path``, then a rename."""
    # "x" honours the umask, as the report itself would (mkstemp would make it 0600); the
    # stream is closed before the rename (contexts end in reverse).
    with (
        replacing(path) as temporary,
        temporary.open("x", encoding="utf-8", newline="") as stream,
    ):
        FORMATS[fmt].write(report, stream)


def render(report: Report, fmt: str) -> str:
    """A report as text, in one format."""
    stream = io.StringIO()
    FORMATS[fmt].write(report, stream)
    return stream.getvalue()


def from_manifest(
    path: str | Path,
    *,
    state_path: Path | str | None = None,
    base: Path | None,
) -> tuple[Report, list[str]]:
    """The report of a manifest's state (``state_path`` as ``--state`` gives it, else the
    output folder's file), with paths relative to ``base`` (None: absolute), and warnings.
    The manifest's jobs give each job's source columns and input images; a manifest that no
    longer validates gives a report without some of them (and a warning), never no report."""
    from kbatch.manifest import read_settings

    settings = read_settings(path)
    sources, warnings = read_sources(path)
    where = locate(settings.output.dir, state_path)
    with where.read(manifest_name=settings.name) as state:
        report = collect(
            state,
            name=settings.name,
            output_dir=settings.output.dir,
            base=base,
            download=settings.output.download,
            sources=sources,
        )
    return report, warnings


def read_sources(path: str | Path) -> tuple[Sources, list[str]]:
    """The sources of a manifest's jobs, and a warning if it no longer validates."""
    from kbatch.manifest import validate

    sources = manifest_sources(path)
    validation = validate(path, keep=0, on_job=sources.add)
    if validation.ok:
        return sources, []
    count = len(validation.issues)
    return sources, [f"{path} has {count} problems (kbatch validate): some sources not shown"]


def write_all(
    state: StateStore,
    *,
    name: str,
    output_dir: Path,
    download: bool = True,
    sources: Sources | None = None,
) -> list[Path]:
    """``report.csv``, ``report.json`` and ``index.html`` in the output folder."""
    report = collect(
        state, name=name, output_dir=output_dir, base=output_dir, download=download, sources=sources
    )
    written = []
    for fmt, file_name in FILES.items():
        write_file(report, fmt, output_dir / file_name)
        written.append(output_dir / file_name)
    return written


__all__ = [
    "FILES",
    "FORMATS",
    "Reporter",
    "from_manifest",
    "read_sources",
    "render",
    "replacing",
    "write_all",
    "write_file",
]
