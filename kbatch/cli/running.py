"""``kbatch run``: validate, then submit, poll and download, with a progress display."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import click
from rich.console import Console

from kbatch.cli import progress, render, summary
from kbatch.cli.app import cli
from kbatch.cli.inspect import state_option
from kbatch.cli.log import FORMATS, stamp
from kbatch.errors import ConfigError
from kbatch.manifest import validate
from kbatch.preview import preview
from kbatch.provider.config import Listen
from kbatch.provider.transport import Timeouts
from kbatch.reports import totals as spent
from kbatch.run import Plan, RunOptions, RunResult, execute, prepare
from kbatch.store.seats import LEASE, Role
from kbatch.words import plural


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
@click.option(
    "--redo",
    multiple=True,
    metavar="GLOB",
    help="Make matching jobs again, with every job that takes from them (repeatable).",
)
@click.option("--dry-run", is_flag=True, help="Show what would run; send and write nothing.")
@click.option(
    "--take-output",
    is_flag=True,
    help="Let this state own the output folder that another state owns.",
)
@state_option
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per event, as text or JSON.",
)
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="Receive the provider's callbacks here: finished tasks are noticed at once.",
)
@click.option(
    "--public-url",
    metavar="URL",
    help="The URL the provider reaches --listen by (default: http://HOST:PORT).",
)
@click.option(
    "--webhook-secret-env",
    metavar="NAME",
    help="With --listen: the environment variable holding the webhook secret (default: the "
    "manifest's callbacks.secret_env, else KLING_WEBHOOK_SECRET).",
)
@click.option(
    "--role",
    type=click.Choice([role.value for role in Role]),
    default=Role.ALL.value,
    show_default=True,
    help="With a shared (PostgreSQL) state: submit and follow, download, or both.",
)
@click.option(
    "--lease",
    type=click.FloatRange(min=1),
    default=LEASE,
    show_default=True,
    envvar="KBATCH_LEASE",
    show_envvar=True,
    metavar="SECONDS",
    help="With a shared state: how long this runner's jobs stay its own without a heartbeat "
    "(another runner takes them over after that).",
)
@click.option(
    "--request-timeout",
    type=click.FloatRange(min=0.1),
    metavar="SECONDS",
    help="How long to wait for the provider's answer to a request (default 60; a create "
    "whose answer does not come in time is looked up, never sent blindly again).",
)
@click.option("--no-progress", is_flag=True, help="No progress display; the event log only.")
@click.option("--quiet", "-q", is_flag=True, help="Only failures, stops and the summary.")
@click.option(
    "--verbose", "-v", is_flag=True, help="On a terminal, every event line above the live bar."
)
def run_command(
    manifest: Path,
    max_in_flight: int | None,
    budget: float | None,
    only: tuple[str, ...],
    retry_failed: bool,
    redo: tuple[str, ...],
    dry_run: bool,
    take_output: bool,
    state_file: str | None,
    log_format: str,
    listen: str | None,
    public_url: str | None,
    webhook_secret_env: str | None,
    role: str,
    lease: float,
    request_timeout: float | None,
    no_progress: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Validate, then submit, poll and download every job; resume where the last run stopped.

    Jobs already done are not sent again; tasks a killed run left at the provider are
    looked up and followed, never paid for twice. On a terminal a live panel shows
    progress; otherwise a progress line comes every 30 s. The end shows a summary and
    the failures by reason; report.csv, report.json and index.html land in the output
    folder. Exit 0 when every job is done, 1 when some failed in this run or wait for
    another run, 2 for an invalid manifest, 3 when another run holds the state file, 4
    when nothing new failed but jobs that failed in earlier runs remain (for cron), 130
    when interrupted (the state is saved).

    \b
    Example:
      kbatch run manifests/demo.yaml
      kbatch run shots.yaml --only 'shot-0*' --budget 200 --log-format json --quiet
      kbatch run pipeline.yaml --redo 'still-3' --dry-run
      kbatch run shots.yaml --listen 0.0.0.0:8099 --public-url https://hooks.example.com
      KBATCH_STATE=postgresql://kbatch@db.internal/kbatch kbatch run shots.yaml --role download
    """
    options = RunOptions(
        listen=_listening(listen, public_url, webhook_secret_env),
        max_in_flight=max_in_flight,
        budget=budget,
        only=only,
        retry_failed=retry_failed,
        redo=redo,
        state_path=state_file,
        take_output=take_output,
        role=Role(role),
        lease=lease,
        timeouts=_timeouts(request_timeout),
    )
    if dry_run:
        render.print_preview(manifest, preview(manifest, options, account=True))
        for line in validate(manifest, keep=0).uploads.lines(most=0):  # nothing is uploaded
            click.echo(line)
        return
    shown = Shown(log_format, no_progress=no_progress, quiet=quiet, verbose=verbose)
    sys.exit(_run_and_sum_up(manifest, options, shown))


