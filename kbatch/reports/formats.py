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

import csv
import io
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from kbatch.manifest.jobs import Job
from kbatch.reports import gallery
from kbatch.reports.model import COLUMNS, GALLERY_LIMIT, Input, Report, collect, job_inputs
from kbatch.store import SqliteStore, StateStore, state_file

#: Files :func:`write_all` writes into the output folder.
FILES = {"csv": "report.csv", "json": "report.json", "html": "index.html"}


@dataclass(frozen=True, slots=True)
class Reporter:
    """One format: writes a whole report to a text stream."""

    name: str
    write: Callable[[Report, TextIO], None]


def _csv(report: Report, stream: TextIO) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    for job in report.jobs:
        values = job.record()
        values["outputs"] = " ".join(job.outputs)
        values["result_urls"] = " ".join(job.result_urls)
        values["units"] = f"{job.units:g}"
        writer.writerow("" if values[c] is None else values[c] for c in COLUMNS)


def _json(report: Report, stream: TextIO) -> None:
    """Indented, but one line per job: json's indenting encoder is pure Python and several
    times slower than the compact one, which matters for 100,000 jobs."""
    head: dict[str, Any] = {"name": report.name, "generated": report.generated}
    head["summary"] = report.summary.record()
    text = json.dumps(head, indent=2, ensure_ascii=False)
    stream.write(text[: text.rindex("}")].rstrip() + ',\n  "jobs": [')
    for index, job in enumerate(report.jobs):
        stream.write(",\n    " if index else "\n    ")
        stream.write(json.dumps(job.record(), ensure_ascii=False))
    stream.write("\n  ]\n}\n" if report.jobs else "]\n}\n")


def _jsonl(report: Report, stream: TextIO) -> None:
    for job in report.jobs:
        stream.write(json.dumps(job.record(), ensure_ascii=False))
        stream.write("\n")


def _html(report: Report, stream: TextIO) -> None:
    stream.write(gallery.render(report, limit=GALLERY_LIMIT))


FORMATS: dict[str, Reporter] = {
    "csv": Reporter("csv", _csv),
    "json": Reporter("json", _json),
    "jsonl": Reporter("jsonl", _jsonl),
    "html": Reporter("html", _html),
}


def write_file(report: Report, fmt: str, path: Path) -> None:
    """Write one report atomically: a temporary file beside ``path``, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        # "x" honours the umask, as the report itself would (mkstemp would make it 0600).
        with temporary.open("x", encoding="utf-8", newline="") as stream:
            FORMATS[fmt].write(report, stream)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def render(report: Report, fmt: str) -> str:
    """A report as text, in one format."""
    stream = io.StringIO()
    FORMATS[fmt].write(report, stream)
    return stream.getvalue()


def from_manifest(
    path: str | Path,
    *,
    state_path: Path | None = None,
    base: Path | None,
    gallery: bool = False,
) -> tuple[Report, list[str]]:
    """The report of a manifest's state file, with paths relative to ``base`` (None: absolute),
    and warnings.
    ``gallery`` also reads the manifest's jobs for their input images; a manifest that no
    longer validates gives a report without them (and a warning), never no report."""
    from kbatch.manifest import read_settings, validate

    settings = read_settings(path)
    inputs: dict[str, tuple[Input, ...]] = {}
    warnings: list[str] = []
    if gallery:

        def note(job: Job) -> None:
            if len(inputs) < GALLERY_LIMIT:
                inputs[job.id] = job_inputs(job)

        validation = validate(path, keep=0, on_job=note)
        if not validation.ok:
            count = len(validation.issues)
            warnings.append(f"{path} has {count} problems (kbatch validate): some inputs not shown")
    where = state_file(settings.output.dir, state_path)
    with SqliteStore.read(where) as state:
        report = collect(
            state,
            name=settings.name,
            output_dir=settings.output.dir,
            base=base,
            download=settings.output.download,
            inputs=inputs,
        )
    return report, warnings


def write_all(
    state: StateStore,
    *,
    name: str,
    output_dir: Path,
    download: bool = True,
    inputs: Mapping[str, tuple[Input, ...]] | None = None,
) -> list[Path]:
    """``report.csv``, ``report.json`` and ``index.html`` in the output folder."""
    report = collect(
        state, name=name, output_dir=output_dir, base=output_dir, download=download, inputs=inputs
    )
    written = []
    for fmt, file_name in FILES.items():
        write_file(report, fmt, output_dir / file_name)
        written.append(output_dir / file_name)
    return written


__all__ = ["FILES", "FORMATS", "Reporter", "from_manifest", "render", "write_all", "write_file"]
