"""The records a state store keeps, and the transitions of a job's state machine.

ARCHITECTURE.md draws the machine. Each transition is a method of :class:`JobRow` that returns the
next row (records are frozen), so the engine says *what* happens and the row says *how* its
fields change::

    >>> row = JobRow("cat", JobKind.IMAGE2VIDEO, "f00d")
    >>> row = row.submitting("kb-1", now=10.0)
    >>> row.state, row.attempt, row.external_task_id
    (<JobState.SUBMITTING: 'submitting'>, 1, 'kb-1')
    >>> row = row.accepted("860001", submitted_at=11.0, now=11.0)
    >>> row.succeeded(units=1.0, now=40.0).state
    <JobState.SUCCEEDED: 'succeeded'>
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, replace

from kbatch.provider.catalogue import JobKind
from kbatch.store.charges import MIXED_CASH, Charged, Cost, cash_key


class JobState(enum.StrEnum):
    """Where a job is. ``SUBMITTING`` means the external task id is recorded and a create may
    have been sent: the next step looks the task up before any resend."""

    PENDING = "pending"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DOWNLOADED = "downloaded"
    FAILED = "failed"
    #: A job it takes from (``job:<id>``) failed for good: never sent, until that one is retried.
    BLOCKED = "blocked"

    @property
    def at_provider(self) -> bool:
        """A task may exist at the provider and hold slots there."""
        return self in (JobState.SUBMITTING, JobState.SUBMITTED, JobState.RUNNING)

    def done(self, download: bool) -> bool:
        """The job's work is finished: downloaded, or succeeded when results stay remote."""
        return self is JobState.DOWNLOADED or (self is JobState.SUCCEEDED and not download)


class FailureReason(enum.StrEnum):
    """Why a job failed for good (``JobRow.error_reason``; reports show the value)."""

    NOT_SERVED = "not_served"  # the provider does not serve the job's route
    REJECTED = "rejected"  # the provider refused the job as written
    UNKNOWN_OUTCOME = "unknown_outcome"  # a create may have landed and cannot be looked up
    INTEGRITY = "integrity"  # the provider answered another job's task for this one
    LOST = "lost"  # the provider no longer knows a task it had accepted
    RESULT_GONE = "result_gone"  # the result files can no longer be downloaded
    PROVIDER_FAILED = "provider_failed"  # the provider failed the task on the last attempt
    MEDIA = "media"  # a local file could not be uploaded to the media store (nothing was sent)
    UPSTREAM = "upstream"  # a job it takes from made a result that cannot be sent


def _cost(units: float | Cost) -> Cost:
    return units if isinstance(units, Cost) else Cost.reported(units)


def _plus(total: float | None, more: float | None) -> float | None:
    return total if more is None else round((total or 0.0) + more, 9)


class AttemptOutcome(enum.StrEnum):
    """How one attempt ended (``AttemptRow.outcome``): the task succeeded or the provider
    failed it, or the job failed for good for one of the :class:`FailureReason` reasons."""

    SUCCEEDED = "succeed"
    FAILED = "failed"
    NOT_SERVED = FailureReason.NOT_SERVED.value
    REJECTED = FailureReason.REJECTED.value
    UNKNOWN_OUTCOME = FailureReason.UNKNOWN_OUTCOME.value
    INTEGRITY = FailureReason.INTEGRITY.value
    LOST = FailureReason.LOST.value
    RESULT_GONE = FailureReason.RESULT_GONE.value
    PROVIDER_FAILED = FailureReason.PROVIDER_FAILED.value
    UPSTREAM = FailureReason.UPSTREAM.value


