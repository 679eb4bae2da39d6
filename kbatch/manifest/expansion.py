"""From templates to jobs: ``foreach`` x ``matrix``, placeholders, ids, fingerprints.

Each entry of ``jobs:`` is a :class:`~kbatch.manifest.entries.JobTemplate`, made once by
:mod:`kbatch.manifest.entries`. :func:`expand` then streams jobs: for every row and matrix
combination only the templated fields are rendered and validated, the request is normalised and
checked, images are inspected (each file once), and the job gets its id and fingerprint. Jobs
are yielded one at a time, so a million-row CSV never sits in memory as objects; problems go to
an :class:`IssueLog`, and a job with a problem is not yielded."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbatch.images import Inspector
from kbatch.manifest import schema, sources
from kbatch.manifest.checks import check_request, normalize, notices, resolve_images, unsent
from kbatch.manifest.document import Document, json_path
from kbatch.manifest.entries import ID, ID_HINT, JobTemplate
from kbatch.manifest.graph import GraphBuilder, Site, node_of, sites_of
from kbatch.manifest.inputs import ImageUsers, note_image_users
from kbatch.manifest.issues import Issue, IssueLog, Location, show
from kbatch.manifest.jobs import Job, Origin, derived_id, fingerprint
from kbatch.manifest.media import localized
from kbatch.manifest.references import mark
from kbatch.manifest.sources import SourceFormat
from kbatch.manifest.template import TemplateError, render
from kbatch.media import MediaSettings, fingerprinted
from kbatch.provider import catalogue
from kbatch.provider.config import Api


@dataclass
class Context:
    """What expanding needs besides the templates."""

    document: Document
    base_dir: Path
    provider: catalogue.ProviderSpec
    max_in_flight: int
    inspector: Inspector = field(default_factory=Inspector)
    checker: schema.FieldChecker = field(default_factory=schema.FieldChecker)
    image_users: ImageUsers = field(default_factory=dict)  # where each local file is named
    api: Api = Api.AUTO  # provider.api: which rules a video job is held to (its target's)
    media: MediaSettings | None = None  # media: local videos sent by URL when it is active
    #: Warnings of an entry's field located once: the same one for its other jobs is counted.
    warned: dict[tuple[int, tuple[str | int, ...], str], Issue] = field(default_factory=dict)
    #: Validation's graph of references: every valid job is added to it.
    graph: GraphBuilder | None = None


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
        if self._reported(field_path, message):
            return
        issue, note = self.locate(field_path, message, from_row=from_row)
        self.log.add(issue, note)

    def warn(self, field_path: tuple[str | int, ...], message: str, *, from_row: bool) -> None:
        """A warning: said, and the job still made. One about the entry (not its row) is
        located once, and counted for the entry's other jobs."""
        key = (id(self.template), field_path, message)
        known = None if from_row else self.context.warned.get(key)
        if known is not None:
            self.log.warn(known)
            return
        issue, note = self.locate(field_path, message, from_row=from_row)
        if not from_row:
            self.context.warned[key] = issue
        self.log.warn(issue, note)

    def _reported(self, field_path: tuple[str | int, ...], message: str) -> bool:
        """Whether the schema pass already said this (a field it found broken is left out)."""
        broken = self.template.broken
        if field_path:
            return str(field_path[0]) in broken
        return any(f"field {name!r}" in message for name in broken)

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
    values, wrong = mark(values)  # job:<id> references, after the templates are filled
    for field_path, message in wrong:
        problems.add(field_path, message, from_row=_from_row(template, field_path))
    job_id = _job_id(template, variables, problems)
    if problems.count:
        return _broken(context, job_id)
    written = normalize(kind, values)
    request = localized(kind, written, context.base_dir, context.media)
    for field_path, message in check_request(
        kind, request, context.provider, context.max_in_flight, context.api
    ):
        problems.add(field_path, message, from_row=_from_row(template, field_path))
    if job_id is None:
        job_id = derived_id(kind, written)  # the paths as written: the folder may move
    request, view, image_problems = resolve_images(
        kind, request, context.base_dir, context.inspector
    )
    for field_path, message in image_problems:
        problems.add(field_path, message, from_row=_from_row(template, field_path))
    if template.broken:
        return _broken(context, job_id)
    for field_path, message in notices(kind, request):
        problems.warn(field_path, message, from_row=_from_row(template, field_path))
    if problems.count:
        return _broken(context, job_id)
    return _finish(template, job_id, request, values, view, origin, problems)


def _finish(
    template: JobTemplate,
    job_id: str,
    request: dict[str, Any],
    values: Mapping[str, Any],
    view: Mapping[str, Any],
    origin: Origin,
    problems: _JobProblems,
) -> Job:
    """A valid job, its images' users noted, added to validation's graph."""
    kind, context = template.kind, problems.context

    def locate(field_path: tuple[str | int, ...]) -> Issue:
        return problems.locate(field_path, "", from_row=_from_row(template, field_path))[0]

    if context.inspector.decoding:
        note_image_users(kind, request, dict(values), locate, context.image_users)
    # The fingerprint is the request's as written; what is sent leaves out what the route ignores.
    if context.media is not None:  # local videos by content: the folder may move
        view = fingerprinted(view)
    own = fingerprint(kind, view)
    sent = unsent(kind, request)
    if context.graph is not None:
        sites = [Site(path, ref, locate(path)) for path, ref in sites_of(request)]
        context.graph.add(job_id, node_of(kind, request, own, sites, sent))
    return Job(job_id, kind, sent, own, origin)


def _broken(context: Context, job_id: str | None) -> Job | None:
    """No job (it has a problem); references to it are not said to name no job."""
    if context.graph is not None and job_id is not None:
        context.graph.broken.add(job_id)
    return None


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
    if not ID.fullmatch(text):
        problems.add(("id",), f"{show(text)} is not a valid id: {ID_HINT}", from_row=True)
        return None
    return text
