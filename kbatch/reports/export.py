"""Downloaded results as a dataset: Hugging Face's imagefolder / videofolder layout.

::

    exported = export("manifests/shots.yaml", "hf", Path("datasets/shots"))
    # datasets/shots/images/metadata.jsonl, datasets/shots/images/<job>/0.png, ...
    # datasets/shots/videos/metadata.jsonl, datasets/shots/videos/<job>/0.mp4, ...
    datasets.load_dataset("imagefolder", data_dir="datasets/shots/images")

One row per result file of a downloaded job that the manifest still has: ``file_name``
(relative to its metadata file, as the folder loaders want it), the job's ``id``, the result's
``index`` and the job's ``kind``, what the job cost (``units``, ``charged``,
``charged_units``, ``charged_amount``, ``charged_currency``: on the row of the job's first file
only, null on its other files, so that summing a column gives what the jobs cost and never
counts a job once per file), then the job's source columns
(:mod:`kbatch.reports.sources`). ``parquet`` writes ``metadata.parquet`` (pyarrow, the
``kbatch[parquet]`` extra) in place of ``metadata.jsonl``; the loaders read either.

Result files are hard-linked from the output folder where the file system allows (no second
copy on disk), copied otherwise. A column whose values mix types (a JSONL foreach file, say)
is written as text, so that the loaders, which want one type per column, accept it.

The export folder is kbatch's: it holds a ``.kbatch-export`` marker, a folder that is neither
empty nor marked is refused, and files of an earlier export that this one no longer has are
removed, so that a second export of the same state is identical to the first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbatch.errors import ConfigError
from kbatch.manifest.references import parse
from kbatch.provider.catalogue import PACK
from kbatch.reports.formats import replacing
from kbatch.reports.sources import Sources
from kbatch.store import JobRow, JobState, MediaRow, StateStore

#: What ``--format`` accepts, and the metadata file each writes.
FORMATS = {"hf": "metadata.jsonl", "parquet": "metadata.parquet"}
#: The folder of each pack's results inside the export.
FOLDERS = {"image": "images", "video": "videos", "audio": "audios"}
FOLDERS |= {"element": "elements", "voice": "voices"}  # slice records: their JSON records
MARKER = ".kbatch-export"
#: A job's charge: on the row of its first file, null on the others (never counted twice).
CHARGE_COLUMNS = ("units", "charged", "charged_units", "charged_amount", "charged_currency")


@dataclass(frozen=True)
class Exported:
    """What an export wrote: rows per folder, files linked or copied, and what it skipped."""

    folder: Path
    rows: Mapping[str, int]  # per folder ("images", "videos")
    linked: int
    copied: int
    missing: tuple[str, ...] = field(default=())  # recorded files not on disk


def rows_of(
    jobs: Mapping[str, JobRow], media: Mapping[str, list[MediaRow]], sources: Sources
) -> dict[str, list[tuple[MediaRow, dict[str, Any]]]]:
    """Each folder's files and metadata rows, in the state's job order."""
    names = sources.names if sources.rows else []
    out: dict[str, list[tuple[MediaRow, dict[str, Any]]]] = {}
    for job_id, row in jobs.items():
        if row.state is not JobState.DOWNLOADED or row.removed:
            continue
        source = sources.rows.get(job_id)
        files = [item for item in media.get(job_id, ()) if not item.variant and item.path]
        for item in files:
            folder = FOLDERS.get(item.kind) or FOLDERS[PACK[row.kind].value]
            record: dict[str, Any] = {
                "file_name": item.path,
                "id": job_id,
                "index": item.index,
                "kind": row.kind.value,
                **_charge(row, first=item is files[0]),
            }
            if item.kind in ("element", "voice"):  # slice records: the id other jobs take
                record[f"{item.kind}_id"] = item.made_id
            for name in names:
                value = source.get(name) if source is not None else None
                record[name] = list(value) if isinstance(value, tuple) else value
            out.setdefault(folder, []).append((item, record))
            if source is not None and source.get("upstreams"):  # a job of a pipeline
                for made in taken_from(source.get("inputs") or (), folder, media, record):
                    out[folder].append((made, {}))  # placed beside, not a row of its own
    for entries in out.values():  # every row of a folder has the pipeline's columns
        extra = {k for _, r in entries for k in r if k.startswith("upstream_") and k != "upstreams"}
        for _, record in entries:
            for name in extra:
                if record:
                    record.setdefault(name, [])
    return out


def _charge(row: JobRow, *, first: bool) -> dict[str, Any]:
    """What the job cost, on the row of its first file only (null on its other files), so
    that a column sums to what the jobs cost, as ``kbatch status`` and the reports say."""
    if not first:
        return dict.fromkeys(CHARGE_COLUMNS)
    return {
        "units": row.units,
        "charged": None if row.charged is None else row.charged.value,
        "charged_units": row.charged_units,
        "charged_amount": row.charged_amount,
        "charged_currency": row.charged_currency,
    }


def taken_from(
    inputs: Iterable[str], folder: str, media: Mapping[str, list[MediaRow]], record: dict[str, Any]
) -> list[MediaRow]:
    """The files of the jobs a job took from (its ``job:<id>`` inputs), as columns of its row:
    ``upstream_file_names`` for those of the folder's type (the folder loaders load them with
    the row's own file), ``upstream_<type>_paths`` for the others (paths in the folder). The
    files to place in the folder beside the row's."""
    same: list[str] = []
    other: dict[str, list[str]] = {}
    placed: list[MediaRow] = []
    for text in inputs:
        reference = parse(text)
        if reference is None:
            continue
        results = [m for m in media.get(reference.job_id, ()) if not m.variant and m.path]
        results.sort(key=lambda m: m.index)
        if reference.position >= len(results):
            continue
        made = results[reference.position]
        assert made.path is not None
        kind = FOLDERS.get(made.kind, folder)
        (same if kind == folder else other.setdefault(made.kind, [])).append(made.path)
        placed.append(made)
    record["upstream_file_names"] = same
    for kind, paths in other.items():
        record[f"upstream_{kind}_paths"] = paths
    return placed


