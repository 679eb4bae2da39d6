"""A job's transitions, as methods of its record: what each one sets and clears; the external
task id of an attempt."""

from __future__ import annotations

from kbatch.provider.catalogue import JobKind
from kbatch.store.records import (
    AttemptOutcome,
    Charged,
    Cost,
    FailureReason,
    JobRow,
    JobState,
    external_task_id,
)

ROW = JobRow("cat", JobKind.IMAGE2VIDEO, "f00d", created_at=1.0, updated_at=1.0)


def test_a_new_attempt_records_its_external_id_and_clears_the_last_task() -> None:
    done = ROW.submitting("kb-1", now=2.0).accepted("t1", submitted_at=3.0, now=3.0)
    again = done.attempt_failed("boom", units=1.0, last=False, now=4.0).submitting("kb-2", now=5.0)

    assert (again.state, again.attempt, again.external_task_id) == (JobState.SUBMITTING, 2, "kb-2")
    assert again.task_id is None and again.submitted_at is None
    assert again.units == 1.0 and again.failures == 1


def test_an_unsent_create_gives_its_attempt_back() -> None:
    row = ROW.submitting("kb-1", now=2.0).unsent(now=3.0)
    assert (row.state, row.attempt) == (JobState.PENDING, 0)


def test_the_last_failed_attempt_fails_the_job_with_the_providers_message() -> None:
    row = ROW.submitting("kb-1", now=2.0).accepted("t1", submitted_at=2.0, now=2.0)
    failed = row.attempt_failed("nsfw", units=0.5, last=True, now=9.0)

    assert failed.state is JobState.FAILED and failed.finished_at == 9.0
    assert (failed.error_reason, failed.error_message) == ("provider_failed", "nsfw")


def test_success_clears_an_earlier_error_and_sums_units() -> None:
    row = ROW.submitting("kb-1", now=2.0).attempt_failed("x", units=1.0, last=False, now=3.0)
    row = row.submitting("kb-2", now=4.0).accepted("t2", submitted_at=4.0, now=4.0)
    done = row.succeeded(units=2.0, now=10.0)

    assert done.error_message is None and done.units == 3.0
    ended = row.ended(AttemptOutcome.SUCCEEDED, units=2.0, message=None, now=10.0)
    assert (ended.attempt, ended.external_task_id, ended.task_id) == (2, "kb-2", "t2")


def test_retry_failed_gives_a_failed_job_its_attempts_back() -> None:
    failed = ROW.failed(FailureReason.REJECTED, 1201, "bad", now=5.0)
    assert failed.error_code == "1201"
    row = failed.retried(estimate=3.0, now=6.0)
    assert (row.state, row.failures, row.error_code, row.estimate) == (
        JobState.PENDING,
        0,
        None,
        3.0,
    )


def test_external_task_ids_differ_by_job_attempt_and_state() -> None:
    first = external_task_id("salt1", "a", "f" * 64, 1)
    assert first == external_task_id("salt1", "a", "f" * 64, 1)
    assert first != external_task_id("salt1", "b", "f" * 64, 1)  # same content, another job
    assert first != external_task_id("salt1", "a", "f" * 64, 2)
    assert first != external_task_id("salt2", "a", "f" * 64, 1)
    assert first.startswith("kb-") and len(first) == 35


def test_an_attempt_without_a_reported_charge_counts_its_estimate_and_says_so() -> None:
    """The budget counts ``units``; what the provider reported is kept apart, so a job whose
    attempts mix a charge and an estimate is partly estimated."""
    row = ROW.submitting("kb-1", now=2.0)
    guessed = Cost.estimated(2.0)
    failed = row.attempt_failed("x", units=guessed, last=False, now=3.0)
    ended = row.ended(AttemptOutcome.FAILED, units=guessed, message="x", now=3.0)
    assert (ended.units, ended.charged, ended.charged_units) == (2.0, Charged.ESTIMATED, None)
    assert (failed.units, failed.charged, failed.estimated_units) == (2.0, Charged.ESTIMATED, 2.0)

    paid = Cost(1.5, Charged.REPORTED, 1.5, "video", 0.25, "USD")
    done = failed.submitting("kb-2", now=4.0).succeeded(units=paid, now=9.0)
    assert (done.units, done.charged, done.charged_units) == (3.5, Charged.PARTLY, 1.5)
    assert (done.estimated_units, done.charged_amount, done.charged_currency) == (2.0, 0.25, "USD")
