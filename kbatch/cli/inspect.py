"""The commands that look without running: ``validate``, ``plan``, ``status``, ``report`` and
``schema``. None sends a request."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kbatch import reports, store
from kbatch.blockprices import FACE_DEFAULT_SECONDS, PER_CALL, UNSTATED, unknown_lengths
from kbatch.cli import documents, pipelines, render
from kbatch.cli.app import cli
from kbatch.errors import ExitCode, KbatchError, NotFound, StateMissing
from kbatch.manifest import Validation, read_settings, validate
from kbatch.manifest.jobs import Job
from kbatch.manifest.schema import schema_text
from kbatch.pricing import show_units
from kbatch.reports import totals
from kbatch.store import JobState, StateLocation, StateStatus
from kbatch.words import plural

#: ``--state`` (or ``KBATCH_STATE``), the same on every command that reads or writes a state:
#: given as it is, :func:`kbatch.store.locate` tells a file from a database with the manifest.
state_option = click.option(
    "--state",
    "state_file",
    metavar="PATH|URL",
    envvar="KBATCH_STATE",
    show_envvar=True,
    help="State file (default: state.sqlite3 in the output folder), or a PostgreSQL URL "
    "(postgresql://user@host/db, credentials as libpq takes them) that several runners share.",
)


format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json (one document) for scripts.",
)


@cli.command("validate")
@click.argument("manifests", nargs=-1, required=True, type=click.Path(path_type=Path))
@format_option
def validate_command(manifests: tuple[Path, ...], fmt: str) -> None:
    """Check manifests without sending any request; print every problem.

    Each problem is printed as FILE:LINE:COL: $.json.path: message. Exit 0 when all
    manifests are valid, 2 when any is not. Needs no credentials.

    \b
    Example:
      kbatch validate manifests/demo.yaml manifests/nightly.yaml
    """
    if fmt == "json":
        results = [validate(path, keep=0) for path in manifests]
        docs = [documents.validation(result) for result in results]
        click.echo(documents.dump({"manifests": docs}))
        sys.exit(ExitCode.INVALID if any(not r.ok for r in results) else ExitCode.OK)
    invalid = 0
    for path in manifests:
        validation = validate(path, keep=0)
        _warn(validation)
        for issue in validation.issues:
            click.echo(str(issue))
        if validation.ok:
            click.echo(f"{path}: valid, {render.counts(validation)}")
            for line in validation.uploads.lines():
                click.echo(line)
        else:
            invalid += 1
            count = len(validation.issues)
            click.echo(f"{path}: {count} problem{'s' if count != 1 else ''}", err=True)
    if invalid:
        sys.exit(ExitCode.INVALID)


def _warn(validation: Validation) -> None:
    """Warnings (fields a route ignores, legacy models) go to stderr: they refuse nothing, and
    stdout keeps the problems alone, one a line, for scripts."""
    for warning in validation.warnings:
        click.echo(str(warning), err=True)


@cli.command("plan")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option(
    "--rows",
    "keep",
    default=10,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many jobs to list.",
)
@state_option
@format_option
def plan_command(manifest: Path, keep: int, state_file: str | None, fmt: str) -> None:
    """Show the jobs a manifest expands to, the slots and units they need, and what the state
    already holds; send nothing.

    Units are estimates from kbatch's price table (kbatch/pricing.py), or the manifest's own
    pricing: section, one attempt per job; the provider's charge is what counts.

    \b
    Example:
      kbatch plan manifests/demo.yaml --rows 20
    """
    validation = validate(manifest, keep=keep)
    if fmt == "json":
        _plan_document(validation, state_file)
        return
    _warn(validation)
    if not validation.ok:
        for issue in validation.issues:
            click.echo(str(issue))
        sys.exit(ExitCode.INVALID)
    assert validation.manifest is not None
    summary, settings = validation.summary, validation.manifest
    click.echo(
        f"{manifest}: {render.counts(validation)} for provider {settings.provider.name.value}"
    )
    click.echo(f"output: {settings.output.dir}")
    for line in validation.uploads.lines(most=0):
        click.echo(line)
    if (where_to := render.apis(validation)) is not None:
        click.echo(where_to)
    click.echo("")
    render.print_table(render.kinds_table(validation))
    for line in _estimate_lines(validation):
        click.echo(line)
    budget = settings.limits.budget_units
    if budget:
        click.echo(f"budget: {show_units(budget)} units (limits.budget_units, per pack)")
    click.echo("")
    limit = settings.limits.max_in_flight
    packs = ", ".join(f"{pack.value} {n}" for pack, n in summary.slots_by_pack().items())
    click.echo(f"slot-tasks by pack: {packs}")
    largest = plural(summary.largest_task, "slot")
    click.echo(f"largest task: {largest} (limits.max_in_flight: {limit})")
    for line in pipelines.stage_lines(validation):
        click.echo(line)
    where = store.locate(settings.output.dir, state_file)
    try:
        render.print_state_line(where, read_status(where, settings.name))
    except KbatchError as exc:  # the plan is still worth seeing
        click.echo(f"state: cannot be read: {exc}")
    if summary.first:
        click.echo("")
        click.echo(f"first {len(summary.first)} of {summary.total}:")
        render.print_table(render.jobs_table(list(summary.first)))


def _estimate_lines(validation: Validation) -> list[str]:
    """Where ``plan``'s units come from, and which of them kbatch had to guess: avatars and
    lip-syncs of a length not known before the run, kinds whose price Kling's pages omit."""
    summary, settings = validation.summary, validation.manifest
    assert settings is not None
    source = "manifest pricing: over " if settings.pricing.overridden else ""
    lines = [f"units: estimates from {source}kbatch's price table (kbatch/pricing.py)"]
    if unknown := unknown_lengths(summary.prices.items()):
        lines.append(
            f"  {plural(unknown, 'avatar or lip-sync job')} of a length not known before the "
            f"run: {FACE_DEFAULT_SECONDS} s estimated each (Kling's reported charge counts)"
        )
    for kind in sorted(UNSTATED & set(summary.by_kind)):  # an element's price
        if settings.pricing.per_call[kind] == PER_CALL[kind]:  # not the manifest's own
            said = f"{kind}: no price on Kling's pages; {PER_CALL[kind]:g} a job is kbatch's "
            lines.append(said + "estimate (pricing: sets one); the charge Kling reports counts")
    return lines


