"""The ``kbatch`` command: a thin click shell over the library.

It parses options, calls the library, prints, and returns the exit codes of DESIGN.md: 0 for
success, 1 when some jobs failed, 2 for invalid input, 3 when another run holds the state, 130 when
interrupted. Bad input is reported, never raised; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from kbatch import __version__
from kbatch.errors import KbatchError, ManifestError
from kbatch.jobs import Job
from kbatch.kling import JobKind
from kbatch.manifest import Manifest, Validation, validate

if TYPE_CHECKING:
    from kbatch.run import Preview

EXIT_INVALID = 2
EXIT_INTERRUPTED = 130


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kbatch")
def cli() -> None:
    """Run Kling jobs in bulk from a YAML manifest.

    \b
    Example:
      kbatch validate manifests/demo.yaml
    """


def _counts(validation: Validation) -> str:
    summary = validation.summary
    parts = [f"{count} {kind.value}" for kind, count in sorted(summary.by_kind.items())]
    noun = "job" if summary.total == 1 else "jobs"
    return f"{summary.total} {noun}" + (f" ({', '.join(parts)})" if parts else "")


@cli.command("validate")
@click.argument("manifests", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate_command(manifests: tuple[Path, ...]) -> None:
    """Check manifests without sending any request; print every problem.

    Each problem is printed as FILE:LINE:COL: $.json.path: message. Exit 0 when all
    manifests are valid, 2 when any is not. Needs no credentials.

    \b
    Example:
      kbatch validate manifests/demo.yaml manifests/nightly.yaml
    """
    invalid = 0
    for path in manifests:
        validation = validate(path, keep=0)
        for issue in validation.issues:
            click.echo(str(issue))
        if validation.ok:
            click.echo(f"{path}: valid, {_counts(validation)}")
        else:
            invalid += 1
            count = len(validation.issues)
            click.echo(f"{path}: {count} problem{'s' if count != 1 else ''}", err=True)
    if invalid:
        sys.exit(EXIT_INVALID)


def _describe(job: Job) -> str:
    request = job.request
    text = request.get("prompt")
    if isinstance(text, str) and text:
        return text if len(text) <= 50 else text[:49] + "…"
    if job.origin.row is not None:
        return f"row {job.origin.row}"
    return ""


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
def plan_command(manifest: Path, keep: int) -> None:
    """Show the jobs a manifest expands to, the slots and units they need, and what the state
    file already holds; send nothing.

    Units are estimates from kbatch's price table (kbatch/pricing.py), or the manifest's own
    pricing: section, one attempt per job; the provider's charge is what counts.

    \b
    Example:
      kbatch plan manifests/demo.yaml --rows 20
    """
    validation = validate(manifest, keep=keep)
    if not validation.ok:
        for issue in validation.issues:
            click.echo(str(issue))
        sys.exit(EXIT_INVALID)
    assert validation.manifest is not None
    summary, settings = validation.summary, validation.manifest
    units = summary.units_by_kind(settings.pricing)
    click.echo(f"{manifest}: {_counts(validation)} for provider {settings.provider.name.value}")
    click.echo(f"output: {settings.output.dir}")
    click.echo("")
    click.echo(f"{'kind':<20}{'jobs':>8}{'slot-tasks':>12}{'est. units':>12}")
    for kind, count in sorted(summary.by_kind.items()):
        slots = summary.slots_by_kind[kind]
        click.echo(f"{kind.value:<20}{count:>8}{slots:>12}{units[kind]:>12g}")
    click.echo(
        f"{'total':<20}{summary.total:>8}{sum(summary.slots_by_kind.values()):>12}"
        f"{sum(units.values()):>12g}"
    )
    source = "manifest pricing: over " if settings.pricing.overridden else ""
    click.echo(f"units: estimates from {source}kbatch's price table (kbatch/pricing.py)")
    budget = settings.limits.budget_units
    if budget is not None:
        click.echo(f"budget: {budget:g} units (limits.budget_units)")
    click.echo("")
    limit = settings.limits.max_in_flight
    packs = ", ".join(f"{pack.value} {n}" for pack, n in summary.slots_by_pack().items())
    click.echo(f"slot-tasks by pack: {packs}")
    click.echo(f"largest task: {summary.largest_task} slots (limits.max_in_flight: {limit})")
    _print_state_line(settings)
    if summary.first:
        click.echo("")
        shown = len(summary.first)
        click.echo(f"first {shown} of {summary.total}:")
        width = max(len(job.id) for job in summary.first)
        for job in summary.first:
            click.echo(
                f"  {job.id:<{width}}  {job.kind.value:<18} {job.slots:>2}  {_describe(job)}"
            )


def _print_state_line(settings: Manifest) -> None:
    """What the state file holds already, if there is one."""
    from kbatch.state import State, state_file

    path = state_file(settings.output.dir)
    if not path.exists():
        click.echo("state: none yet (nothing has run)")
        return
    try:
        with State.read(path) as state:
            summary = state.summary()
    except KbatchError as exc:
        click.echo(f"state: cannot be read: {exc}")
        return
    counts = ", ".join(f"{n} {state}" for state, n in summary.counts.items() if n)
    click.echo(f"state: {counts or 'no jobs'}; {summary.units:g} units spent ({path})")


def _fail(exc: KbatchError) -> NoReturn:
    """Print a KbatchError as ``Kind: message`` (every issue, for a manifest) and exit."""
    if isinstance(exc, ManifestError):
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        count = len(exc.issues)
        click.echo(f"ManifestError: {count} problem{'s' if count != 1 else ''}", err=True)
    else:
        click.echo(f"{type(exc).__name__}: {exc}", err=True)
    sys.exit(exc.exit_code)


_state_option = click.option(
    "--state",
    "state_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="State file (default: state.sqlite3 in the output folder).",
)


@cli.command("run")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option(
    "--max-in-flight", type=click.IntRange(1, 1000), help="Override limits.max_in_flight."
)
@click.option(
    "--budget", type=click.FloatRange(min=0), help="Override limits.budget_units (units)."
)
@click.option(
    "--only", multiple=True, metavar="GLOB", help="Submit only jobs whose id matches (repeatable)."
)
@click.option("--retry-failed", is_flag=True, help="Give failed jobs new attempts.")
@click.option("--dry-run", is_flag=True, help="Show what would run; send and write nothing.")
@_state_option
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per event, as text or JSON.",
)
@click.option("--no-progress", is_flag=True, help="No progress display; the event log only.")
@click.option("--quiet", "-q", is_flag=True, help="Only failures, stops and the summary.")
def run_command(
    manifest: Path,
    max_in_flight: int | None,
    budget: float | None,
    only: tuple[str, ...],
    retry_failed: bool,
    dry_run: bool,
    state_file: Path | None,
    log_format: str,
    no_progress: bool,
    quiet: bool,
) -> None:
    """Validate, then submit, poll and download every job; resume where the last run stopped.

    Jobs already done are not sent again; tasks a killed run left at the provider are
    looked up and followed, never paid for twice. On a terminal a live panel shows
    progress; otherwise a progress line comes every 30 s. The end shows a summary and
    the failures by reason; report.csv, report.json and index.html land in the output
    folder. Exit 0 when every job is done, 1 when some failed or wait for another run,
    2 for an invalid manifest, 3 when another run holds the state file, 130 when
    interrupted (the state is saved).

    \b
    Example:
      kbatch run manifests/demo.yaml
      kbatch run shots.yaml --only 'shot-0*' --budget 200 --log-format json --quiet
    """
    import asyncio
    import time

    from rich.console import Console

    from kbatch import progress
    from kbatch.engine import RunOptions
    from kbatch.log import FORMATS
    from kbatch.run import execute, prepare, preview

    options = RunOptions(
        max_in_flight=max_in_flight,
        budget=budget,
        only=only,
        retry_failed=retry_failed,
        state_path=state_file,
    )
    try:
        if dry_run:
            _print_preview(manifest, preview(manifest, options))
            return
        plan = prepare(manifest, options)
    except KbatchError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    console = Console(highlight=False, soft_wrap=True)
    mode = progress.choose(terminal=console.is_terminal, no_progress=no_progress, quiet=quiet)
    display = progress.Display(console, mode, FORMATS[log_format], title=f"kbatch run {manifest}")
    started = time.monotonic()
    try:
        result = asyncio.run(
            execute(plan, on_event=display.on_event, handle_signals=True, watch=display.watch)
        )
    except KbatchError as exc:
        plan.close()
        _fail(exc)
    except KeyboardInterrupt:  # before the run's own handler was in place: nothing was sent
        plan.close()
        sys.exit(EXIT_INTERRUPTED)
    finally:
        display.flush()  # event lines of the run's last moments, before the summary
    try:
        rows = [plan.rows[job_id] for job_id in plan.ids]
        console.print(f"{manifest}: {result.done} of {result.selected} jobs done")
        progress.summary(
            console,
            manifest,
            result.counts,
            rows,
            units=result.units,
            elapsed=time.monotonic() - started,
            state=state_file,
        )
    finally:
        plan.close()
    if result.reports:
        click.echo(f"reports: {', '.join(str(path) for path in result.reports)}")
    if result.message:
        click.echo(result.message, err=True)
    sys.exit(result.exit_code)


def _print_preview(manifest: Path, preview: Preview) -> None:
    click.echo(f"{manifest}: {preview.total} jobs ({preview.new} new, {preview.edited} edited)")
    click.echo(f"  would submit:        {preview.submit}")
    click.echo(f"  would follow:        {preview.follow} (at the provider from a previous run)")
    click.echo(f"  would download:      {preview.download}")
    click.echo(f"  done already:        {preview.done}")
    click.echo(f"  failed (see --retry-failed): {preview.failed}")
    click.echo("dry run: nothing was sent or written")


@cli.command("status")
@click.argument("manifest", type=click.Path(path_type=Path))
@_state_option
def status_command(manifest: Path, state_file: Path | None) -> None:
    """Show jobs by state, slots in flight and units spent; safe while a run is going.

    \b
    Example:
      kbatch status manifests/demo.yaml
    """
    from kbatch import state as store
    from kbatch.manifest import read_settings

    try:
        settings = read_settings(manifest)
        path = store.state_file(settings.output.dir, state_file)
        with store.State.read(path) as state:
            summary = state.summary()
    except KbatchError as exc:
        _fail(exc)
    total = sum(summary.counts.values())
    counts = ", ".join(f"{n} {state}" for state, n in summary.counts.items() if n)
    click.echo(f"{manifest}: {total} jobs: {counts or 'none yet'}")
    click.echo(f"in flight: {summary.in_flight_slots} slots")
    click.echo(f"units spent: {summary.units:g}")
    if summary.holder:
        click.echo(f"running: {summary.holder}")
    else:
        click.echo("running: no")
    if summary.last_error:
        job, message = summary.last_error
        click.echo(f"last error: {job}: {message}")


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
@_state_option
def report_command(manifest: Path, fmt: str, output: Path | None, state_file: Path | None) -> None:
    """Write one row per job: id, kind, state, task ids, attempts, times, units, result files
    and URLs, error; safe while a run is going.

    File paths are relative to the report. Every run writes report.csv, report.json and
    index.html into the output folder by itself; this command writes any format anywhere.

    \b
    Example:
      kbatch report manifests/demo.yaml --format json -o demo.json
      kbatch report shots.yaml --format html -o ~/www/shots.html
    """
    from kbatch import report

    base = (output.parent if output else Path.cwd()).resolve()
    try:
        built, warnings = report.from_manifest(
            manifest, state_path=state_file, base=base, gallery=fmt == "html"
        )
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
        if output is None:
            click.echo(report.render(built, fmt), nl=False)
        else:
            report.write_file(built, fmt, output)
            click.echo(f"{output}: {len(built.jobs)} jobs", err=True)
    except KbatchError as exc:
        _fail(exc)
    except OSError as exc:
        click.echo(f"OSError: cannot write {output}: {exc.strerror or exc}", err=True)
        sys.exit(1)


@cli.command("schema")
def schema_command() -> None:
    """Print the manifest JSON Schema (for editors and other tools).

    \b
    Example:
      kbatch schema > manifest.schema.json
    """
    from kbatch.schema import schema_text

    click.echo(schema_text(), nl=False)


def _fault_rate(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> Any:
    from kbatch.simulator import Fault

    rates: dict[Fault, float] = {}
    for value in values:
        name, _, rate = value.partition("=")
        try:
            rates[Fault(name.strip())] = float(rate) if rate else 1.0
        except ValueError:
            names = ", ".join(fault.value for fault in Fault)
            raise click.BadParameter(f"{value!r}: write NAME=RATE, NAME one of {names}") from None
    return rates


@cli.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--task-seconds",
    default=3.0,
    show_default=True,
    type=click.FloatRange(0),
    help="How long a task takes from submitted to succeed.",
)
@click.option(
    "--parallel-limit",
    default=20,
    show_default=True,
    type=click.IntRange(1),
    help="Parallel-task slots per pack type; over it, creates get code 1303.",
)
@click.option(
    "--fail-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of tasks that end 'failed'.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    callback=_fault_rate,
    metavar="NAME=RATE",
    help="Inject a fault into this share of requests (repeatable), e.g. rate_limit=0.1.",
)
@click.option("--seed", type=int, default=None, help="Seed for the random faults and failures.")
@click.option(
    "--videos/--no-videos",
    default=True,
    show_default=True,
    help="Encode a real MP4 per video task (needs PyAV); --no-videos serves a bundled clip.",
)
@click.option(
    "--not-served",
    multiple=True,
    type=click.Choice([k.value for k in JobKind]),
    help="Answer this kind's create route with a 404 page, as a gateway that lacks it.",
)
@click.option(
    "--auth",
    type=click.Choice(["any", "key", "jwt"]),
    default="any",
    show_default=True,
    help="any: accept any Bearer token; key: only $KLING_API_KEY; "
    "jwt: only JWTs signed with $KLING_ACCESS_KEY/$KLING_SECRET_KEY.",
)
def simulator_command(
    host: str,
    port: int,
    task_seconds: float,
    parallel_limit: int,
    fail_rate: float,
    faults: Any,
    seed: int | None,
    videos: bool,
    not_served: tuple[str, ...],
    auth: str,
) -> None:
    """Run the built-in Kling simulator as a server, until Ctrl-C.

    It serves the create, get and list routes of the three kinds under /v1 and /kling/v1 (and
    the legacy images/generations), checks every field as strictly as Kling, and serves real
    result images and videos. Point a manifest at it with provider.base_url.

    \b
    Example:
      kbatch simulator --port 8000 --fault rate_limit=0.05 --fault reset_after=0.02
    """
    import asyncio
    import os

    from kbatch.simulator import FaultPlan, SimulatorConfig, running

    names = {"key": ("KLING_API_KEY",), "jwt": ("KLING_ACCESS_KEY", "KLING_SECRET_KEY")}
    for name in names.get(auth, ()):
        if not os.environ.get(name):
            raise click.UsageError(f"--auth {auth} needs {name} set in the environment")
    keys = {name: os.environ[name] for name in names.get(auth, ())}
    plan = FaultPlan(rates=faults, seed=seed, not_served={JobKind(k) for k in not_served})
    config = SimulatorConfig(
        task_seconds=task_seconds,
        parallel_limit=parallel_limit,
        fail_rate=fail_rate,
        faults=plan,
        seed=seed,
        videos=videos,
        api_key=keys.get("KLING_API_KEY"),
        access_key=keys.get("KLING_ACCESS_KEY"),
        secret_key=keys.get("KLING_SECRET_KEY"),
    )

    async def serve() -> None:
        async with running(config, host=host, port=port) as sim:
            click.echo(
                f"Kling simulator on {sim.url} (routes under /v1 and /kling/v1); Ctrl-C stops"
            )
            await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KbatchError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        click.echo("stopped")


def main() -> None:
    cli(prog_name="kbatch")
