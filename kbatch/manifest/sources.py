"""Rows for ``foreach``: CSV and JSONL files (streamed, with line numbers) or inline lists.

A source never raises on bad data: every bad line becomes an :class:`~kbatch.errors.Issue` in the
list the caller passes, and reading goes on (up to :data:`MAX_ISSUES_PER_FILE` problems per file).
CSV cells are strings; JSONL values keep their JSON types.
"""

from __future__ import annotations

import csv
import enum
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbatch.manifest.document import Document, PathKey, refuse_device
from kbatch.manifest.issues import Issue, IssueLog, Location, show

#: After this many problems in one file, kbatch stops reading it and says so.
MAX_ISSUES_PER_FILE = 50

#: Cells may hold base64 images (10 MB of image is about 13.4 MB of base64).
csv.field_size_limit(32 * 1024 * 1024)

CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")


class SourceFormat(enum.Enum):
    CSV = "csv"
    JSONL = "jsonl"
    INLINE = "inline"


@dataclass(frozen=True)
class Source:
    """A foreach source: a CSV or JSONL file, or rows written inline."""

    format: SourceFormat
    path: Path | None
    display: str
    inline: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Row:
    """One foreach row: its 1-based number, where it stands, and its values by column."""

    number: int
    location: Location
    values: Mapping[str, Any]


class _Problems:
    def __init__(self, display: str, issues: list[Issue]) -> None:
        self.display = display
        self.issues = issues
        self.count = 0

    def add(self, line: int, column: int, message: str) -> bool:
        """Record a problem; False once the file has too many to go on."""
        self.count += 1
        if self.count > MAX_ISSUES_PER_FILE:
            msg = f"more than {MAX_ISSUES_PER_FILE} problems; stopped reading this file"
            self.issues.append(Issue(Location(self.display, line, column), "$", msg))
            return False
        self.issues.append(Issue(Location(self.display, line, column), "$", message))
        return True


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def _open_error(display: str, exc: OSError) -> Issue:
    reason = exc.strerror or exc.__class__.__name__
    return Issue(Location(display), "$", f"cannot read file: {reason}")


def csv_columns(path: Path, display: str, issues: list[Issue]) -> tuple[str, ...] | None:
    """The header of a CSV file, or None (with an issue) when it has no usable header."""
    try:
        with _open_csv(path) as handle:
            header = next(csv.reader(handle), None)
    except OSError as exc:
        issues.append(_open_error(display, exc))
        return None
    except csv.Error as exc:
        issues.append(Issue(Location(display), "$", f"not a readable CSV header: {exc}"))
        return None
    bad = _bad_text(header) if header else None
    if bad:
        issues.append(Issue(Location(display), "$", f"the header {bad}"))
        return None
    if not header:
        issues.append(Issue(Location(display), "$", "the CSV file is empty: it needs a header row"))
        return None
    problems = []
    seen: set[str] = set()
    for index, name in enumerate(header, 1):
        if not name.strip():
            problems.append(f"column {index} of the header has no name")
        elif name in seen:
            problems.append(f"column {name!r} appears twice in the header")
        seen.add(name)
    for problem in problems:
        issues.append(Issue(Location(display, 1, 1), "$", problem))
    return None if problems else tuple(header)


def csv_rows(path: Path, display: str, issues: list[Issue]) -> Iterator[Row]:
    """Data rows of a CSV file whose header :func:`csv_columns` accepted."""
    problems = _Problems(display, issues)
    try:
        handle = _open_csv(path)
    except OSError as exc:
        issues.append(_open_error(display, exc))
        return
    with handle:
        reader = csv.reader(handle)
        end = 0
        number = 0
        header: list[str] | None = None
        while True:
            start = end + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                end = reader.line_num
                if not problems.add(start, 1, f"not valid CSV: {exc}"):
                    return
                continue
            end = reader.line_num
            if header is None:
                header = cells
                continue
            if not cells:
                continue  # a blank line
            number += 1
            bad = _bad_text(cells)
            if bad:
                if not problems.add(start, 1, f"row {number} {bad}"):
                    return
                continue
            if len(cells) != len(header):
                msg = f"row {number} has {len(cells)} fields; the header has {len(header)}"
                if not problems.add(start, 1, msg):
                    return
                continue
            yield Row(number, Location(display, start, 1), dict(zip(header, cells, strict=True)))