def uniform(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records whose every column holds one type: a column of mixed types becomes text
    (``null`` stays null; whole numbers among floats stay numbers)."""
    mixed = set()
    for name in records[0] if records else ():
        kinds = {_kind(r[name]) for r in records if r[name] is not None}
        if len(kinds) > 1 and kinds != {"number", "integer"}:
            mixed.add(name)
    if not mixed:
        return records
    return [{k: _text(v) if k in mixed else v for k, v in r.items()} for r in records]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return type(value).__name__


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def prepare_folder(target: Path) -> None:
    """Refuse a folder that holds something other than an earlier export."""
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} is a file: export needs a folder (-o DIR)")
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).is_file():
        raise ConfigError(
            f"{target} is not empty and holds no earlier kbatch export: "
            "choose a new or empty folder, so that nothing of yours is overwritten"
        )
    target.mkdir(parents=True, exist_ok=True)
    (target / MARKER).write_text("written by kbatch export\n", encoding="utf-8")


def place(source: Path, target: Path, item: MediaRow) -> bool:
    """Put one result file into the export: a hard link, else a copy. True if linked. A link
    to the result already there is kept (a second export rewrites nothing), and so is a copy
    with the recorded size and digest (the file system cannot link); any other file there is
    an earlier result (the job was edited since) and is replaced, linked like the first time."""
    if target.is_file():
        if target.stat().st_ino == source.stat().st_ino:
            return True
        same = item.sha256 is not None and target.stat().st_size == item.size
        if same and hashlib.sha256(target.read_bytes()).hexdigest() == item.sha256:
            return _linked(source, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
        return True
    except OSError:
        with replacing(target) as temporary:
            shutil.copyfile(source, temporary)
        return False


def _linked(source: Path, target: Path) -> bool:
    """A copy already there: linked now if the file system allows, else kept as it is."""
    with contextlib.suppress(OSError):
        link = target.with_name(f".{target.name}.link")
        link.unlink(missing_ok=True)
        os.link(source, link)
        link.replace(target)
        return True
    return False


def write_metadata(records: list[dict[str, Any]], fmt: str, path: Path) -> None:
    with replacing(path) as temporary:
        if fmt == "parquet":
            pyarrow, parquet = _pyarrow()
            parquet.write_table(pyarrow.Table.from_pylist(records), temporary)
            return
        with temporary.open("w", encoding="utf-8", newline="\n") as stream:
            for record in records:
                stream.write(json.dumps(record, ensure_ascii=False) + "\n")


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow
        import pyarrow.parquet as parquet
    except ImportError:
        raise ConfigError(
            "--format parquet needs pyarrow: pip install 'kbatch[parquet]' (or use --format hf)"
        ) from None
    return pyarrow, parquet


def prune(folder: Path, keep: Iterable[Path]) -> None:
    """Remove files of an earlier export that this one does not have, and emptied folders."""
    kept = {path.resolve() for path in keep}
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file() and path.resolve() not in kept:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def export_state(
    state: StateStore, sources: Sources, output_dir: Path, fmt: str, target: Path
) -> Exported:
    """Export a state's downloaded results (see the module's text)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        _pyarrow()  # before anything is written
    prepare_folder(target)
    found = rows_of(state.load(), state.all_media(), sources)
    linked = copied = 0
    missing: list[str] = []
    counts: dict[str, int] = {}
    for name in FOLDERS.values():
        folder = target / name
        entries = found.get(name, [])
        placed: list[Path] = []
        records: list[dict[str, Any]] = []
        for item, record in entries:
            assert item.path is not None
            source = output_dir / item.path
            if not source.is_file():
                missing.append(item.path)
                continue
            if place(source, folder / item.path, item):
                linked += 1
            else:
                copied += 1
            placed.append(folder / item.path)
            if record:  # else an upstream's file beside a row that took from it
                records.append(record)
        if not records:
            if folder.is_dir():
                shutil.rmtree(folder)
            continue
        write_metadata(uniform(records), fmt, folder / FORMATS[fmt])
        placed.append(folder / FORMATS[fmt])
        prune(folder, placed)
        counts[name] = len(records)
    return Exported(target, counts, linked, copied, tuple(missing))


def export(
    manifest: str | Path, fmt: str, target: Path, *, state_path: Path | str | None = None
) -> tuple[Exported, list[str]]:
    """Export a manifest's downloaded results into ``target``; the result and warnings (a
    manifest that no longer validates exports without some source columns)."""
    from kbatch.manifest import read_settings
    from kbatch.reports.formats import read_sources
    from kbatch.store import locate

    settings = read_settings(manifest)
    sources, warnings = read_sources(manifest)
    where = locate(settings.output.dir, state_path)
    with where.read(manifest_name=settings.name) as state:
        done = export_state(state, sources, settings.output.dir, fmt, target)
    return done, warnings


__all__ = ["FOLDERS", "FORMATS", "Exported", "export", "export_state", "rows_of", "uniform"]
