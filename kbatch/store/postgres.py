"""The shared state: one PostgreSQL database for many runners, manifests and hosts.

::

    store = PostgresStore.open(url, manifest_name="demo", account="kling", fingerprint=fp,
                               runner=RunnerSpec(role=Role.ALL, lease=120.0))
    rows = store.load()                       # the StateStore protocol, as SQLite's
    store.post(row.running(now=now))          # fenced by the runner's epoch for the job
    store.runner                              # the runner's part: kbatch.store.runner

A job row carries ``owner`` (a runner), ``epoch`` and ``lease_until`` (the database's clock). A
job starts an attempt only by a claim (:mod:`kbatch.store.claims`, through
:meth:`~kbatch.store.runner.Runner.claim`). Every later write of a held job is fenced here by
owner and epoch: a job whose lease another runner took over is dropped
(:meth:`~kbatch.store.runner.Runner.lost`), never written, and a held job is let go (owner
cleared) when it comes to rest. Writes of jobs this runner does not hold never go over another
runner's live lease.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, Self

from kbatch.errors import StateError, StateMissing
from kbatch.store import budgets, claims, ledger
from kbatch.store.base import SqlStore
from kbatch.store.mapping import POSTGRES, TABLES, by_table, job
from kbatch.store.pgschema import connect, errors, migrate
from kbatch.store.protocol import SharedState, StateStatus
from kbatch.store.records import JobRow, Record
from kbatch.store.runner import Runner
from kbatch.store.seats import RunnerSpec, TargetChange
from kbatch.store.urls import redacted

Item = tuple[Record | TargetChange, ...]
#: Upserts; a job row's owner (None: let go) clears its lease.
UPSERT = {cls: POSTGRES.upsert(cls) for cls in TABLES}
UPSERT[JobRow] += (
    ", lease_until = CASE WHEN excluded.owner IS NULL THEN NULL ELSE jobs.lease_until END"
)
#: A job row's upsert for a job this runner does not hold: never over another's live lease.
GUARDED_JOB = UPSERT[JobRow] + " WHERE jobs.owner IS NULL OR jobs.lease_until < now()"


def manifest_fingerprint(fingerprints: Iterable[tuple[str, str]]) -> str:
    """One value for a manifest's jobs and inputs: every host must run the same."""
    digest = hashlib.sha256()
    for job_id, fingerprint in sorted(fingerprints):
        digest.update(f"{job_id}\0{fingerprint}\n".encode())
    return digest.hexdigest()[:16]


