"""From job entries to jobs: defaults, ``foreach`` x ``matrix``, placeholders, ids, fingerprints.

Each entry of ``jobs:`` becomes a :class:`JobTemplate` once: its constant fields are merged with the
kind's defaults and checked by the schema pass, its ``${}`` strings compiled, its foreach source
opened and its placeholder names checked against the CSV header and matrix keys. :func:`expand`
then streams jobs: for every row and matrix combination only the templated fields are rendered and
validated, the request is normalised and checked, images are inspected (each file once), and the
job gets its id and fingerprint. Jobs are yielded one at a time, so a million-row CSV never sits
in memory as objects; problems go to an :class:`IssueLog`, and a job with a problem is not yielded.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbatch.images import Inspector
from kbatch.manifest import schema, sources
from kbatch.manifest.checks import check_request, normalize, resolve_images
from kbatch.manifest.document import Document, PathKey, json_path
from kbatch.manifest.inputs import ImageUsers, note_image_users
from kbatch.manifest.issues import Issue, IssueLog, Location, show
from kbatch.manifest.jobs import Job, Origin, derived_id, fingerprint
from kbatch.manifest.sources import Source, SourceFormat
from kbatch.manifest.template import TemplateError, compile_value, names_in, render
from kbatch.provider import catalogue
from kbatch.provider.catalogue import JobKind

JOB_KEYS = ("id", "kind", "foreach", "matrix")
_ID = re.compile(schema.schema()["$defs"]["job_keys"]["properties"]["id"]["anyOf"][0]["pattern"])
_ID_HINT = "use letters, digits and _ . = + @ - (up to 128 characters)"


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

    @property
    def path(self) -> PathKey:
        return ("jobs", self.index)


@dataclass
class Context:
    """What expanding needs besides the templates."""

    document: Document
    base_dir: Path
    provider: catalogue.Provider
    max_in_flight: int
    inspector: Inspector = field(default_factory=Inspector)
    checker: schema.FieldChecker = field(default_factory=schema.FieldChecker)
    image_users: ImageUsers = field(default_factory=dict)  # where each local file is named


def build_templates(
    document: Document,
    defaults: Mapping[str, Any],
    entries: Iterable[int],
    log: IssueLog,
    checker: schema.FieldChecker,
) -> list[JobTemplate]:
    """Templates for the job entries at ``entries`` (those the schema pass found sound)."""
    out = []
    for index in entries:
        template = _build_template(document, defaults, index, log, checker)
        if template is not None:
            out.append(template)
    return out


def _build_template(
    document: Document,
    defaults: Mapping[str, Any],
    index: int,
    log: IssueLog,
    checker: schema.FieldChecker,
) -> JobTemplate | None:
    entry: dict[str, Any] = document.data["jobs"][index]
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
    id_template: Any = None
    if "id" in entry:
        try:
            id_template = compile_value(entry["id"])
        except TemplateError as exc:
            log.add(document.issue((*path, "id"), str(exc)))
        many = "foreach" in entry or any(len(values) > 1 for _, values in matrix)
        if many and id_template is not None and not names_in(id_template):
            message = (
                f"{show(entry['id'])} would be the id of every job this entry makes: put a "
                "${column} or ${matrix key} in it, or leave id out to derive one from content"
            )
            log.add(document.issue((*path, "id"), message))
    source = sources.source_of(document, entry, path, log)
    if "foreach" in entry and source is None:
        return None  # reported; its placeholders cannot be checked without its columns
    _check_names(document, kind, path, templated, origins, id_template, source, matrix, log)
    if len(log) > start:
        return None
    return JobTemplate(
        index, kind, constants, templated, origins, id_template, source, matrix, matrix_fields
    )


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


def expand(templates: Iterable[JobTemplate], context: Context, log: IssueLog) -> Iterator[Job]:
    """Stream the valid jobs of ``templates`` (ids checked unique); problems go to ``log``."""
    first_seen: dict[str, Location] = {}
    for template in templates:
        for job in _expand_template(template, context, log):
            earlier = first_seen.get(job.id)
            if earlier is not None:
                message = f"duplicate job id {job.id!r} (first used at {earlier})"
                if template.id is None:
                    message += ": this job has the same content; give one of them an id"
                log.add(Issue(job.origin.location, json_path((*template.path, "id")), message))
                continue
            first_seen[job.id] = job.origin.location
            yield job


def _rows(template: JobTemplate, context: Context, log: IssueLog) -> Iterator[sources.Row | None]:
    source = template.source
    if source is None:
        yield None
        return
    issues: list[Issue] = []
    if source.format is SourceFormat.INLINE:
        document = context.document
        yield from sources.inline_rows(
            list(source.inline), lambda i: document.locate((*template.path, "foreach", i))
        )
    elif source.format is SourceFormat.CSV:
        assert source.path is not None
        yield from sources.csv_rows(source.path, source.display, issues)
    else:
        assert source.path is not None
        yield from sources.jsonl_rows(source.path, source.display, issues)
    for issue in issues:
        log.add(issue)


def _expand_template(template: JobTemplate, context: Context, log: IssueLog) -> Iterator[Job]:
    keys = [key for key, _ in template.matrix]
    combos = [
        dict(zip(keys, values, strict=True))
        for values in itertools.product(*(values for _, values in template.matrix))
    ]
    entry_location = context.document.locate(template.path)
    for row in _rows(template, context, log):
        for combo in combos:
            variables = {**row.values, **combo} if row is not None else combo
            origin = Origin(
                template.index,
                row.location if row is not None else entry_location,
                row.number if row is not None else None,
                combo,
                row.values if row is not None else {},
            )
            job = _make_job(template, variables, origin, context, log)
            if job is not None:
                yield job


class _JobProblems:
    """Turns a job's problems into issues at the right place, with the row and matrix as context."""

    def __init__(self, template: JobTemplate, origin: Origin, context: Context, log: IssueLog):
        self.template, self.origin, self.context, self.log = template, origin, context, log
        self.count = 0
        parts = [f"{k}={show(v, 30)}" for k, v in origin.matrix.items()]
        self.matrix_note = ", ".join(parts)

    def add(self, field_path: tuple[str | int, ...], message: str, *, from_row: bool) -> None:
        self.count += 1
        issue, note = self.locate(field_path, message, from_row=from_row)
        self.log.add(issue, note)

    def locate(
        self, field_path: tuple[str | int, ...], message: str, *, from_row: bool
    ) -> tuple[Issue, str]:
        """The issue a problem of this field makes, and its note (row, matrix values)."""
        template, origin = self.template, self.origin
        path = (*template.path, *field_path)
        if from_row and origin.row is not None:
            location = origin.location
            note = self.matrix_note
        else:
            where = template.origins.get(str(field_path[0])) if field_path else None
            location = self.context.document.locate((*where, *field_path[1:]) if where else path)
            row = (
                f"row {origin.row} of {template.source.display}"
                if (origin.row is not None and template.source is not None)
                else ""
            )
            note = ", ".join(p for p in (row, self.matrix_note) if p)
        return Issue(location, json_path(path), message), note


