"""From job entries to templates: each entry of ``jobs:`` becomes a :class:`JobTemplate` once.

Its constant fields are merged with the kind's defaults, its ``${}`` strings compiled, its foreach
source opened and its placeholder names checked against the CSV header and matrix keys. Fields the
schema pass found broken are left out (the rest of the entry is still checked, so that one
validation reports every problem). :mod:`kbatch.manifest.expansion` streams jobs from templates.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kbatch.manifest import schema, sources
from kbatch.manifest.document import Document, PathKey
from kbatch.manifest.issues import Issue, IssueLog, show
from kbatch.manifest.sources import Source, SourceFormat
from kbatch.manifest.template import TemplateError, compile_value, names_in
from kbatch.provider.catalogue import JobKind

JOB_KEYS = ("id", "kind", "foreach", "matrix")
ID = re.compile(schema.schema()["$defs"]["job_keys"]["properties"]["id"]["anyOf"][0]["pattern"])
ID_HINT = "use letters, digits and _ . = + @ - (up to 128 characters)"


@dataclass(frozen=True)
class JobTemplate:
    """One entry of ``jobs:``, ready to expand."""

    index: int
    kind: JobKind
    constants: Mapping[str, Any]
    templated: Mapping[str, Any]
    origins: Mapping[str, PathKey]
    id: Any
    source: Source | None
    matrix: tuple[tuple[str, tuple[Any, ...]], ...]
    matrix_fields: frozenset[str]
    #: Fields the schema pass already reported: left out, their problems not said twice, and
    #: the entry's jobs checked for everything else but never run.
    broken: frozenset[str] = frozenset()

    @property
    def path(self) -> PathKey:
        return ("jobs", self.index)


def build_templates(
    document: Document,
    defaults: Mapping[str, Any],
    entries: Mapping[int, frozenset[str]],
    log: IssueLog,
    checker: schema.FieldChecker,
) -> list[JobTemplate]:
    """Templates for the job entries at ``entries``, each with the fields the schema pass
    reported (left out; the rest is still checked)."""
    out = []
    for index, broken in entries.items():
        template = _build_template(document, defaults, index, broken, log, checker)
        if template is not None:
            out.append(template)
    return out


def _build_template(
    document: Document,
    defaults: Mapping[str, Any],
    index: int,
    broken: frozenset[str],
    log: IssueLog,
    checker: schema.FieldChecker,
) -> JobTemplate | None:
    written: dict[str, Any] = document.data["jobs"][index]
    entry = {name: value for name, value in written.items() if name not in broken}
    kind = JobKind(entry["kind"])
    fields = schema.kind_fields(kind)
    path: PathKey = ("jobs", index)
    origins: dict[str, PathKey] = {}
    merged: dict[str, Any] = {}
    for name, value in defaults.get(kind, {}).items():
        merged[name], origins[name] = value, ("defaults", kind.value, name)
    for name, value in entry.items():
        if name in fields:
            merged[name], origins[name] = value, (*path, name)
    start = len(log)
    matrix = _matrix(document, entry, path, kind, log, checker)
    matrix_fields = frozenset(key for key, _ in matrix if key in fields)
    for key in matrix_fields:
        if key in entry:
            message = f"{key!r} is set both here and in the job"
            log.add(document.issue((*path, "matrix", key), message, key=True))
        origins[key] = (*path, "matrix", key)
    constants: dict[str, Any] = {}
    templated: dict[str, Any] = {}
    for name, value in merged.items():
        try:
            compiled = compile_value(value)
        except TemplateError as exc:
            log.add(document.issue(origins[name], str(exc)))
            continue
        (templated if names_in(compiled) else constants)[name] = compiled
    id_template = _id_template(document, entry, path, matrix, log)
    source = sources.source_of(document, entry, path, log)
    if "foreach" in entry and source is None:
        return None  # reported; its placeholders cannot be checked without its columns
    _check_names(document, kind, path, templated, origins, id_template, source, matrix, log)
    if len(log) > start:
        return None
    return JobTemplate(
        index,
        kind,
        constants,
        templated,
        origins,
        id_template,
        source,
        matrix,
        matrix_fields,
        broken,
    )


def _id_template(
    document: Document,
    entry: Mapping[str, Any],
    path: PathKey,
    matrix: tuple[tuple[str, tuple[Any, ...]], ...],
    log: IssueLog,
) -> Any:
    """The entry's compiled id, if it has one; an id shared by all its jobs is a problem."""
    if "id" not in entry:
        return None
    try:
        compiled = compile_value(entry["id"])
    except TemplateError as exc:
        log.add(document.issue((*path, "id"), str(exc)))
        return None
    many = "foreach" in entry or any(len(values) > 1 for _, values in matrix)
    if many and not names_in(compiled):
        message = (
            f"{show(entry['id'])} would be the id of every job this entry makes: put a "
            "${column} or ${matrix key} in it, or leave id out to derive one from content"
        )
        log.add(document.issue((*path, "id"), message))
    return compiled


