"""What a run tells the world: one :class:`Event` per transition or notice.

The CLI shows them (:mod:`kbatch.cli.progress`, :mod:`kbatch.cli.log`); a library user passes
its own ``on_event``. Messages never hold a credential.

>>> Event(EventName.SUBMITTED, "cat", "task 8600 (attempt 1)", time=0.0).name == "submitted"
True
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kbatch.provider.catalogue import PACK
from kbatch.store.records import JobRow, JobState


class EventName(enum.StrEnum):
    """Every kind of event a run emits."""

    SUBMITTED = "submitted"  # the provider accepted a create
    ADOPTED = "adopted"  # a task created earlier (a lost answer, a killed run) was found
    UNKNOWN = "unknown"  # a create's answer was lost: the task is looked up before any resend
    RUNNING = "running"
    OVERDUE = "overdue"  # past task_timeout: it still runs (and is charged) at the provider
    SUCCEEDED = "succeeded"
    DOWNLOADED = "downloaded"
    RETRY = "retry"  # the provider failed an attempt; another one follows
    FAILED = "failed"
    BLOCKED = "blocked"  # a job it takes from failed for good: it is not sent
    WAIT = "wait"  # a transient failure: trying again after a pause
    STOP = "stop"  # the run (or one pack's submissions) stops
    BUDGET = "budget"  # jobs held back by the budget
    SKIPPED = "skipped"  # a job changed while the run went on
    MANIFEST = "manifest"  # a manifest problem met while reading jobs
    REPORT = "report"  # the reports could not be written
    TAKEN_OVER = "taken_over"  # a shared state: this runner took over a job of a lapsed lease
    LEASE_LOST = "lease_lost"  # a shared state: another runner took this one's job over
    UPLOAD = "upload"  # a local file uploaded to the media store (or being, or failing)


#: The events a quiet display still shows.
PROBLEMS = frozenset(
    {
        EventName.FAILED,
        EventName.BLOCKED,
        EventName.STOP,
        EventName.BUDGET,
        EventName.MANIFEST,
        EventName.REPORT,
        EventName.SKIPPED,
        EventName.OVERDUE,
        EventName.LEASE_LOST,
    }
)


@dataclass(frozen=True, slots=True)
class Event:
    """Something a run did: ``name`` says what, ``job`` about which job (None: the run)."""

    name: EventName
    job: str | None
    message: str
    time: float = field(default_factory=time.time)
    data: Mapping[str, Any] = field(default_factory=dict)


OnEvent = Callable[[Event], None]


def row_fields(row: JobRow) -> dict[str, Any]:
    """A job's fields for an event about it: its kind and pack, state, task id, attempt and
    units so far (every attempt), and for a failed job the reason and code."""
    fields: dict[str, Any] = {
        "kind": row.kind.value,
        "pack": PACK[row.kind].value,
        "state": row.state.value,
        "task_id": row.task_id,
        "attempt": row.attempt,
        "units": row.units,
    }
    if row.state is JobState.FAILED:
        fields["reason"], fields["code"] = row.error_reason, row.error_code
    return fields


__all__ = ["PROBLEMS", "Event", "EventName", "OnEvent", "row_fields"]
