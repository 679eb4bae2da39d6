"""How the commands print what the library returns: the plan's table, a job's line, the
state's status, the dry run's preview."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from kbatch.manifest import Validation
from kbatch.manifest.jobs import Job
from kbatch.preview import Preview
from kbatch.provider.catalogue import PACK, PackType
from kbatch.provider.config import Api
from kbatch.reports import totals as spent
from kbatch.store import StateLocation, StateStatus
from kbatch.words import plural


def counts(validation: Validation) -> str:
    summary = validation.summary
    parts = [f"{count} {kind.value}" for kind, count in sorted(summary.by_kind.items())]
    noun = "job" if summary.total == 1 else "jobs"
    return f"{summary.total} {noun}" + (f" ({', '.join(parts)})" if parts else "")


def apis(validation: Validation) -> str | None:
    """Where the jobs go, when any goes to Kling's new API: a count per API.

    ``api: 2 jobs to the /v1 routes, 1 to the new API (provider.api: legacy)``
    """
    summary = validation.summary
    new = summary.by_api.get(Api.NEW, 0)
    if not new:
        return None
    legacy = summary.by_api.get(Api.LEGACY, 0)
    jobs = "job" if legacy == 1 else "jobs"
    return (
        f"api: {legacy} {jobs} to the /v1 routes, {new} to the new API "
        f"(provider.api: {summary.api.value})"
    )


def describe_job(job: Job) -> str:
    request = job.request
    text = request.get("prompt")
    if isinstance(text, str) and text:
        text = " ".join(text.split())  # a prompt over several lines stays on the job's line
        return text if len(text) <= 50 else text[:49] + "…"
    if job.origin.row is not None:
        return f"row {job.origin.row}"
    return ""


def kinds_table(validation: Validation) -> Table:
    """Jobs, slot-tasks and estimated units per kind, and their totals."""
    summary, settings = validation.summary, validation.manifest
    assert settings is not None
    units = summary.units_by_kind(settings.pricing)
    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column("kind")
    for name in ("jobs", "slot-tasks", "est. units"):
        table.add_column(name, justify="right")
    for kind, count in sorted(summary.by_kind.items()):
        slots = summary.slots_by_kind[kind]
        table.add_row(kind.value, str(count), str(slots), f"{units[kind]:g}")
    for pack in PackType:  # units of the two packs are different currencies: no one total
        kinds = [kind for kind in summary.by_kind if PACK[kind] is pack]
        if kinds:
            jobs = sum(summary.by_kind[kind] for kind in kinds)
            slots = sum(summary.slots_by_kind[kind] for kind in kinds)
            cost = sum(units[kind] for kind in kinds)
            table.add_row(f"total {pack}", str(jobs), str(slots), f"{cost:g}")
    return table


def jobs_table(jobs: list[Job]) -> Table:
    """The first jobs of a plan: id, kind, slots and what they ask for, one line each."""
    table = Table(box=None, pad_edge=False, show_edge=False, show_header=False)
    table.add_column("id", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("slots", justify="right")
    table.add_column("what", no_wrap=True, overflow="ellipsis")
    for job in jobs:
        table.add_row(job.id, job.kind.value, str(job.slots), describe_job(job))
    return table


def print_table(table: Table) -> None:
    console = Console(highlight=False, soft_wrap=True, width=200)
    with console.capture() as captured:
        console.print(table)
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def print_state_line(where: StateLocation, held: tuple[StateStatus, spent.Totals] | None) -> None:
    """What the state holds already (None: nothing has run yet)."""
    if held is None:
        click.echo("state: none yet (nothing has run)")
        return
    status, totals = held
    by_state = ", ".join(f"{n} {state}" for state, n in status.counts.items() if n)
    removed = f"; {status.removed} removed from the manifest" if status.removed else ""
    click.echo(f"state: {by_state or 'no jobs'}{removed} ({where})")
    for said in spent.lines(totals):
        click.echo(said)


def print_job(doc: dict[str, Any]) -> None:
    """One job, for ``kbatch show``."""
    click.echo(f"{doc['id']}: {doc['kind']} ({doc['pack']} pack), {doc['state']}")
    click.echo(f"task: {doc['task_id'] or '-'} (external id {doc['external_task_id'] or '-'})")
    click.echo(f"units: {doc['units']:g}{_charged(doc)}")
    if doc["error"]:
        error = doc["error"]
        code = f" {error['code']}" if error["code"] else ""
        click.echo(f"error: {error['reason']}{code}: {error['message']}")
    click.echo("attempts:")
    for number, version in enumerate(doc["versions"], start=1):
        name = f"fingerprint {version['version'][:12]}" if version["version"] else "not recorded"
        now = ", as the manifest has it now" if version["current"] else ", edited since"
        click.echo(f"  version {number} ({name}{now}):")
        for attempt in version["attempts"]:
            click.echo(f"    {_attempt(attempt)}")
    click.echo("files:")
    for item in doc["files"]:
        click.echo(f"  {item['path'] or '(not downloaded) ' + item['url']}")
    if doc["request"] is not None:
        click.echo("request:")
        for name, value in doc["request"].items():
            click.echo(f"  {name}: {value}")


def _attempt(attempt: dict[str, Any]) -> str:
    """One attempt of ``kbatch show``: its task, where it was sent, its end, what it cost."""
    outcome = attempt["outcome"] or "open"
    units = "" if attempt["units"] is None else f", {plural(attempt['units'], 'unit')}"
    units += _charged(attempt) if attempt["units"] is not None else ""
    message = f": {attempt['message']}" if attempt["message"] else ""
    task = attempt["task_id"] or "-"
    sent = {None: "", "v1": " (/v1)"}.get(attempt["sent_to"], f" ({attempt['sent_to']})")
    return f"{attempt['attempt']}. task {task}{sent}, {outcome}{units}{message}"


def _charged(doc: dict[str, Any]) -> str:
    """What a job's or an attempt's units are: the provider's charge, an estimate, a mix."""
    cash = ""
    if doc["charged_amount"] is not None:
        test = " test_balance" if doc.get("charged_cash_type") == "test_balance" else ""
        cash = f"; cash {doc['charged_amount']:g} {doc['charged_currency'] or ''}{test}".rstrip()
    said = {
        "reported": " (as the provider charged)",
        "estimated": " (estimated: the provider reported no charge)",
        "partly": f" ({doc['charged_units'] or 0:g} as the provider charged, the rest estimated)",
    }
    return said.get(str(doc["charged"] or ""), "") + cash