class PostgresStore(SqlStore[TargetChange]):
    """An open shared state for one manifest. Implements
    :class:`~kbatch.store.protocol.StateStore` (its reads and group commit are
    :class:`~kbatch.store.base.SqlStore`'s); its :attr:`runner` is the shared part."""

    dialect = POSTGRES

    def __init__(self, url: str, db: Any, manifest: str) -> None:
        super().__init__(redacted(url), (manifest,))  # messages name the database without password
        self.url = url
        self.manifest = manifest
        self._db = db
        self._lock = threading.Lock()
        self.account = ""
        #: This process as a runner of the manifest (opened with ``runner=``), else None.
        self.runner: Runner | None = None
        self._queued: Counter[str] = Counter()  # job id -> its rows queued, not yet applied

    @property
    def shared(self) -> SharedState | None:
        return self.runner

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str,
        *,
        manifest_name: str,
        account: str,
        fingerprint: str,
        runner: RunnerSpec | None = None,
    ) -> Self:
        """Open (migrating) the database, register the manifest and, with ``runner``, this
        runner: StateError if other live runners run the manifest with other jobs or inputs."""
        db = connect(url)
        store = cls(url, db, manifest_name)
        try:
            migrate(db, url)
            store._register(account, fingerprint, runner)
        except BaseException:
            db.close()
            raise
        return store

    @classmethod
    def read(cls, url: str, *, manifest_name: str) -> Self:
        """Open for reading (``kbatch status``, reports): no runner. Tables an older kbatch made
        are migrated (a state is read as this kbatch writes it); none are made where none are."""
        store = cls(url, connect(url), manifest_name)
        with store._lock, errors(url):
            found = store._db.execute("SELECT to_regclass('manifests') IS NOT NULL").fetchone()
            if found[0]:
                migrate(store._db, url)
            row = (
                store._db.execute(
                    "SELECT salt, account FROM manifests WHERE name = %s", (manifest_name,)
                ).fetchone()
                if found[0]
                else None
            )
        if row is None:
            store.close()
            raise StateMissing(
                f"the state database {store.path} has no state of manifest {manifest_name!r}: "
                "it has not been run with this --state yet"
            )
        store.salt, store.account = row
        return store

    def _register(self, account: str, fingerprint: str, runner: RunnerSpec | None) -> None:
        with self._lock, errors(self.url), self._db.transaction():
            self.salt, seat, others = ledger.register(
                self._db, self.manifest, account, fingerprint, runner
            )
        self.account = account
        if seat is not None:
            post = lambda note: self._commits.post((note,))  # noqa: E731
            self.runner = Runner(self.url, seat, post=post, drain=self._drain_job)
            self.others = tuple(others)

    def close(self) -> None:
        """Close the synchronous connection; a runner that did not :meth:`leave` lets its
        jobs' leases run out (another runner, or the next run, takes them over)."""
        with self._lock:
            runner, self.runner = self.runner, None
            if runner is not None and not runner.running and runner.held == {}:
                with contextlib.suppress(StateError), errors(self.url):  # never ran: unregister
                    self._db.execute("DELETE FROM runners WHERE id = %s", (runner.id,))
            self._db.close()

    # -- reading (StateStore) ------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, errors(self.url):
            cursor = self._db.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description is not None else []

    def status(self) -> StateStatus:
        """The manifest's jobs, and the account's slots and runners across manifests."""
        status = super().status()
        with self._lock, errors(self.url):
            accounts = ledger.account_slots(self._db, self.account)
            runners = ledger.account_runners(self._db, self.account)
        return replace(status, account=self.account, slots=accounts, runners=runners)

    # -- writing (StateStore) ------------------------------------------------------------------

    def write_now(self, records: Iterable[Record], *, delete_media: Iterable[str] = ()) -> None:
        """Start-up writes (new, edited, retried, removed jobs): never over a held job."""
        records = list(records)
        ids = sorted({r.id for r in records if isinstance(r, JobRow)})
        with self._lock, errors(self.url), self._db.transaction():
            cursor = self._db.cursor()
            before = [job(v) for v in cursor.execute(budgets.LOCK, (self.manifest, ids))]
            gone = [(self.manifest, job_id) for job_id in delete_media]
            if gone:
                cursor.executemany("DELETE FROM media WHERE manifest = %s AND job_id = %s", gone)
            for cls, rows in by_table(records).items():
                sql = GUARDED_JOB if cls is JobRow else UPSERT[cls]
                cursor.executemany(sql, [POSTGRES.values(r, manifest=self.manifest) for r in rows])
            after = [job(v) for v in cursor.execute(budgets.LOCK, (self.manifest, ids))]
            moved = budgets.additions(self.manifest, budgets.change(before, after))
            if moved:
                cursor.executemany(budgets.ADD, moved)

    async def write(self, *records: Record) -> None:
        self._queue(records)
        await super().write(*records)

    def post(self, *records: Record) -> None:
        self._queue(records)
        super().post(*records)

    def _queue(self, records: Sequence[Record]) -> None:
        for record in records:
            if isinstance(record, JobRow):
                self._queued[record.id] += 1

    async def _drain_job(self, job_id: str | None) -> None:
        """Wait for the queued writes of one job (all of them, for None): a claim must not pass
        its own job's last write, and need not wait for other jobs'."""
        if job_id is None or self._queued[job_id]:
            await self._commits.drain()

    async def _apply(self, batch: Sequence[Item]) -> None:
        """One transaction: held jobs' records fenced by owner and epoch (a job whose lease was
        taken over is dropped, never written), the rest guarded against live leases."""
        records = [record for item in batch for record in item]
        try:
            await self._apply_held(records)
        finally:  # applied or failed: no longer queued
            self._queued.subtract(r.id for r in records if isinstance(r, JobRow))
            self._queued += Counter()  # drop the zeros

    async def _apply_held(self, records: Sequence[Record | TargetChange]) -> None:
        runner = self.runner
        if runner is None:
            raise StateError("the shared state is not open for a run")
        ids = {_job_id(r) for r in records if not isinstance(r, TargetChange)}
        held = {job_id: runner.held[job_id] for job_id in ids if job_id in runner.held}
        jobs = {r.id for r in records if isinstance(r, JobRow)}
        with errors(self.url):
            async with runner.connection() as conn, conn.transaction():
                cursor = conn.cursor()
                before = await budgets.locked(cursor, self.manifest, jobs)  # held ones too
                lost = await _fence(cursor, self.manifest, runner.id, held)
                count, let_go = await _write(cursor, self.manifest, records, runner, held, lost)
                self.records += count
                for record in records:
                    if isinstance(record, TargetChange):
                        await claims.change_target(cursor, self.account, record)
                if jobs:  # last: the totals' row lock after the account's (as in a claim)
                    after = await budgets.locked(cursor, self.manifest, jobs)
                    await budgets.add(cursor, self.manifest, budgets.change(before, after))
                for job_id in let_go:  # before the commit: a renewal must not take a job
                    runner.held.pop(job_id, None)  # let go for one taken over
        for job_id in lost:
            runner.lost(job_id)