def _plan_document(validation: Validation, state_file: str | None) -> None:
    """``kbatch plan --format json``: the plan, with what the state holds (null if nothing)."""
    if not validation.ok:
        click.echo(documents.dump(documents.validation(validation)))
        sys.exit(ExitCode.INVALID)
    assert validation.manifest is not None
    where = store.locate(validation.manifest.output.dir, state_file)
    status = read_status(where, validation.manifest.name)
    click.echo(documents.dump(documents.plan(validation, status)))


def read_status(
    where: StateLocation, manifest_name: str
) -> tuple[StateStatus, totals.Totals] | None:
    """What a state holds for ``plan``: None when nothing has run yet (no state file, or a
    database that has not seen the manifest)."""
    if not where.exists():
        return None
    try:
        with where.read(manifest_name=manifest_name) as state:
            return state.status(), totals.of_state(state)
    except StateMissing:
        return None


@cli.command("status")
@click.argument("manifest", type=click.Path(path_type=Path))
@state_option
@format_option
def status_command(manifest: Path, state_file: str | None, fmt: str) -> None:
    """Show jobs by state, slots in flight and units spent; safe while a run is going. With a
    shared state, also the account's slots (in use / target / limit) and its runners.

    \b
    Example:
      kbatch status manifests/demo.yaml
      kbatch status shots.yaml --state postgresql://kbatch@db.internal/kbatch
    """
    settings = read_settings(manifest)
    where = store.locate(settings.output.dir, state_file)
    with where.read(manifest_name=settings.name) as state:
        status, spent = state.status(), totals.of_state(state)
        rows = state.load() if status.counts.get(JobState.PENDING) else {}
    waiting = pipelines.waiting(validate(manifest, keep=0), rows) if rows else 0
    if fmt == "json":
        doc = documents.status(status, spent, waiting)
        click.echo(documents.dump({"manifest": str(manifest), **doc}))
        return
    render.print_status(manifest, status, spent, waiting)


@cli.command("show")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.argument("job_id")
@state_option
@format_option
def show_command(manifest: Path, job_id: str, state_file: str | None, fmt: str) -> None:
    """Show one job: its state, every attempt (a joblog), its request as sent, its files and
    its error. Safe while a run is going.

    \b
    Example:
      kbatch show manifests/demo.yaml cat-yawn
    """
    settings = read_settings(manifest)
    where = store.locate(settings.output.dir, state_file)
    with where.read(manifest_name=settings.name) as state:
        row = state.load().get(job_id)
        if row is None:
            raise NotFound(f"{where} holds no job {job_id!r} (kbatch report lists them)")
        attempts, media = state.attempts(job_id), state.media(job_id)
    found: list[dict[str, object]] = []
    base = manifest.resolve().parent  # images are shown as the manifest gave them
    validation = validate(manifest, keep=0, on_job=lambda job: _keep(job, job_id, found, base))
    request = found[0] if found else None
    doc = documents.job(row, attempts, media, request, settings.output.dir)
    doc.update(pipelines.links(validation, job_id))
    if fmt == "json":
        click.echo(documents.dump(doc))
    else:
        render.print_job(doc)
        pipelines.print_links(doc)


def _keep(job: Job, job_id: str, found: list[dict[str, object]], base_dir: Path) -> None:
    if job.id == job_id:
        found.append(documents.request_echo(job.request, base_dir))


@cli.command("report")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "jsonl", "html"]),
    default="csv",
    show_default=True,
    help="csv, json (with a summary), jsonl (one job per line) or html (a gallery).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File to write (default: standard output).",
)
@state_option
def report_command(manifest: Path, fmt: str, output: Path | None, state_file: str | None) -> None:
    """Write one row per job: id, kind, state, task ids, attempts, times, units, result files
    and URLs, error; safe while a run is going.

    File paths are relative to the report (absolute on standard output). Every run writes
    report.csv, report.json and index.html into the output folder by itself; this command
    writes any format anywhere.

    \b
    Example:
      kbatch report manifests/demo.yaml --format json -o demo.json
      kbatch report shots.yaml --format html -o ~/www/shots.html
    """
    base = output.parent.resolve() if output else None  # stdout: absolute paths
    built, warnings = reports.from_manifest(manifest, state_path=state_file, base=base)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    try:
        if output is None:
            click.echo(reports.render(built, fmt), nl=False)
        else:
            reports.write_file(built, fmt, output)
            click.echo(f"{output}: {plural(len(built.jobs), 'job')}", err=True)
    except OSError as exc:
        click.echo(f"error: cannot write {output}: {exc.strerror or exc}", err=True)
        sys.exit(1)


@cli.command("schema")
def schema_command() -> None:
    """Print the manifest JSON Schema (for editors and other tools).

    \b
    Example:
      kbatch schema > manifest.schema.json
    """

    click.echo(schema_text(), nl=False)


__all__ = ["state_option"]