@dataclass(frozen=True, slots=True)
class JobRow:
    """One job as the state holds it. Times are Unix seconds. ``units`` sums every attempt's
    :class:`Cost` as the budget counts it; ``charged_units`` (units) and ``charged_amount`` (cash
    of ``charged_currency``) sum what the provider reported (None: nothing), so the units that are
    estimates are ``units - charged_units``; ``charged`` says whether they are all reported."""

    id: str
    kind: JobKind
    fingerprint: str
    state: JobState = JobState.PENDING
    attempt: int = 0  # creates started: attempt N uses external task id N
    failures: int = 0  # attempts the provider failed, counted against max_attempts
    external_task_id: str | None = None
    task_id: str | None = None
    slots: int = 1
    estimate: float = 0.0
    units: float = 0.0
    error_reason: FailureReason | None = None
    error_code: str | None = None
    error_message: str | None = None
    created_at: float = 0.0
    submitted_at: float | None = None
    finished_at: float | None = None
    updated_at: float = 0.0
    removed: bool = False  # no longer in the manifest: kept, but not counted as its job
    charged: Charged | None = None  # None until an attempt has cost something known
    charged_units: float | None = None
    charged_amount: float | None = None
    charged_currency: str | None = None
    #: Where the current attempt was sent (:func:`kbatch.provider.protocol.target_text`): its
    #: task is followed there whatever the manifest's ``provider.api`` says now. None: not
    #: recorded (an attempt of an older kbatch), the manifest's choice stands.
    target: str | None = None

    @property
    def estimated_units(self) -> float:
        """The part of ``units`` that is kbatch's estimate, not a reported charge (units paid
        in cash, counted at their price, are reported: a job all reported has none)."""
        reported = self.charged is Charged.REPORTED
        return 0.0 if reported else round(max(0.0, self.units - (self.charged_units or 0.0)), 9)

    def _costing(self, cost: Cost) -> JobRow:
        amount, currency = self.charged_amount, self.charged_currency
        if cost.amount is not None:
            key = cash_key(cost.currency, cost.cash_type)
            if amount is None or currency == key:
                amount, currency = _plus(amount, cost.amount), key
            else:  # cash of another currency or balance: never one figure (attempts keep each)
                amount, currency = None, MIXED_CASH
        return replace(
            self,
            units=round(self.units + cost.units, 9),
            charged=cost.charged.joined(self.charged),
            charged_units=_plus(self.charged_units, cost.charged_units),
            charged_amount=amount,
            charged_currency=currency,
        )

    # -- transitions ---------------------------------------------------------------------------

    def start_attempt(
        self, salt: str, *, now: float, target: str | None = None
    ) -> tuple[JobRow, AttemptRow]:
        """The next attempt: the ``submitting`` row (external task id, ``target`` it is sent
        to) and its record, both durable before the create is sent (exactly-once)."""
        external = external_task_id(salt, self.id, self.fingerprint, self.attempt + 1)
        row = self.submitting(external, now=now, target=target)
        started = AttemptRow(row.id, row.attempt, external, started_at=row.updated_at)
        return row, replace(started, fingerprint=row.fingerprint, target=target)

    def submitting(self, external_task_id: str, *, now: float, target: str | None = None) -> JobRow:
        """A new attempt: its external task id, recorded before the create is sent."""
        return replace(
            self,
            state=JobState.SUBMITTING,
            attempt=self.attempt + 1,
            external_task_id=external_task_id,
            target=target,
            task_id=None,
            submitted_at=None,
            finished_at=None,
            updated_at=now,
        )

    def unsent(self, *, now: float) -> JobRow:
        """The attempt's create is known not to have made a task: pending again, same attempt."""
        return replace(self, state=JobState.PENDING, attempt=self.attempt - 1, updated_at=now)

    def accepted(self, task_id: str, *, submitted_at: float, now: float) -> JobRow:
        return replace(
            self,
            state=JobState.SUBMITTED,
            task_id=task_id,
            submitted_at=submitted_at,
            updated_at=now,
        )

    def running(self, *, now: float) -> JobRow:
        return replace(self, state=JobState.RUNNING, updated_at=now)

    def succeeded(self, *, units: float | Cost, now: float) -> JobRow:
        """The task succeeded; ``units`` is what it cost (a bare number: a reported charge)."""
        return replace(
            self._costing(_cost(units)),
            state=JobState.SUCCEEDED,
            finished_at=now,
            updated_at=now,
            error_reason=None,
            error_code=None,
            error_message=None,
        )

    def attempt_failed(
        self, message: str, *, units: float | Cost, last: bool, now: float
    ) -> JobRow:
        """The provider failed the task: pending for another attempt, or failed if ``last``."""
        row = replace(self._costing(_cost(units)), failures=self.failures + 1, updated_at=now)
        if last:
            return row.failed(FailureReason.PROVIDER_FAILED, None, message, now=now)
        return replace(row, state=JobState.PENDING, error_message=message)

    def failed(
        self,
        reason: FailureReason,
        code: int | str | None,
        message: str,
        *,
        now: float,
        units: float | Cost | None = None,
    ) -> JobRow:
        """The job fails for good; ``units``: what this attempt was charged, if anything (a
        lip-sync's face identification, paid before its create was refused)."""
        return replace(
            self if units is None else self._costing(_cost(units)),
            state=JobState.FAILED,
            finished_at=now,
            updated_at=now,
            error_reason=reason,
            error_code=None if code is None else str(code),
            error_message=message,
        )

    def blocked(self, upstream: str, why: str, *, now: float) -> JobRow:
        """A job it takes from failed for good: this one is not sent (no attempt starts)."""
        message = f"blocked: job {upstream}, which it takes from, {why}"
        return replace(self, state=JobState.BLOCKED, error_message=message, updated_at=now)

    def unblocked(self, *, now: float) -> JobRow:
        """Its upstream may run again (``--retry-failed``): pending, waiting for it."""
        return replace(self, state=JobState.PENDING, error_message=None, updated_at=now)

    def downloaded(self, *, now: float) -> JobRow:
        return replace(self, state=JobState.DOWNLOADED, updated_at=now)

    def retried(self, *, estimate: float, now: float) -> JobRow:
        """``--retry-failed``: a failed job gets its attempts back."""
        return replace(
            self,
            state=JobState.PENDING,
            failures=0,
            estimate=estimate,
            error_reason=None,
            error_code=None,
            error_message=None,
            updated_at=now,
        )

    def ended(
        self,
        outcome: AttemptOutcome,
        *,
        units: float | Cost | None,
        message: str | None,
        now: float,
    ) -> AttemptRow:
        """The record of this attempt's end, with what it cost (None: unknown)."""
        assert self.external_task_id is not None
        cost = None if units is None else _cost(units)
        return AttemptRow(
            self.id,
            self.attempt,
            self.external_task_id,
            self.task_id,
            started_at=self.submitted_at or now,
            ended_at=now,
            outcome=outcome,
            units=None if cost is None else cost.units,
            message=message,
            charged=None if cost is None else cost.charged,
            charged_units=None if cost is None else cost.charged_units,
            charged_pack=None if cost is None else cost.pack,
            charged_amount=None if cost is None else cost.amount,
            charged_currency=None if cost is None else cost.currency,
            fingerprint=self.fingerprint,
            target=self.target,
            charged_cash_type=None if cost is None else cost.cash_type,
        )