def jsonl_rows(path: Path, display: str, issues: list[Issue]) -> Iterator[Row]:
    """Rows of a JSONL file: one JSON object per non-blank line."""
    problems = _Problems(display, issues)
    try:
        handle = path.open("rb")
    except OSError as exc:
        issues.append(_open_error(display, exc))
        return
    with handle:
        try:
            refuse_device(handle)
        except OSError as exc:
            issues.append(_open_error(display, exc))
            return
        number = 0
        for line_number, raw in enumerate(handle, 1):
            message, column, value = _parse_json_line(raw)
            if message is None and value is None:
                continue  # a blank line
            if message is not None:
                if not problems.add(line_number, column, message):
                    return
                continue
            number += 1
            yield Row(number, Location(display, line_number, 1), value)


def _parse_json_line(raw: bytes) -> tuple[str | None, int, Any]:
    try:
        text = raw.decode("utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text: {_reason(exc)}", exc.start + 1, None
    if not text.strip():
        return None, 1, None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg}", exc.colno, None
    except ValueError as exc:
        return f"not valid JSON: {exc}", 1, None
    except RecursionError:
        return "not valid JSON: nested too deeply", 1, None
    if not isinstance(value, dict):
        return f"each line must be a JSON object, not {_json_type(value)}", 1, None
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError):
        return "holds a lone surrogate escape (\\ud800-\\udfff): not text", 1, None
    return None, 1, value


def inline_rows(rows: list[Any], locate: Any) -> Iterator[Row]:
    """Rows written in the manifest itself; ``locate(index)`` gives each one's Location."""
    for index, values in enumerate(rows):
        yield Row(index + 1, locate(index), values)


def _open_csv(path: Path) -> Any:
    # surrogateescape keeps undecodable bytes, so that the row holding them can be named
    handle = path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        refuse_device(handle)
    except OSError:
        handle.close()
        raise
    return handle


def _bad_text(cells: list[str]) -> str | None:
    """What makes a row's text unusable (bytes that are not UTF-8, NUL), or None."""
    text = "".join(cells)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not UTF-8 text: it holds bytes that cannot be decoded"
    if "\x00" in text:
        return "holds a NUL byte: is this a binary file?"
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"byte 0x{exc.object[exc.start]:02x} cannot be decoded"
    return str(exc)


def source_of(
    document: Document, entry: dict[str, Any], path: PathKey, log: IssueLog
) -> Source | None:
    """The foreach source of a job entry, or None (also when it is not one: then reported)."""
    spec = entry.get("foreach")
    if spec is None:
        return None
    if isinstance(spec, list):
        return Source(SourceFormat.INLINE, None, document.file, tuple(spec))
    display = os.path.normpath(Path(document.file).parent / spec)
    full = Path(display)
    suffix = full.suffix.lower()
    if suffix in CSV_SUFFIXES + JSONL_SUFFIXES and not full.is_file():
        # Reported where the manifest names the file, not at the file that is not there.
        reason = "is a folder, not a file" if full.is_dir() else "does not exist"
        log.add(document.issue((*path, "foreach"), f"{show(spec)} {reason} (looked for {display})"))
        return None
    if suffix in CSV_SUFFIXES:
        return Source(SourceFormat.CSV, full, display)
    if suffix in JSONL_SUFFIXES:
        return Source(SourceFormat.JSONL, full, display)
    message = f"{show(spec)} is not a .csv, .jsonl or .ndjson file"
    log.add(document.issue((*path, "foreach"), message))
    return None