async def _write(
    cursor: Any,
    manifest: str,
    records: Sequence[Record | TargetChange],
    runner: Runner,
    held: dict[str, int],
    lost: set[str],
) -> tuple[int, list[str]]:
    """Upsert the records of jobs not lost: how many, and the held jobs that come to rest
    (they are let go)."""
    by_sql: dict[str, list[tuple[Any, ...]]] = {}
    let_go: dict[str, bool] = {}
    for record in records:
        if isinstance(record, TargetChange) or _job_id(record) in lost:
            continue
        if isinstance(record, JobRow):
            keep = record.id in held and runner.keeps(record)
            if record.id in held:
                let_go[record.id] = not keep
            sql = UPSERT[JobRow] if record.id in held else GUARDED_JOB
            owner = runner.id if keep else None
            by_sql.setdefault(sql, []).append(
                POSTGRES.values(record, manifest=manifest, owner=owner)
            )
        else:
            by_sql.setdefault(UPSERT[type(record)], []).append(
                POSTGRES.values(record, manifest=manifest)
            )
    for sql, rows in by_sql.items():
        await cursor.executemany(sql, rows)
    return sum(map(len, by_sql.values())), [job for job, gone in let_go.items() if gone]


def _job_id(record: Record) -> str:
    return record.id if isinstance(record, JobRow) else record.job_id


async def _fence(cursor: Any, manifest: str, owner: str, held: dict[str, int]) -> set[str]:
    """Lock the held jobs' rows; the ones another runner has now (owner or epoch changed)."""
    if not held:
        return set()
    await cursor.execute(
        "SELECT id, owner, epoch FROM jobs WHERE manifest = %s AND id = ANY(%s) "
        "ORDER BY id FOR UPDATE",
        (manifest, list(held)),
    )
    found = {job_id: (who, epoch) for job_id, who, epoch in await cursor.fetchall()}
    return {job_id for job_id, epoch in held.items() if found.get(job_id) != (owner, epoch)}


__all__ = ["GUARDED_JOB", "UPSERT", "PostgresStore", "manifest_fingerprint"]
