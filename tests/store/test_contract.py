"""The promises of :class:`~kbatch.store.protocol.StateStore`, kept by both backends: every test
here runs on a SQLite file and on a PostgreSQL state (a schema of its own on the test server).

What only one backend does stays with it: the state file's format, run lock and full disk in
``test_sqlite.py``; claims, leases, fencing and the account's ledger in ``test_postgres.py``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from kbatch.errors import StateError, StateMissing
from kbatch.provider.catalogue import JobKind, PackType
from kbatch.store.base import SqlStore
from kbatch.store.postgres import PostgresStore
from kbatch.store.records import (
    AttemptOutcome,
    AttemptRow,
    Charged,
    Cost,
    FailureReason,
    JobRow,
    JobState,
    MediaRow,
    Record,
)
from kbatch.store.seats import RunnerSpec
from kbatch.store.sqlite import SqliteStore
from tests import shared

Store = SqlStore[Any]


@dataclass(frozen=True)
class Where:
    """One backend's state for a test: opened as a run opens it, read as ``kbatch status``
    reads it (a connection of its own), and made to refuse a job's row."""

    at: Path | str

    def open(self) -> Store:
        if isinstance(self.at, Path):
            return SqliteStore.open(self.at, manifest_name="m")
        return PostgresStore.open(
            self.at, manifest_name="m", account="acme", fingerprint="f", runner=RunnerSpec()
        )

    def read(self) -> Store:
        if isinstance(self.at, Path):
            return SqliteStore.read(self.at)
        return PostgresStore.read(self.at, manifest_name="m")

    def refuse(self, job_id: str) -> None:
        """From now on the database itself refuses to write this job's row, as a full disk or
        a lost database would refuse any: a trigger that raises, a check that fails."""
        if isinstance(self.at, Path):
            with sqlite3.connect(self.at) as db:
                db.execute(
                    f"CREATE TRIGGER refused BEFORE INSERT ON jobs WHEN NEW.id = '{job_id}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
        else:
            with psycopg.connect(self.at, autocommit=True) as db:
                db.execute(f"ALTER TABLE jobs ADD CONSTRAINT refused CHECK (id <> '{job_id}')")


@pytest.fixture(params=["sqlite", "postgres"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Where]:
    """The test's state, on each backend: a file in its folder, a schema of its own."""
    if request.param == "sqlite":
        yield Where(tmp_path / "state.sqlite3")
        return
    with shared.schema(shared.server()) as url:
        yield Where(url)


@pytest.fixture
async def state(where: Where) -> AsyncIterator[Store]:
    """The state open for a run (PostgreSQL: as a runner that joined)."""
    store = where.open()
    runner = getattr(store, "runner", None)
    if runner is not None:
        await runner.join(slot_limit=4)
    try:
        yield store
    finally:
        await store.drain()
        if runner is not None:
            await runner.leave()
        store.close()


def job(job_id: str, **changes: Any) -> JobRow:
    return replace(JobRow(job_id, JobKind.IMAGE2VIDEO, "f" * 16), **changes)


FULL_JOB = JobRow(
    "full",
    JobKind.TEXT2IMAGE,
    "fp-1",
    state=JobState.FAILED,
    attempt=3,
    failures=2,
    external_task_id="kb-3",
    task_id="t-3",
    slots=4,
    estimate=1.5,
    units=2.25,
    error_reason=FailureReason.PROVIDER_FAILED,
    error_code="1301",
    error_message="refused: ünïcode",
    created_at=1.25,
    submitted_at=2.5,
    finished_at=3.75,
    updated_at=4.0,
    removed=True,
    charged=Charged.PARTLY,
    charged_units=1.75,
    charged_amount=0.42,
    charged_currency="USD",
    target="text-to-video/kling-3.0",
)
FULL_MEDIA = MediaRow(
    "full", 2, "image", "http://127.0.0.1/x.png", "png", "full/2.png", 99, "ab", "watermark", "h"
)
FULL_MEDIA = replace(FULL_MEDIA, made_id="42")  # the provider's id of what was made
FULL_ATTEMPT = AttemptRow(
    "full",
    3,
    "kb-3",
    "t-3",
    2.5,
    3.75,
    AttemptOutcome.FAILED,
    0.5,
    "no",
    charged=Charged.REPORTED,
    charged_units=0.5,
    charged_pack="video",
    charged_amount=0.07,
    charged_currency="CNY",
    fingerprint="fp-1",
    target="v1",
    charged_cash_type="test_balance",
)


def test_the_samples_set_every_field_of_every_record() -> None:
    """A field added to a record must be added to the samples, so it is checked below."""
    for sample in (FULL_JOB, FULL_MEDIA, FULL_ATTEMPT):
        unset = [f.name for f in fields(sample) if getattr(sample, f.name) == f.default]
        assert unset == [], f"{type(sample).__name__}: give {unset} a value that is not its default"


def same(back: Record, written: Record) -> None:
    """Equal, and every field of the same type (an enum, not its string; a bool, not 0 or 1)."""
    assert back == written
    for f in fields(written):
        assert type(getattr(back, f.name)) is type(getattr(written, f.name)), f.name


async def test_records_read_back_as_they_were_written(where: Where, state: Store) -> None:
    empty = (job("empty"), MediaRow("empty", 0, "video", "u", "mp4"), AttemptRow("empty", 1, "x"))
    await state.write(FULL_JOB, FULL_MEDIA, FULL_ATTEMPT)
    state.write_now(empty)

    with where.read() as reader:
        loaded = reader.load()
        for written in (FULL_JOB, empty[0]):
            same(loaded[written.id], written)
        for written_media in (FULL_MEDIA, empty[1]):
            (back,) = reader.media(written_media.job_id)
            same(back, written_media)
        for written_attempt in (FULL_ATTEMPT, empty[2]):
            (tried,) = reader.attempts(written_attempt.job_id)
            same(tried, written_attempt)


def test_a_state_not_yet_written_is_missing(where: Where) -> None:
    with pytest.raises(StateMissing, match="not been run"):
        where.read()


def test_a_state_keeps_its_salt(where: Where) -> None:
    """External task ids are salted by the state: the same salt on every open."""
    with where.open() as first:
        salt = first.salt
    with where.open() as again:
        assert again.salt == salt and len(salt) == 16


async def test_a_write_is_durable_when_it_returns(where: Where, state: Store) -> None:
    await state.write(job("a", state=JobState.SUBMITTING, external_task_id="kb-1"))

    with where.read() as reader:  # another connection: what is on disk, not in memory
        assert reader.load()["a"].external_task_id == "kb-1"


async def test_posts_before_a_write_are_durable_with_it_and_in_order(
    where: Where, state: Store
) -> None:
    state.post(job("a", state=JobState.SUBMITTED, task_id="t1", updated_at=1.0))
    state.post(job("a", state=JobState.SUCCEEDED, task_id="t1", updated_at=2.0))
    await state.write(job("b", state=JobState.SUBMITTING, updated_at=3.0))

    with where.read() as reader:
        rows = reader.load()
    assert rows["a"].state is JobState.SUCCEEDED and rows["b"].state is JobState.SUBMITTING


async def test_writes_that_arrive_together_share_commits(state: Store) -> None:
    await asyncio.gather(*(state.write(job(f"j{i}")) for i in range(200)))

    assert len(state.load()) == 200
    assert state.records == 200 and state.commits < 50


async def test_a_commit_that_fails_fails_its_waiters_and_tells_on_failure(
    where: Where, state: Store
) -> None:
    told: list[StateError] = []
    state.on_failure = told.append
    await state.write(job("kept"))
    where.refuse("refused")

    state.post(job("posted"))  # the same group as the write after it: none of it is written
    with pytest.raises(StateError, match="refused"):
        await state.write(job("refused"))
    await state.drain()

    assert state.failure is not None and told == [state.failure]
    with where.read() as reader:
        assert list(reader.load()) == ["kept"]


async def test_jobs_load_in_the_order_they_were_first_written(where: Where, state: Store) -> None:
    state.write_now([job("c"), job("a")])
    await state.write(job("b"))
    await state.write(job("a", state=JobState.SUBMITTING, updated_at=1.0), job("d"))
    state.post(job("c", state=JobState.FAILED, updated_at=2.0))
    await state.drain()

    with where.read() as reader:
        assert list(reader.load()) == ["c", "a", "b", "d"]


async def test_units_are_spent_per_pack(state: Store) -> None:
    await state.write(
        job("v1", units=2.0),
        job("v2", kind=JobKind.TEXT2VIDEO, units=0.5),
        job("i1", kind=JobKind.TEXT2IMAGE, units=8.0),
    )

    assert state.units() == {PackType.VIDEO: 2.5, PackType.IMAGE: 8.0}


async def test_the_revision_changes_with_every_job_write(state: Store) -> None:
    seen = {state.revision()}
    await state.write(job("a", updated_at=1.0))
    seen.add(state.revision())
    await state.write(job("a", state=JobState.SUBMITTING, updated_at=2.0))  # a rewrite
    seen.add(state.revision())
    state.write_now([job("b", updated_at=2.0)])  # a new job, no later time
    seen.add(state.revision())

    assert len(seen) == 4
    assert state.revision() == state.revision()


def test_a_remembered_value_is_recalled_by_its_key(where: Where) -> None:
    with where.open() as store:
        assert store.recall("reports") is None
        store.remember("reports", "1:1.0")
        store.remember("reports", "2:5.0")  # the last one counts
        store.remember("reports@host:/out", "other")

    with where.read() as reader:
        assert reader.recall("reports") == "2:5.0"
        assert reader.recall("reports@host:/out") == "other"


async def test_status_counts_jobs_by_state_and_removed_ones_apart(state: Store) -> None:
    await state.write(
        job("p1"),
        job("p2"),
        job("s", state=JobState.SUBMITTED, slots=3),
        job("r", state=JobState.RUNNING, slots=2),
        job("d", state=JobState.DOWNLOADED),
        job("f1", state=JobState.FAILED, error_message="older", updated_at=1.0),
        job("f2", state=JobState.FAILED, error_message="latest", updated_at=2.0),
        job("gone", removed=True),
    )

    status = state.status()

    assert {s: n for s, n in status.counts.items() if n} == {
        JobState.PENDING: 2,
        JobState.SUBMITTED: 1,
        JobState.RUNNING: 1,
        JobState.DOWNLOADED: 1,
        JobState.FAILED: 2,
    }
    assert set(status.counts) == set(JobState)
    assert status.removed == 1 and status.in_flight_slots == 5
    assert status.last_error == ("f2", "latest")


async def test_status_parts_units_into_charged_and_estimated_per_pack(state: Store) -> None:
    """``units`` is what the budget counts; of it, what the provider reported it charged and
    what kbatch estimated for attempts it reported no charge for; cash per currency, summed
    from the attempts: a job that paid in two currencies (or from the test balance) is never
    one figure in the last one."""
    start = job("x").submitting("kb-1", now=1.0)
    paid = Cost(1.5, Charged.REPORTED, 1.5, "video", 0.2, "USD", "balance")
    ended = AttemptOutcome.SUCCEEDED
    x, y = start.succeeded(units=paid, now=2.0), replace(start, id="y")
    z = replace(start, id="z", kind=JobKind.TEXT2IMAGE)
    w = replace(start, id="w").succeeded(units=replace(paid, amount=0.1), now=2.0)
    w2 = w.submitting("kb-2", now=3.0)
    in_yuan = replace(paid, amount=0.7, currency="CNY")
    test_quota = replace(paid, amount=5.0, cash_type="test_balance")
    v = replace(start, id="v")
    await state.write(
        x,
        start.ended(ended, units=paid, message=None, now=2.0),
        y.succeeded(units=Cost.estimated(3.0), now=2.0),
        z.succeeded(units=0.5, now=2.0),
        w2.succeeded(units=in_yuan, now=4.0),
        replace(start, id="w").ended(ended, units=replace(paid, amount=0.1), message=None, now=2),
        w2.ended(ended, units=in_yuan, message=None, now=4.0),
        v.succeeded(units=test_quota, now=2.0),
        v.ended(ended, units=test_quota, message=None, now=2.0),
    )

    status = state.status()

    assert status.units == {PackType.VIDEO: 9.0, PackType.IMAGE: 0.5}
    assert status.charged_units == {PackType.VIDEO: 6.0, PackType.IMAGE: 0.5}
    assert status.estimated_units == {PackType.VIDEO: 3.0}
    assert status.charged_cash == {
        "CNY": pytest.approx(0.7),
        "USD": pytest.approx(0.3),
        "USD test_balance": pytest.approx(5.0),
    }
    rows = state.load()
    assert (rows["w"].charged_amount, rows["w"].charged_currency) == (None, "mixed")
    assert (rows["v"].charged_amount, rows["v"].charged_currency) == (5.0, "USD test_balance")


async def test_media_come_in_order_and_a_jobs_files_can_be_replaced(state: Store) -> None:
    def media(job_id: str, index: int, variant: str = "") -> MediaRow:
        return MediaRow(
            job_id, index, "video", f"http://127.0.0.1/{job_id}", "mp4", variant=variant
        )

    await state.write(media("b", 0), media("a", 1), media("a", 0, "watermark"), media("a", 0))

    order = [(m.index, m.variant) for m in state.media("a")]
    assert order == [(0, ""), (0, "watermark"), (1, "")]
    assert {job_id: len(rows) for job_id, rows in state.all_media().items()} == {"a": 3, "b": 1}
    assert state.all_media()["a"] == state.media("a") and state.media("none") == []

    state.write_now([media("a", 5)], delete_media=["a"])
    assert [m.index for m in state.media("a")] == [5] and len(state.media("b")) == 1


async def test_attempts_come_in_order(state: Store) -> None:
    await state.write(*(AttemptRow("a", n, f"kb-{n}") for n in (3, 1, 2)))

    assert [a.attempt for a in state.attempts("a")] == [1, 2, 3]
    assert state.attempts("b") == []


async def test_every_version_keeps_its_attempts_oldest_version_first(state: Store) -> None:
    """An edited job (a new fingerprint) counts its attempts from 1 again: they are kept
    beside the earlier version's, never over them; versions come in the order first tried
    (attempts of an unrecorded version first), each version's attempts by number."""

    def tried(version: str, number: int, at: float) -> AttemptRow:
        return AttemptRow("a", number, f"kb-{version}{number}", started_at=at, fingerprint=version)

    await state.write(
        tried("new", 2, 60.0),
        tried("old", 1, 10.0),
        tried("new", 1, 50.0),
        tried("old", 2, 20.0),
        tried("", 4, 5.0),
    )
    await state.write(replace(tried("old", 2, 20.0), units=4.0))  # its end: the same attempt

    seen = [(a.fingerprint, a.attempt) for a in state.attempts("a")]
    assert seen == [("", 4), ("old", 1), ("old", 2), ("new", 1), ("new", 2)]
    assert state.attempts("a")[2].units == 4.0