def print_status(
    manifest: Path, status: StateStatus, totals: spent.Totals, waiting: int = 0
) -> None:
    total = sum(status.counts.values())
    by_state = ", ".join(
        f"{n} {state}"
        + (f" ({waiting} waiting for an upstream)" if waiting and state == "pending" else "")
        for state, n in status.counts.items()
        if n
    )
    click.echo(f"{manifest}: {plural(total, 'job')}: {by_state or 'none yet'}")
    if status.removed:
        were = "was" if status.removed == 1 else "were"
        click.echo(
            f"removed: {plural(status.removed, 'job')} of earlier runs {were} taken out of the "
            "manifest (kept in the state and reports; their units count only in what this "
            "state ever paid)"
        )
    click.echo(f"in flight: {plural(status.in_flight_slots, 'slot')}")
    for said in spent.lines(totals):
        click.echo(said)
    if status.account is None:
        click.echo(f"running: {status.holder}" if status.holder else "running: no")
    else:
        print_account(status)
    if status.last_error:
        job, message = status.last_error
        click.echo(f"last error: {job}: {message}")


def print_account(status: StateStatus) -> None:
    """A shared state's account: slots per pack, and the runners on it."""
    slots = "; ".join(
        f"{s.pack} {s.in_use} in use / target {s.target} / limit {s.limit}" for s in status.slots
    )
    click.echo(f"account {status.account}: {slots or 'no runner has opened it yet'}")
    if not status.runners:
        click.echo("runners: none")
        return
    click.echo("runners:")
    for runner in status.runners:
        lapsed = "" if runner.alive else " (lease lapsed: its jobs are taken over)"
        click.echo(
            f"  {runner.host} pid {runner.pid} ({runner.role}, manifest {runner.manifest}): "
            f"heartbeat {runner.heartbeat_age:.0f}s ago, holds {plural(runner.held, 'job')}{lapsed}"
        )


def print_preview(manifest: Path, preview: Preview) -> None:
    jobs = plural(preview.total, "job")
    click.echo(f"{manifest}: {jobs} ({preview.new} new, {preview.edited} edited)")
    click.echo(f"  would submit:        {preview.submit} (estimated units: {preview.estimate})")
    for job_id, kind, estimate in preview.first:
        click.echo(f"    {job_id}  {kind}  {plural(estimate, 'unit')}")
    if preview.submit > len(preview.first):
        click.echo(f"    ... and {preview.submit - len(preview.first)} more")
    for pack, held in sorted(preview.held.items()):
        click.echo(f"  held by the {pack} budget: {held} (their estimate could pass it)")
    click.echo(f"  would follow:        {preview.follow} (at the provider from a previous run)")
    click.echo(f"  would download:      {preview.download}")
    click.echo(f"  done already:        {preview.done}")
    click.echo(f"  failed (see --retry-failed): {preview.failed}")
    if preview.blocked:
        click.echo(
            f"  blocked:             {preview.blocked} (not sent: a job they take from failed; "
            "--retry-failed retries it, and they run once it succeeds)"
        )
    if preview.removed:
        click.echo(f"  removed from the manifest: {preview.removed} (kept in the state, not run)")
    if preview.holder is not None:
        click.echo(f"another run holds the state now ({preview.holder}): a run would exit 3")
    print_left(preview)
    asked = ", but for one GET /account/costs" if preview.account_note is None else ""
    click.echo(f"dry run: nothing was sent or written{asked if preview.account else ''}")


def print_left(preview: Preview) -> None:
    """The batch's estimate per pack beside what is left on the account (or why not asked)."""
    if preview.account_note is not None:
        click.echo(f"  left on the account: not asked ({preview.account_note})")
        return
    if preview.account is None:
        return
    left = preview.account.remaining()
    for pack in sorted(set(preview.units) | set(left)):
        would = preview.units.get(pack, 0.0)
        has = f"{left[pack]:g}" if pack in left else "no pack in effect"
        click.echo(f"  {pack.value} pack: this batch ~{would:g} units; left on the account: {has}")
    click.echo(f"  ({preview.account.note})")


__all__ = [
    "counts",
    "describe_job",
    "jobs_table",
    "kinds_table",
    "print_job",
    "print_preview",
    "print_state_line",
    "print_status",
    "print_table",
]