@dataclass(frozen=True, slots=True)
class MediaRow:
    """One result file of a job: where the provider serves it and, once saved, where it is."""

    job_id: str
    index: int
    kind: str
    url: str
    extension: str
    path: str | None = None  # relative to the output folder, once downloaded
    size: int | None = None
    sha256: str | None = None
    variant: str = ""  # "" for the result itself, "watermark" for its watermarked copy
    host: str | None = None  # the machine whose output folder holds the file
    #: The provider's id of what was made (a video's ``id``, an ``audio_id``, an
    #: ``element_id``, a ``voice_id``): what ``video_id: job:<id>`` and the like send.
    made_id: str | None = None

    def saved(self, path: str, *, size: int, sha256: str, host: str | None = None) -> MediaRow:
        return replace(self, path=path, size=size, sha256=sha256, host=host)


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One create of a job: its external task id, and what became of it. ``units`` is what the
    budget counted for it; the ``charged_*`` fields what the provider reported (units of
    ``charged_pack``, cash of ``charged_currency`` from the ``charged_cash_type`` balance), and
    ``charged`` whether ``units`` is that charge or, the provider having reported none, the
    estimate. Keyed by job, version (``fingerprint``: an edit makes a new one, counting from 1
    again; "" not recorded) and number, no attempt overwrites another. ``target``: where it
    was sent (None: not recorded)."""

    job_id: str
    attempt: int
    external_task_id: str
    task_id: str | None = None
    started_at: float = 0.0
    ended_at: float | None = None
    outcome: AttemptOutcome | None = None
    units: float | None = None
    message: str | None = None
    charged: Charged | None = None
    charged_units: float | None = None
    charged_pack: str | None = None
    charged_amount: float | None = None
    charged_currency: str | None = None
    fingerprint: str = ""
    target: str | None = None
    charged_cash_type: str | None = None


Record = JobRow | MediaRow | AttemptRow


def external_task_id(salt: str, job_id: str, fingerprint: str, attempt: int) -> str:
    """The external task id of a job's attempt: the same on every run that shares the state,
    different for another job (even one with the same content: a dataset may ask for the same
    request many times), another attempt, or another state (another manifest, or the same one
    started afresh).

    >>> first = external_task_id("salt", "cat", "f00d", 1)
    >>> first.startswith("kb-"), len(first), first == external_task_id("salt", "cat", "f00d", 2)
    (True, 35, False)
    """
    digest = hashlib.sha256(f"{salt}\0{job_id}\0{fingerprint}\0{attempt}".encode()).hexdigest()
    return f"kb-{digest[:32]}"


__all__ = [
    "MIXED_CASH",
    "AttemptOutcome",
    "AttemptRow",
    "Charged",
    "Cost",
    "FailureReason",
    "JobRow",
    "JobState",
    "MediaRow",
    "Record",
    "cash_key",
    "external_task_id",
]