def _matrix(
    document: Document,
    entry: dict[str, Any],
    path: PathKey,
    kind: JobKind,
    log: IssueLog,
    checker: schema.FieldChecker,
) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    out = []
    for key, values in entry.get("matrix", {}).items():
        if key in JOB_KEYS:
            log.add(
                document.issue((*path, "matrix", key), f"{key!r} cannot be a matrix key", key=True)
            )
            continue
        if key in schema.kind_fields(kind):
            for position, value in enumerate(values):
                for sub, message, _ in checker.check(kind, key, value):
                    log.add(document.issue((*path, "matrix", key, position, *sub), message))
        out.append((key, tuple(values)))
    return tuple(out)


def _check_names(
    document: Document,
    kind: JobKind,
    path: PathKey,
    templated: Mapping[str, Any],
    origins: Mapping[str, PathKey],
    id_template: Any,
    source: Source | None,
    matrix: tuple[tuple[str, tuple[Any, ...]], ...],
    log: IssueLog,
) -> None:
    """Placeholders that can have no value, and matrix keys that change nothing."""
    keys = {key for key, _ in matrix}
    users = [(origins[name], names_in(value)) for name, value in templated.items()]
    users.append(((*path, "id"), names_in(id_template)))
    used = frozenset().union(*(names for _, names in users))
    fields = schema.kind_fields(kind)
    for key in sorted(keys - used - fields):
        message = (
            f"matrix key {key!r} is neither a field of {kind.value} nor used by a placeholder, "
            "so its jobs would be identical requests"
        )
        close = difflib.get_close_matches(key, sorted(fields), n=1)
        message += f" (did you mean {close[0]!r}?)" if close else ""
        log.add(document.issue((*path, "matrix", key), message, key=True))
    if source is None:
        for where, names in users:
            for name in sorted(names - keys):
                message = (
                    f"${{{name}}} has no value: this job has no foreach row or matrix key {name!r}"
                )
                log.add(document.issue(where, message))
        return
    if source.format is not SourceFormat.CSV or source.path is None:
        return  # JSONL and inline rows may differ per row: checked row by row
    issues: list[Issue] = []
    columns = sources.csv_columns(source.path, source.display, issues)
    for issue in issues:
        log.add(issue)
    if columns is None:
        return
    for key in sorted(keys & set(columns)):
        message = f"matrix key {key!r} is also a column of {source.display}: rename one"
        log.add(document.issue((*path, "matrix", key), message, key=True))
    known = keys | set(columns)
    for where, names in users:
        for name in sorted(names - known):
            message = (
                f"${{{name}}} has no value: {source.display} has no column {name!r} "
                f"(columns: {', '.join(columns)})"
            )
            log.add(document.issue(where, message))


__all__ = ["ID", "ID_HINT", "JOB_KEYS", "JobTemplate", "build_templates"]
