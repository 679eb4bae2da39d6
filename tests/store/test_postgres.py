"""The shared state against a real PostgreSQL: its schema and how it is opened, the account's
ledger (claims against slots, rate and budget, across manifests and runners), leases, fencing
and take-overs, and what ``status`` tells of it."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from kbatch.errors import StateError, StateMissing
from kbatch.provider.catalogue import JobKind, PackType
from kbatch.store import JobRow, JobState, MediaRow, budgets, external_task_id
from kbatch.store.pgschema import _MIGRATIONS, VERSION
from kbatch.store.postgres import PostgresStore
from kbatch.store.records import AttemptRow, Charged
from kbatch.store.runner import Runner
from kbatch.store.seats import Claim, Refusal, Role, RunnerSpec
from kbatch.store.urls import redacted
from tests import shared

Make = Callable[[JobRow], tuple[JobRow, AttemptRow] | None]


def opened(
    url: str, name: str = "m", *, account: str = "acme", fp: str = "f1", **spec: object
) -> PostgresStore:
    runner = RunnerSpec(**spec)  # type: ignore[arg-type]
    return PostgresStore.open(
        url, manifest_name=name, account=account, fingerprint=fp, runner=runner
    )


def jobs(
    store: PostgresStore, *ids: str, kind: JobKind = JobKind.IMAGE2VIDEO, estimate: float = 1.0
) -> None:
    store.write_now(JobRow(i, kind, "fp", estimate=estimate, slots=1) for i in ids)


def attempt(store: PostgresStore) -> Make:
    """What the engine gives a claim: the next attempt of the job as the database has it."""

    def make(current: JobRow) -> tuple[JobRow, AttemptRow]:
        external = external_task_id(
            store.salt, current.id, current.fingerprint, current.attempt + 1
        )
        row = current.submitting(external, now=1.0)
        return row, AttemptRow(row.id, row.attempt, external, started_at=1.0)

    return make


@asynccontextmanager
async def runner(store: PostgresStore, slot_limit: int = 2) -> AsyncIterator[PostgresStore]:
    """The store as a runner of its manifest, for the test's length."""
    await seat(store).join(slot_limit=slot_limit)
    try:
        yield store
    finally:
        await seat(store).leave()
        store.close()


def seat(store: PostgresStore) -> Runner:
    assert store.runner is not None
    return store.runner


async def claim(
    store: PostgresStore, job_id: str, *, budget: float | None = None, rate: float = 0.0
) -> Claim:
    return await seat(store).claim(
        job_id, attempt(store), pack=PackType.VIDEO, budget=budget, rate_step=rate
    )


def granted(claim: Claim) -> JobRow:
    """The submitting row of a claim that was granted."""
    assert claim.row is not None, claim
    return claim.row


def test_a_new_database_gets_the_current_schema_and_keeps_manifests_apart(pg_state: str) -> None:
    first, second = opened(pg_state, "first"), opened(pg_state, "second")
    jobs(first, "a", "b")
    jobs(second, "c")

    assert list(first.load()) == ["a", "b"] and list(second.load()) == ["c"]
    assert first.salt != second.salt  # their external task ids never meet
    assert shared.query(pg_state, "SELECT value FROM kbatch_meta") == [(str(VERSION),)]
    first.close()
    second.close()
    with PostgresStore.read(pg_state, manifest_name="first") as reader:
        assert reader.status().counts[JobState.PENDING] == 2
    with pytest.raises(StateMissing, match="no state of manifest 'third'"):  # not the others'
        PostgresStore.read(pg_state, manifest_name="third")


