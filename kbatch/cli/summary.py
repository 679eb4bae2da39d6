"""The summary at the end of ``kbatch run``: a short table of jobs by state, the totals of what
was spent (:mod:`kbatch.reports.totals`) and the wall time, then the failures grouped by reason
with a count, an example and what to do about them: the command that retries them, or, for a
prompt Kling's content policy refused (code 1301), to edit it first (an edited job runs again
by itself; retried unchanged, it would be refused again)."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from kbatch.cli.progress import clock
from kbatch.provider.wire import Code
from kbatch.reports import totals as spent
from kbatch.store import JobRow, JobState, StateLocation

#: A group this small gets its own retry command with --only.
NAMED = 3
#: The codes of a failure that retrying unchanged cannot mend: the request must be edited.
EDIT_FIRST = frozenset({str(Code.CONTENT_SAFETY.value)})
#: What to do instead of retrying a job of EDIT_FIRST.
EDIT_ADVICE = (
    "Kling's content policy refused these prompts (code 1301): edit each prompt (or its "
    "images) in the manifest first; an edited job runs again on the next kbatch run, with no "
    "--retry-failed (retried unchanged, it would be refused again)"
)


@dataclass(frozen=True, slots=True)
class FailureGroup:
    """Failed jobs that share a reason and code."""

    reason: str
    code: str | None
    ids: tuple[str, ...]
    example: str

    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def retryable(self) -> bool:
        """Whether retrying as written may succeed (not a refused prompt)."""
        return self.code not in EDIT_FIRST


def failures(rows: Iterable[JobRow]) -> list[FailureGroup]:
    """Failed jobs grouped by reason and code, the largest group first."""
    groups: dict[tuple[str, str | None], list[JobRow]] = {}
    for row in rows:
        if row.state is JobState.FAILED:
            groups.setdefault((row.error_reason or "unknown", row.error_code), []).append(row)
    out = [
        FailureGroup(reason, code, tuple(r.id for r in group), group[0].error_message or "")
        for (reason, code), group in groups.items()
    ]
    return sorted(out, key=lambda group: (-group.count, group.reason))


def retry_command(
    manifest: Path, ids: Sequence[str] = (), state: StateLocation | None = None
) -> str:
    """The command that gives these failed jobs (all, if none named) new attempts."""
    parts = ["kbatch", "run", shlex.quote(str(manifest)), "--retry-failed"]
    if state is not None:
        parts += ["--state", shlex.quote(state.describe())]  # a database URL without its password
    for job_id in ids:
        parts += ["--only", shlex.quote(job_id)]
    return " ".join(parts)


def _every(manifest: Path, groups: list[FailureGroup], state: StateLocation | None) -> str | None:
    """The command that retries every failed job worth retrying as written (None: none is);
    refused prompts are left out by naming the others when there are few."""
    worth = [group for group in groups if group.retryable]
    if not worth:
        return None
    if len(worth) == len(groups):
        return retry_command(manifest, (), state)
    ids = [job_id for group in worth for job_id in group.ids]
    return retry_command(manifest, ids, state) if len(ids) <= NAMED else None


def summary_record(
    manifest: Path,
    counts: dict[JobState, int],
    rows: Iterable[JobRow],
    *,
    totals: spent.Totals,
    elapsed: float,
    state: StateLocation | None = None,
) -> dict[str, object]:
    """The end of a run as one JSON object (``--log-format json``): what :func:`summary`
    prints, with the retry commands (null for a refused prompt: ``advice`` says what to do)."""
    groups = failures(rows)
    return {
        "event": "summary",
        "manifest": str(manifest),
        "counts": {job_state.value: count for job_state, count in counts.items()},
        "totals": totals.record(),
        "elapsed": round(elapsed, 1),
        "failures": [
            {
                "reason": group.reason,
                "code": group.code,
                "jobs": list(group.ids),
                "example": group.example,
                "retry": retry_command(manifest, group.ids, state) if group.retryable else None,
                "advice": None if group.retryable else EDIT_ADVICE,
            }
            for group in groups
        ],
        "retry": _every(manifest, groups, state) if groups else None,
    }


def summary(
    console: Console,
    manifest: Path,
    counts: dict[JobState, int],
    rows: Iterable[JobRow],
    *,
    totals: spent.Totals,
    elapsed: float,
    state: StateLocation | None = None,
) -> None:
    """Print the end-of-run table, the totals, the failures by reason, and what to do."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("state")
    table.add_column("jobs", justify="right")
    for job_state, count in counts.items():
        if count:
            table.add_row(job_state.value, str(count))
    table.add_row("total", str(sum(counts.values())), style="bold")
    console.print(table)
    console.print(f"wall time: {clock(elapsed)}", highlight=False)
    for said in spent.lines(totals):
        console.print(said, highlight=False)
    groups = failures(rows)
    if not groups:
        return
    console.print()
    reasons = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left")
    reasons.add_column("failed: reason")
    reasons.add_column("code")
    reasons.add_column("jobs", justify="right")
    reasons.add_column("example")
    for group in groups:
        example = f"{group.ids[0]}: {group.example}"
        reasons.add_row(group.reason, group.code or "", str(group.count), example)
    console.print(reasons)
    for group in groups:
        if not group.retryable:
            console.print(f"{group.reason} {group.code}: {EDIT_ADVICE}", highlight=False)
        elif group.count <= NAMED:
            command = retry_command(manifest, group.ids, state)
            console.print(f"retry {group.reason}: {command}", highlight=False, soft_wrap=True)
    if (every := _every(manifest, groups, state)) is not None:
        console.print(f"retry every failed job: {every}", highlight=False, soft_wrap=True)


__all__ = ["FailureGroup", "failures", "retry_command", "summary", "summary_record"]