def _make_job(
    template: JobTemplate,
    variables: Mapping[str, Any],
    origin: Origin,
    context: Context,
    log: IssueLog,
) -> Job | None:
    kind = template.kind
    problems = _JobProblems(template, origin, context, log)
    values = dict(template.constants)
    for name in template.matrix_fields:
        values[name] = variables[name]
    numeric = schema.numeric_fields(kind)
    for name, compiled in template.templated.items():
        try:
            value = render(compiled, variables)
        except TemplateError as exc:
            problems.add((name,), str(exc), from_row=True)
            continue
        if name in numeric and isinstance(value, str):
            value = schema.coerce(value)
        for sub, message, _ in context.checker.check(kind, name, value):
            problems.add((name, *sub), message, from_row=True)
        values[name] = value
    job_id = _job_id(template, variables, problems)
    if problems.count:
        return None
    request = normalize(kind, values)
    for field_path, message in check_request(
        kind, request, context.provider, context.max_in_flight
    ):
        problems.add(field_path, message, from_row=_from_row(template, field_path))
    if job_id is None:
        job_id = derived_id(kind, request)
    request, view, image_problems = resolve_images(
        kind, request, context.base_dir, context.inspector
    )
    for field_path, message in image_problems:
        problems.add(field_path, message, from_row=_from_row(template, field_path))
    if problems.count:
        return None
    if context.inspector.decoding:

        def locate(field_path: tuple[str | int, ...]) -> Issue:
            return problems.locate(field_path, "", from_row=_from_row(template, field_path))[0]

        note_image_users(kind, request, values, locate, context.image_users)
    return Job(job_id, kind, request, fingerprint(kind, view), origin)


def _from_row(template: JobTemplate, field_path: tuple[str | int, ...]) -> bool:
    """Whether a problem's field was filled by the row (else it is located in the manifest)."""
    return bool(field_path) and field_path[0] in template.templated


def _job_id(
    template: JobTemplate, variables: Mapping[str, Any], problems: _JobProblems
) -> str | None:
    if template.id is None:
        return None
    try:
        value = render(template.id, variables)
    except TemplateError as exc:
        problems.add(("id",), str(exc), from_row=True)
        return None
    text = str(value)
    if not _ID.fullmatch(text):
        problems.add(("id",), f"{show(text)} is not a valid id: {_ID_HINT}", from_row=True)
        return None
    return text