def test_runners_that_start_together_migrate_once(pg_state: str) -> None:
    stores: list[PostgresStore] = []
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def open_one(number: int) -> None:
        start.wait()
        try:
            stores.append(opened(pg_state, f"m{number}"))
        except BaseException as exc:  # pragma: no cover - what the assertion shows
            failures.append(exc)

    threads = [threading.Thread(target=open_one, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == [] and len(stores) == 4
    assert shared.query(pg_state, "SELECT COUNT(*) FROM manifests") == [(4,)]
    for store in stores:
        store.close()


def test_a_database_a_newer_kbatch_wrote_is_refused(pg_state: str) -> None:
    opened(pg_state).close()
    shared.query(pg_state, "UPDATE kbatch_meta SET value = '99' RETURNING 1")

    with pytest.raises(StateError, match=r"schema version 99.*upgrade kbatch"):
        opened(pg_state)


def test_an_unreachable_database_is_named_without_its_password() -> None:
    import socket

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    url = f"postgresql://kb:s3cret-pw@127.0.0.1:{port}/kbatch"

    with pytest.raises(StateError) as caught:
        opened(url)

    message = str(caught.value)
    assert "cannot open the state database postgresql://kb:***@127.0.0.1" in message
    assert "s3cret-pw" not in message and "server is running" in message


def test_wrong_credentials_say_so_and_never_echo_them() -> None:
    parts = urlsplit(shared.server())
    netloc = f"{parts.username}:not-the-password-42@{parts.hostname}:{parts.port}"
    wrong = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    assert "not-the-password-42" in wrong

    with pytest.raises(StateError) as caught:
        opened(wrong)

    message = str(caught.value)
    assert "password authentication failed" in message and "PGPASSWORD" in message
    assert "not-the-password-42" not in message
    assert redacted(wrong) in message


async def test_a_claim_waits_for_the_accounts_slots_across_manifests(pg_state: str) -> None:
    async with (
        runner(opened(pg_state, "first")) as first,
        runner(opened(pg_state, "second")) as second,
    ):
        jobs(first, "a", "b", "c")
        jobs(second, "x")

        one, two = await claim(first, "a"), await claim(first, "b")
        third = await claim(first, "c")
        other = await claim(second, "x")  # another manifest, the same account: no room either

        assert granted(one).state is JobState.SUBMITTING and two.row is not None
        assert third.refusal is Refusal.SLOTS
        assert other.refusal is Refusal.SLOTS
        done = granted(one).accepted("t1", submitted_at=2.0, now=2.0).succeeded(units=1.0, now=3.0)
        await first.write(done)  # a slot comes free

        assert str(granted(await claim(second, "x")).external_task_id).startswith("kb-")
        held = shared.query(pg_state, "SELECT id, owner IS NOT NULL, epoch FROM jobs ORDER BY id")
        assert held == [("a", True, 1), ("b", True, 1), ("c", False, 0), ("x", True, 1)]


async def test_the_rate_spaces_claims_by_the_database_clock(pg_state: str) -> None:
    async with runner(opened(pg_state), slot_limit=10) as store:
        jobs(store, "a", "b")

        first = await claim(store, "a", rate=30.0)
        second = await claim(store, "b", rate=30.0)

        assert first.row is not None
        assert second.refusal is Refusal.RATE and 29.0 < second.wait <= 30.0


async def test_the_budget_counts_what_every_runner_reserved(pg_state: str) -> None:
    async with (
        runner(opened(pg_state), slot_limit=10) as one,
        runner(opened(pg_state), slot_limit=10) as two,
    ):
        jobs(one, "a", "b", estimate=0.6)

        assert (await claim(one, "a", budget=1.0)).row is not None
        assert (await claim(two, "b", budget=1.0)).refusal is Refusal.BUDGET


async def test_a_job_another_runner_claimed_is_gone(pg_state: str) -> None:
    async with runner(opened(pg_state)) as one, runner(opened(pg_state)) as two:
        jobs(one, "a")

        assert (await claim(one, "a")).row is not None
        assert (await claim(two, "a")).refusal is Refusal.GONE


async def test_a_lapsed_lease_is_taken_over_and_the_old_owners_writes_are_dropped(
    pg_state: str,
) -> None:
    async with runner(opened(pg_state)) as one, runner(opened(pg_state)) as two:
        jobs(one, "a")
        row = granted(await claim(one, "a"))
        lost: list[str] = []
        seat(one).on_lost = lost.append
        shared.query(
            pg_state, "UPDATE jobs SET lease_until = now() - interval '1 second' RETURNING 1"
        )

        taken = await seat(two).adopt([JobState.SUBMITTING], limit=10)
        await one.write(
            row.accepted("t-old", submitted_at=2.0, now=2.0), MediaRow("a", 0, "video", "u", "mp4")
        )

        assert [(r.id, before) for r, before in taken] == [("a", seat(one).id)]
        assert lost == ["a"] and "a" not in seat(one).held
        assert shared.query(pg_state, "SELECT state, task_id, owner, epoch FROM jobs") == [
            ("submitting", None, seat(two).id, 2)
        ]
        assert shared.query(pg_state, "SELECT COUNT(*) FROM media") == [(0,)]


async def test_a_renewal_tells_of_the_jobs_another_runner_took(pg_state: str) -> None:
    async with runner(opened(pg_state)) as one, runner(opened(pg_state)) as two:
        jobs(one, "a", "b")
        await claim(one, "a")
        await claim(one, "b")
        lost: list[str] = []
        seat(one).on_lost = lost.append
        shared.query(
            pg_state,
            "UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = 'b' RETURNING 1",
        )
        await seat(two).adopt([JobState.SUBMITTING], limit=10)

        await seat(one).renew()

        assert lost == ["b"] and set(seat(one).held) == {"a"}
        assert await seat(one).hold("a") and not await seat(one).hold("b")


async def test_a_1303_lowers_the_accounts_target_and_clean_finishes_raise_it(pg_state: str) -> None:
    async with runner(opened(pg_state), slot_limit=3) as store:
        jobs(store, "a", "b")
        row = granted(await claim(store, "a"))
        await store.write(row.accepted("t1", submitted_at=1.0, now=1.0))

        seat(store).crowded(PackType.VIDEO)
        await store.drain()
        target = "SELECT target FROM accounts WHERE pack = 'video'"
        assert shared.query(pg_state, target) == [(1,)]  # as many as the provider accepted

        seat(store).cleaned(PackType.VIDEO)
        await store.drain()
        assert shared.query(pg_state, target) == [(2,)]  # one clean end per slot of the target
        for _ in range(2):
            seat(store).cleaned(PackType.VIDEO)
        await store.drain()
        assert shared.query(pg_state, target) == [(3,)]


async def test_status_shows_the_account_slots_and_its_runners(pg_state: str) -> None:
    async with runner(opened(pg_state, role=Role.SUBMIT), slot_limit=5) as store:
        jobs(store, "a", "b")
        await claim(store, "a")

        status = store.status()

    assert status.account == "acme" and status.in_flight_slots == 1
    video = next(slots for slots in status.slots if slots.pack is PackType.VIDEO)
    assert (video.in_use, video.target, video.limit) == (1, 5, 5)
    (seen,) = status.runners
    assert (seen.pid, seen.role, seen.held, seen.alive) == (os.getpid(), "submit", 1, True)
    assert seen.heartbeat_age < 5


def test_another_host_with_other_inputs_is_refused_while_a_runner_lives(pg_state: str) -> None:
    first = opened(pg_state, fp="inputs-1")
    try:
        with pytest.raises(StateError, match="same manifest and input files"):
            opened(pg_state, fp="inputs-2")
        again = opened(pg_state, fp="inputs-1")  # the same inputs: welcome
        assert [other.pid for other in again.others] == [os.getpid()]
        again.close()
    finally:
        first.close()
    opened(pg_state, fp="inputs-2").close()  # nobody runs it any more: the new inputs win


async def test_the_jobs_of_a_dead_runner_on_this_host_are_free_at_once(pg_state: str) -> None:
    store = opened(pg_state)
    await seat(store).join(slot_limit=2)
    jobs(store, "a")
    await claim(store, "a")
    child = await asyncio.create_subprocess_exec("true")
    await child.wait()  # a pid that is surely gone
    shared.query(pg_state, "UPDATE runners SET pid = %s RETURNING 1", (child.pid,))

    async with runner(opened(pg_state)) as second:
        taken = await seat(second).adopt([JobState.SUBMITTING], limit=10)

    assert [row.id for row, _ in taken] == ["a"]
    assert shared.query(pg_state, "SELECT COUNT(*) FROM runners") == [(0,)]  # reaped, and left
    await seat(store).leave()  # the "dead" one: it holds nothing any more
    store.close()


def test_a_version_1_schema_keeps_its_units_as_reported_charges(pg_state: str) -> None:
    """Before version 2 the units of a finished attempt were what the provider reported: they
    stay counted, and are now said to be reported; a job with nothing finished has no charge."""
    with psycopg.connect(pg_state, autocommit=True) as db:
        db.execute(_MIGRATIONS[0])
        db.execute("INSERT INTO kbatch_meta VALUES ('schema_version', '1')")
        db.execute("INSERT INTO manifests VALUES ('m', 'abc', 'acme', 'f1')")
        db.execute(
            "INSERT INTO jobs (manifest, id, kind, pack, fingerprint, state, attempt, failures,"
            " slots, estimate, units, created_at, updated_at) VALUES "
            "('m', 'done', 'image2video', 'video', 'f', 'failed', 2, 2, 1, 2.0, 0.5, 1, 1),"
            "('m', 'new', 'image2video', 'video', 'f', 'pending', 0, 0, 1, 2.0, 0, 1, 1)"
        )
        db.execute(
            "INSERT INTO attempts (manifest, job_id, attempt, external_task_id, started_at,"
            " outcome, units) VALUES ('m', 'done', 1, 'kb-1', 1, 'failed', 0.5),"
            " ('m', 'done', 2, 'kb-2', 1, 'unknown_outcome', NULL)"
        )
    with PostgresStore.read(pg_state, manifest_name="m") as store:  # a reader migrates it too
        rows = store.load()
        first, second = store.attempts("done")
    assert shared.query(pg_state, "SELECT value FROM kbatch_meta") == [(str(VERSION),)]
    done, new = rows["done"], rows["new"]
    assert (done.units, done.charged, done.charged_units) == (0.5, Charged.REPORTED, 0.5)
    assert (new.charged, new.charged_units) == (None, None)
    assert (first.charged, first.charged_units) == (Charged.REPORTED, 0.5)
    assert (second.charged, second.charged_units, second.units) == (None, None, None)
    assert (first.fingerprint, second.fingerprint, first.target) == ("f", "f", None)


def kept_totals(url: str, manifest: str = "m") -> dict[PackType, budgets.Share]:
    found = shared.query(
        url, f"SELECT pack, spent, reserved FROM budgets WHERE manifest = '{manifest}'"
    )
    return {PackType(pack): budgets.Share(spent, reserved) for pack, spent, reserved in found}


async def test_the_budget_totals_follow_every_write_of_a_job_row(pg_state: str) -> None:
    """A claim reserves, a success spends its charge and frees the estimate, a retry and a
    resend keep what was spent: at each step the totals are share() summed over the rows."""
    async with runner(opened(pg_state), slot_limit=10) as store:
        jobs(store, "a", "b", "c", estimate=2.0)
        jobs(store, "i", kind=JobKind.TEXT2IMAGE, estimate=0.5)
        a = granted(await claim(store, "a", budget=100.0))
        b = granted(await claim(store, "b", budget=100.0))
        assert kept_totals(pg_state)[PackType.VIDEO] == budgets.Share(0.0, 4.0)

        await store.write(a.accepted("t-a", submitted_at=1.0, now=1.0))
        await store.write(b.accepted("t-b", submitted_at=1.0, now=1.0).running(now=2.0))
        await store.write(b.attempt_failed("no", units=0.5, last=True, now=3.0))
        done = a.accepted("t-a", submitted_at=1.0, now=1.0).succeeded(units=1.5, now=4.0)
        await store.write(done)
        store.write_now([store.load()["b"].retried(estimate=2.0, now=5.0)])

        rows = store.load().values()
        kept, summed = kept_totals(pg_state), budgets.totals(rows)
        assert kept[PackType.VIDEO] == summed[PackType.VIDEO] == budgets.Share(2.0, 0.0)
        assert PackType.IMAGE not in kept and summed[PackType.IMAGE] == budgets.Share()
        # what a claim checks: 2 spent + 2 for b's estimate fits 4, and no more
        assert granted(await claim(store, "b", budget=4.0)).attempt == 2
        assert (await claim(store, "c", budget=4.0)).refusal is Refusal.BUDGET


def test_a_version_2_schema_gets_its_budget_totals_from_its_rows(pg_state: str) -> None:
    with psycopg.connect(pg_state, autocommit=True) as db:
        for script in _MIGRATIONS[:2]:
            db.execute(script)
        db.execute("INSERT INTO kbatch_meta VALUES ('schema_version', '2')")
        db.execute("INSERT INTO manifests VALUES ('m', 'abc', 'acme', 'f1')")
        db.execute(
            "INSERT INTO jobs (manifest, id, kind, pack, fingerprint, state, attempt, failures,"
            " slots, estimate, units, created_at, updated_at) VALUES "
            "('m', 'done', 'image2video', 'video', 'f', 'downloaded', 1, 0, 1, 2.0, 1.5, 1, 1),"
            "('m', 'out', 'image2video', 'video', 'f', 'running', 1, 0, 1, 2.0, 0, 1, 1),"
            "('m', 'new', 'image2video', 'video', 'f', 'pending', 0, 0, 1, 2.0, 0, 1, 1)"
        )
    with PostgresStore.read(pg_state, manifest_name="m"):  # a reader migrates it
        pass
    assert kept_totals(pg_state) == {PackType.VIDEO: budgets.Share(1.5, 2.0)}
