"""``kbatch run --dry-run`` as a library: what a run would do, found without writing anything.

It applies what the run would apply: ``--only``, ``--retry-failed``, edits, and the budget of each
pack (jobs whose estimate could take their pack's spending past its budget would be held back),
and says when another run holds the state's lock. Asked to (``account=True``, as ``kbatch run
--dry-run`` does), it also asks the provider what is left on the account (one
``GET /account/costs``, :mod:`kbatch.provider.account`), to show beside the batch's estimate per
pack; when it cannot ask (a provider that does not serve it, no API key, a refusal), it says why
and the preview stands.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from kbatch.engine.pacing import Budget
from kbatch.errors import KbatchError, StateMissing
from kbatch.intake import check_manifest, check_selection, redone
from kbatch.pricing import show_units
from kbatch.provider.account import AccountCosts, ask_costs
from kbatch.provider.catalogue import PACK, PackType
from kbatch.provider.config import ProviderConfig
from kbatch.reconciliation import blocked_after, reconcile, with_dependents
from kbatch.run import RunOptions, state_location
from kbatch.store import JobRow, JobState
from kbatch.store.lock import Holder

#: How many of the jobs it would submit a preview names.
SHOWN = 10


@dataclass(frozen=True, slots=True)
class Preview:
    """What a run would do, found without writing anything."""

    total: int
    new: int
    edited: int
    submit: int
    follow: int
    download: int
    done: int
    failed: int
    first: tuple[tuple[str, str, float], ...] = ()  # (id, kind, estimated units) to submit
    units: dict[PackType, float] = field(default_factory=dict)  # estimated, of those submitted
    held: dict[PackType, int] = field(default_factory=dict)  # held back by each pack's budget
    holder: Holder | None = None  # another run that holds the lock now
    removed: int = 0  # jobs of the state the manifest no longer has: kept, not run
    #: Selected jobs that take from a job that failed for good and is not retried: not sent.
    blocked: int = 0
    #: What is left on the account, when it was asked; else why it could not be (None: not
    #: asked at all).
    account: AccountCosts | None = None
    account_note: str | None = None

    @property
    def estimate(self) -> str:
        return show_units(self.units)


def preview(
    path: str | Path,
    options: RunOptions | None = None,
    *,
    account: bool = False,
    env: Mapping[str, str] | None = None,
) -> Preview:
    """Validate the manifest and compare it with its state file, if any; write nothing. With
    ``account``, ask the provider what is left on the account (keys from ``env``)."""
    found, provider = _preview(path, options or RunOptions())
    if not account:
        return found
    costs, note = left_on_account(provider, os.environ if env is None else env)
    return replace(found, account=costs, account_note=note)


def left_on_account(
    provider: ProviderConfig, env: Mapping[str, str]
) -> tuple[AccountCosts | None, str | None]:
    """What is left on the account, or why it cannot be asked (never an error: a dry run
    stands without it)."""
    try:
        return asyncio.run(ask_costs(provider, env)), None
    except KbatchError as exc:
        return None, str(exc)


def _preview(path: str | Path, options: RunOptions) -> tuple[Preview, ProviderConfig]:
    manifest, seen = check_manifest(path)
    check_selection(options, seen)
    where = state_location(manifest, options)
    rows: dict[str, JobRow] = {}
    spent: dict[PackType, float] = {}
    try:
        with where.read(manifest_name=manifest.name) as store:
            rows = store.load()
            spent = store.units()
    except StateMissing:
        pass
    new = sum(1 for job_id in seen if job_id not in rows)
    options = with_dependents(options, manifest.graph, rows)
    redo = redone(options, manifest, seen)
    changed, reset = reconcile(rows, seen, manifest.pricing, options, time.time(), redo)
    rows.update((row.id, row) for row in changed)
    blocked = blocked_after(manifest.graph, rows)  # pending again, but blocked once it runs
    states = [rows[job_id].state for job_id in seen]
    download = manifest.output.download
    # the run's own rule: spent, plus what tasks at the provider may charge
    spending = Budget.per_pack(options.budgets(manifest.limits.budget_units), spent)
    for row in rows.values():
        if row.state.at_provider:
            spending[PACK[row.kind]].reserve(row.estimate)
    first: list[tuple[str, str, float]] = []
    units: dict[PackType, float] = {}
    held: dict[PackType, int] = {}
    sent = [i for i in seen if rows[i].state is JobState.PENDING and options.selects(i)]
    for job_id in (i for i in sent if i not in blocked):
        row = rows[job_id]
        pack = PACK[row.kind]
        if not spending[pack].admit(row.estimate):
            held[pack] = held.get(pack, 0) + 1
            continue
        units[pack] = units.get(pack, 0.0) + row.estimate
        if len(first) < SHOWN:
            first.append((job_id, row.kind.value, row.estimate))
    found = Preview(
        total=len(seen),
        new=new,
        edited=len(reset),
        submit=sum(1 for i in sent if i not in blocked) - sum(held.values()),
        blocked=sum(1 for i in sent if i in blocked),
        follow=sum(1 for state in states if state.at_provider),
        download=sum(1 for state in states if state is JobState.SUCCEEDED and download),
        done=sum(1 for state in states if state.done(download)),
        failed=sum(1 for state in states if state is JobState.FAILED),
        first=tuple(first),
        units=units,
        held=held,
        holder=where.holder(),
        removed=sum(1 for job_id in rows if job_id not in seen),
    )
    return found, manifest.provider


__all__ = ["SHOWN", "Preview", "left_on_account", "preview"]