def _listening(listen: str | None, public_url: str | None, secret_env: str | None) -> Listen | None:
    """``--listen``, ``--public-url`` and ``--webhook-secret-env`` as a Listen (None: no
    ``--listen``; the manifest's ``callbacks:`` may still ask for one)."""
    if public_url is not None and listen is None:
        raise ConfigError("--public-url needs --listen HOST:PORT (where to receive callbacks)")
    if secret_env is not None and listen is None:
        raise ConfigError("--webhook-secret-env needs --listen HOST:PORT")
    if listen is None:
        return None
    listening = Listen.parse(listen, public_url)
    return replace(listening, secret_env=secret_env) if secret_env else listening


@dataclass(frozen=True)
class Shown:
    """How a run is shown (``--log-format``, ``--no-progress``, ``--quiet``, ``--verbose``):
    apart from what it runs (:class:`RunOptions`), which a library caller gives alone."""

    log_format: str = "text"
    no_progress: bool = False
    quiet: bool = False
    verbose: bool = False

    @property
    def json(self) -> bool:
        """Every line on stdout one JSON object: no live panel."""
        return self.log_format == "json"

    def display(self, console: Console, manifest: Path) -> progress.Display:
        terminal = console.is_terminal and not self.json
        mode = progress.choose(terminal=terminal, no_progress=self.no_progress, quiet=self.quiet)
        return progress.Display(
            console,
            mode,
            FORMATS[self.log_format],
            title=f"kbatch run {manifest}",
            json=self.json,
            verbose=self.verbose,
        )


def _run_and_sum_up(manifest: Path, options: RunOptions, shown: Shown) -> int:
    """Prepare, run, and say where the reports are and why the run stopped: the exit code."""
    with prepare(manifest, options) as plan:
        for other in plan.others:  # a shared state: say who else runs this manifest
            click.echo(f"sharing {manifest} with another runner: {other}", err=True)
        result = _run(plan, manifest, shown)
    if result.reports and not shown.json:
        click.echo(f"reports: {', '.join(str(path) for path in result.reports)}")
    if result.message:
        click.echo(result.message, err=True)
    return result.exit_code


def _timeouts(request: float | None) -> Timeouts:
    """The client's timeouts, with ``--request-timeout`` as the read (and at most connect)."""
    if request is None:
        return Timeouts()
    return replace(Timeouts(), read=request, connect=min(Timeouts().connect, request))


def _run(plan: Plan, manifest: Path, shown: Shown) -> RunResult:
    """Run the plan with a progress display, then print the summary."""
    console = Console(highlight=False, soft_wrap=True)
    display = shown.display(console, manifest)
    started = time.monotonic()
    try:
        result = asyncio.run(
            execute(plan, on_event=display.on_event, handle_signals=True, watch=display.watch)
        )
    finally:
        display.flush()  # event lines of the run's last moments, before the summary
    rows = [plan.rows[job_id] for job_id in plan.ids]
    # removed jobs too: what the state ever paid
    totals = spent.of_rows(plan.rows.values(), plan.store.cash_by_job())
    elapsed = time.monotonic() - started
    # the retry commands name the state only when the run was told it (--state, KBATCH_STATE)
    state = plan.location if plan.options.state_path is not None else None
    if shown.json:
        end = summary.summary_record(
            manifest, result.counts, rows, totals=totals, elapsed=elapsed, state=state
        )
        end.update(done=result.done, selected=result.selected, message=result.message or "")
        end = {"time": stamp(time.time()), **end}
        end["reports"] = [str(path) for path in result.reports]
        click.echo(json.dumps(end, ensure_ascii=False))
        return result
    console.print(f"{manifest}: {result.done} of {plural(result.selected, 'job')} done")
    summary.summary(
        console, manifest, result.counts, rows, totals=totals, elapsed=elapsed, state=state
    )
    return result


__all__ = ["run_command"]
