"""The shared state: one PostgreSQL database for many runners, manifests and hosts.

::

    store = PostgresStore.open(url, manifest_name="demo", account="kling", fingerprint=fp,
                               runner=RunnerSpec(role=Role.ALL, lease=30.0))
    rows = store.load()                       # the StateStore protocol, as SQLite's
    await store.join(slot_limit=5)            # the run: a pool, the runner's row, the ledger
    claim = await store.claim("cat", make)    # pending -> submitting, account-wide, one tx
    await store.renew()                       # every quarter lease: heartbeat + every lease
    await store.leave()

A job row carries ``owner`` (a runner), ``epoch`` and ``lease_until`` (the database's clock).
:meth:`claim` is the only way a job starts an attempt: in one transaction it locks the account's
row, takes the job with ``FOR UPDATE SKIP LOCKED``, checks the slots in use on the account
(summed from the job rows of every manifest on it: no counter that can leak), the account's
create rate and the manifest's budget, and writes ``submitting`` with the attempt's external task
id, the owner, epoch + 1 and a lease. Every later write of a held job is fenced by owner and
epoch: a job whose lease another runner took over is dropped (:attr:`on_lost`), never written.
A held job is let go (owner cleared) when it comes to rest. Jobs left under an expired lease are
taken over by :meth:`adopt`. The account helpers live in :mod:`kbatch.store.ledger`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from typing import Any, Self

from kbatch import pricing
from kbatch.errors import StateError, StateMissing
from kbatch.provider.catalogue import PACK, JobKind, PackType
from kbatch.store import ledger
from kbatch.store.commit import GroupCommit
from kbatch.store.ledger import AccountNote, Claim, Remaining, Role, RunnerSpec
from kbatch.store.pgschema import AT_PROVIDER, connect, driver, errors, job_row, migrate, redacted
from kbatch.store.protocol import SharedState, StateStatus
from kbatch.store.records import AttemptRow, JobRow, JobState, MediaRow, Record

_NAMES = {cls: tuple(f.name for f in fields(cls)) for cls in (JobRow, MediaRow, AttemptRow)}
_COLUMNS = {cls: ", ".join(f'"{name}"' for name in names) for cls, names in _NAMES.items()}
_TABLES = {JobRow: "jobs", MediaRow: "media", AttemptRow: "attempts"}
_KEYS = {
    JobRow: ("id",),
    MediaRow: ("job_id", "index", "variant"),
    AttemptRow: ("job_id", "attempt"),
}
#: A held job is let go when it comes to rest (succeeded too, unless this runner downloads).
_REST = (JobState.PENDING, JobState.FAILED, JobState.DOWNLOADED)

Item = tuple[Record | AccountNote, ...]


def _upsert(cls: type[Any], *, guarded: bool) -> str:
    names = ("manifest", *_NAMES[cls]) + (("pack", "owner") if cls is JobRow else ())
    columns = ", ".join(f'"{name}"' for name in names)
    marks = ", ".join("%s" for _ in names)
    keys = ", ".join(f'"{key}"' for key in ("manifest", *_KEYS[cls]))
    updates = ", ".join(
        f'"{name}" = excluded."{name}"' for name in names if name not in ("manifest", *_KEYS[cls])
    )
    sql = (
        f"INSERT INTO {_TABLES[cls]} ({columns}) VALUES ({marks}) "
        f"ON CONFLICT ({keys}) DO UPDATE SET {updates}"
    )
    if cls is JobRow:
        sql += (
            ", lease_until = CASE WHEN excluded.owner IS NULL THEN NULL ELSE jobs.lease_until END"
        )
        if guarded:  # not held by this runner: never over a live lease of another
            sql += " WHERE jobs.owner IS NULL OR jobs.lease_until < now()"
    return sql


_UPSERT = {cls: _upsert(cls, guarded=False) for cls in _TABLES}
_GUARDED_JOB = _upsert(JobRow, guarded=True)


def manifest_fingerprint(fingerprints: Iterable[tuple[str, str]]) -> str:
    """One value for a manifest's jobs and inputs: every host must run the same."""
    digest = hashlib.sha256()
    for job_id, fingerprint in sorted(fingerprints):
        digest.update(f"{job_id}\0{fingerprint}\n".encode())
    return digest.hexdigest()[:16]


class PostgresStore:
    """An open shared state for one manifest. Implements
    :class:`~kbatch.store.protocol.StateStore` and :class:`~kbatch.store.ledger.SharedState`."""

    def __init__(self, url: str, db: Any, manifest: str) -> None:
        self.url = url
        self.path = redacted(url)  # what messages name
        self.manifest = manifest
        self._db = db
        self._lock = threading.Lock()
        self._pool: Any = None
        self._commits: GroupCommit[Item] = GroupCommit(self._apply, failures=StateError)
        self._commits.awaitable = True
        self._commits.on_failure = self._failed
        self.salt = ""
        self.account = ""
        self.failure: StateError | None = None
        self.on_failure: Callable[[StateError], None] | None = None
        #: Told of a held job whose lease another runner took over (its life must stop).
        self.on_lost: Callable[[str], None] = lambda job_id: None
        self.runner = RunnerSpec()
        self.runner_id = ""
        self.others: tuple[ledger.RunnerView, ...] = ()  # live runners of this manifest at open
        self.held: dict[str, int] = {}  # job id -> epoch, for the jobs this runner holds
        self._lease_deadline = 0.0  # time.monotonic() when this runner's leases run out
        self.records = 0

    @property
    def shared(self) -> SharedState:
        return self

    @property
    def commits(self) -> int:
        return self._commits.groups

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
        """Open for reading (``kbatch status``, reports): no runner, no migration."""
        store = cls(url, connect(url), manifest_name)
        with store._lock, errors(url):
            found = store._db.execute("SELECT to_regclass('manifests') IS NOT NULL").fetchone()
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
            db = self._db
            db.execute(
                "INSERT INTO manifests (name, salt, account, fingerprint) VALUES (%s, %s, %s, '') "
                "ON CONFLICT (name) DO NOTHING",
                (self.manifest, secrets.token_hex(8), account),
            )
            salt, known, fp = db.execute(
                "SELECT salt, account, fingerprint FROM manifests WHERE name = %s FOR UPDATE",
                (self.manifest,),
            ).fetchone()
            self.salt, self.account = salt, account
            if runner is None:
                return
            ledger.reap(db, socket.gethostname())  # runners of this host that are gone
            others = ledger.live_runners(db, self.manifest)
            if others and fp and fp != fingerprint:
                who = "; ".join(str(other) for other in others)
                raise StateError(
                    f"manifest {self.manifest!r} is running elsewhere with other jobs or inputs "
                    f"({who}): every host must run the same manifest and input files; wait for "
                    "those runs to finish, or make the files the same"
                )
            if others and known != account:
                raise StateError(
                    f"manifest {self.manifest!r} runs on account {known!r} elsewhere, not "
                    f"{account!r}: give every host the same provider.account"
                )
            db.execute(
                "UPDATE manifests SET fingerprint = %s, account = %s WHERE name = %s",
                (fingerprint, account, self.manifest),
            )
            self.runner = runner
            self.runner_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
            db.execute(
                "INSERT INTO runners (id, manifest, host, pid, role, lease) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    self.runner_id,
                    self.manifest,
                    socket.gethostname(),
                    os.getpid(),
                    runner.role.value,
                    runner.lease,
                ),
            )
            self.others = tuple(others)
            self._lease_deadline = time.monotonic() + runner.lease

    def close(self) -> None:
        """Close the synchronous connection; a runner that did not :meth:`leave` lets its
        jobs' leases run out (another runner, or the next run, takes them over)."""
        with self._lock:
            if self.runner_id and self._pool is None:  # registered, never ran: unregister
                with contextlib.suppress(StateError), errors(self.url):
                    self._forget_runner(self._db)
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading (StateStore) ------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, errors(self.url):
            return list(self._db.execute(sql, params).fetchall())

    def load(self) -> dict[str, JobRow]:
        rows = self._query(
            f"SELECT {_COLUMNS[JobRow]} FROM jobs WHERE manifest = %s ORDER BY seq",
            (self.manifest,),
        )
        return {values[0]: job_row(values) for values in rows}

    def media(self, job_id: str) -> list[MediaRow]:
        rows = self._query(
            f"SELECT {_COLUMNS[MediaRow]} FROM media WHERE manifest = %s AND job_id = %s "
            'ORDER BY "index", variant',
            (self.manifest, job_id),
        )
        return [MediaRow(*values) for values in rows]

    def all_media(self) -> dict[str, list[MediaRow]]:
        out: dict[str, list[MediaRow]] = {}
        for values in self._query(
            f"SELECT {_COLUMNS[MediaRow]} FROM media WHERE manifest = %s "
            'ORDER BY job_id, "index", variant',
            (self.manifest,),
        ):
            out.setdefault(values[0], []).append(MediaRow(*values))
        return out

    def attempts(self, job_id: str) -> list[AttemptRow]:
        rows = self._query(
            f"SELECT {_COLUMNS[AttemptRow]} FROM attempts WHERE manifest = %s AND job_id = %s "
            "ORDER BY attempt",
            (self.manifest, job_id),
        )
        return [AttemptRow(*values) for values in rows]

    def units(self) -> dict[PackType, float]:
        rows = self._query(
            "SELECT kind, COALESCE(SUM(units), 0) FROM jobs WHERE manifest = %s GROUP BY kind",
            (self.manifest,),
        )
        return pricing.by_pack((JobKind(kind), float(units)) for kind, units in rows)

    def revision(self) -> str:
        ((count, latest),) = self._query(
            "SELECT COUNT(*), MAX(updated_at) FROM jobs WHERE manifest = %s", (self.manifest,)
        )
        return f"{count}:{latest!r}"

    def note(self, key: str, value: str) -> None:
        self._query(
            "INSERT INTO notes (manifest, key, value) VALUES (%s, %s, %s) ON CONFLICT "
            "(manifest, key) DO UPDATE SET value = excluded.value RETURNING 1",
            (self.manifest, key, value),
        )

    def noted(self, key: str) -> str | None:
        rows = self._query(
            "SELECT value FROM notes WHERE manifest = %s AND key = %s", (self.manifest, key)
        )
        return str(rows[0][0]) if rows else None

    def status(self) -> StateStatus:
        counts = Counter[JobState]()
        removed = slots = 0
        for state, gone, count, held in self._query(
            "SELECT state, removed, COUNT(*), COALESCE(SUM(slots), 0) FROM jobs "
            "WHERE manifest = %s GROUP BY state, removed",
            (self.manifest,),
        ):
            if gone:
                removed += count
            else:
                counts[JobState(state)] += count
            slots += held if state in AT_PROVIDER else 0
        last = self._query(
            "SELECT id, error_message FROM jobs WHERE manifest = %s AND error_message IS NOT NULL "
            "ORDER BY updated_at DESC LIMIT 1",
            (self.manifest,),
        )
        with self._lock, errors(self.url):
            accounts = ledger.account_slots(self._db, self.account)
            runners = ledger.account_runners(self._db, self.account)
        return StateStatus(
            counts={state: counts.get(state, 0) for state in JobState},
            units=self.units(),
            in_flight_slots=int(slots),
            last_error=(last[0][0], last[0][1]) if last else None,
            holder=None,
            removed=removed,
            account=self.account,
            slots=accounts,
            runners=runners,
        )

    # -- writing (StateStore) ------------------------------------------------------------------

    def write_now(self, records: Iterable[Record], *, delete_media: Iterable[str] = ()) -> None:
        """Start-up writes (new, edited, retried, removed jobs): never over a held job."""
        with self._lock, errors(self.url), self._db.transaction():
            cursor = self._db.cursor()
            gone = [(self.manifest, job_id) for job_id in delete_media]
            if gone:
                cursor.executemany("DELETE FROM media WHERE manifest = %s AND job_id = %s", gone)
            by_table: dict[type[Any], list[tuple[Any, ...]]] = {}
            for record in records:
                by_table.setdefault(type(record), []).append(self._values(record, None))
            for cls, rows in by_table.items():
                sql = _GUARDED_JOB if cls is JobRow else _UPSERT[cls]
                cursor.executemany(sql, rows)

    async def write(self, *records: Record) -> None:
        await self._commits.wait(records)

    def post(self, *records: Record) -> None:
        self._commits.post(records)

    async def drain(self) -> None:
        await self._commits.drain()

    def _failed(self, exc: Exception) -> None:
        assert isinstance(exc, StateError)
        self.failure = self.failure or exc
        if self.on_failure is not None:
            self.on_failure(exc)

    def _values(self, record: Record, owner: str | None) -> tuple[Any, ...]:
        values = (self.manifest, *(getattr(record, name) for name in _NAMES[type(record)]))
        if isinstance(record, JobRow):
            values += (PACK[record.kind].value, owner)
        return values

    def _keeps(self, row: JobRow) -> bool:
        """Whether this runner goes on holding a job in this state."""
        if row.state in _REST:
            return False
        return row.state is not JobState.SUCCEEDED or self.runner.downloads

    async def _apply(self, batch: Sequence[Item]) -> None:
        """One transaction: held jobs' records fenced by owner and epoch (a job whose lease was
        taken over is dropped, never written), the rest guarded against live leases."""
        with errors(self.url):
            await self._apply_fenced(batch)

    async def _apply_fenced(self, batch: Sequence[Item]) -> None:
        records = [record for item in batch for record in item]
        ids = {
            r.job_id if not isinstance(r, JobRow) else r.id
            for r in records
            if not isinstance(r, AccountNote)
        }
        held = {job_id: self.held[job_id] for job_id in ids if job_id in self.held}
        lost: set[str] = set()
        async with self._connection() as conn, conn.transaction():
            cursor = conn.cursor()
            if held:
                await cursor.execute(
                    "SELECT id, owner, epoch FROM jobs WHERE manifest = %s AND id = ANY(%s) "
                    "ORDER BY id FOR UPDATE",
                    (self.manifest, list(held)),
                )
                found = {job_id: (owner, epoch) for job_id, owner, epoch in await cursor.fetchall()}
                lost = {
                    job_id
                    for job_id, epoch in held.items()
                    if found.get(job_id) != (self.runner_id, epoch)
                }
            by_sql: dict[str, list[tuple[Any, ...]]] = {}
            let_go: dict[str, bool] = {}
            for record in records:
                if isinstance(record, AccountNote):
                    continue
                job_id = record.id if isinstance(record, JobRow) else record.job_id
                if job_id in lost:
                    continue
                if isinstance(record, JobRow):
                    keep = job_id in held and self._keeps(record)
                    if job_id in held:
                        let_go[job_id] = not keep
                    sql = _UPSERT[JobRow] if job_id in held else _GUARDED_JOB
                    by_sql.setdefault(sql, []).append(
                        self._values(record, self.runner_id if keep else None)
                    )
                else:
                    by_sql.setdefault(_UPSERT[type(record)], []).append(self._values(record, None))
            for sql, rows in by_sql.items():
                await cursor.executemany(sql, rows)
                self.records += len(rows)
            for record in records:
                if isinstance(record, AccountNote):
                    await ledger.note_account(cursor, self.account, record)
            for job_id, gone in let_go.items():  # before the commit: a renewal must not
                if gone:  # take a job let go for one taken over
                    self.held.pop(job_id, None)
        for job_id in lost:
            self.held.pop(job_id, None)
            self.on_lost(job_id)

    # -- the run (SharedState) -----------------------------------------------------------------

    def _connection(self) -> Any:
        if self._pool is None:
            raise StateError("the shared state is not open for a run (join first)")
        return self._pool.connection()

    async def join(self, *, slot_limit: int) -> None:
        """Open the run's connection pool and the account's ledger rows."""
        from psycopg_pool import AsyncConnectionPool

        driver()
        # A runner paused (SIGSTOP) inside a claim must not hold the account's lock for long.
        idle = int(min(self.runner.lease / 4, 10.0) * 1000)

        async def configure(conn: Any) -> None:
            await conn.execute(f"SET idle_in_transaction_session_timeout = {idle}")

        pool = AsyncConnectionPool(
            self.url,
            min_size=2,
            max_size=4,
            open=False,
            timeout=10,
            kwargs={"autocommit": True, "connect_timeout": 10},
            configure=configure,
            check=AsyncConnectionPool.check_connection,
        )
        with errors(self.url):
            try:
                await pool.open(wait=True, timeout=15)
            except Exception as exc:  # PoolTimeout names no cause worth more than this
                await pool.close()
                raise StateError(f"cannot open the state database {self.path}: {exc}") from None
        self._pool = pool
        with errors(self.url):
            async with self._connection() as conn, conn.transaction():
                await ledger.open_account(conn, self.account, slot_limit)

    async def leave(self) -> None:
        """Let every held job go (others take them over at once) and unregister the runner.
        Without the database (it was lost), the leases lapse by themselves instead."""
        await self.drain()
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            with contextlib.suppress(StateError), errors(self.url):
                async with pool.connection(timeout=5) as conn, conn.transaction():
                    await conn.execute(
                        "UPDATE jobs SET owner = NULL, lease_until = NULL WHERE owner = %s",
                        (self.runner_id,),
                    )
                    await conn.execute("DELETE FROM runners WHERE id = %s", (self.runner_id,))
            self.held.clear()
            self.runner_id = ""
        finally:
            await pool.close()

    def _forget_runner(self, db: Any) -> None:
        db.execute("DELETE FROM runners WHERE id = %s", (self.runner_id,))
        self.runner_id = ""

    def lease_left(self) -> float:
        """Seconds until this runner's leases may have run out (by the last renewal)."""
        return self._lease_deadline - time.monotonic()

    def holds(self, job_id: str) -> bool:
        return job_id in self.held and self.lease_left() > 0

    async def renew(self) -> None:
        """The heartbeat and every held job's lease, in one transaction. A held job it does not
        find is another runner's now (this runner's lease ran out): :attr:`on_lost`."""
        started = time.monotonic()
        before = dict(self.held)  # jobs claimed meanwhile are not in it
        with errors(self.url):
            async with self._connection() as conn, conn.transaction():
                renewed = await ledger.renew(conn, self.runner_id, self.runner, self.manifest)
        self._lease_deadline = started + self.runner.lease
        for job_id, epoch in before.items():
            if job_id not in renewed and self.held.get(job_id) == epoch:
                self.held.pop(job_id)
                self.on_lost(job_id)

    async def hold(self, job_id: str) -> bool:
        epoch = self.held.get(job_id)
        if epoch is None:
            return False
        with errors(self.url):
            async with self._connection() as conn:
                cursor = await conn.execute(
                    "UPDATE jobs SET lease_until = now() + %s * interval '1 second' "
                    "WHERE manifest = %s AND id = %s AND owner = %s AND epoch = %s",
                    (self.runner.lease, self.manifest, job_id, self.runner_id, epoch),
                )
        if cursor.rowcount == 1:
            return True
        self.held.pop(job_id, None)
        return False

    async def claim(
        self,
        job_id: str,
        make: Callable[[JobRow], tuple[JobRow, AttemptRow] | None],
        *,
        budget: float | None,
        rate_step: float,
    ) -> Claim:
        """Start an attempt of a pending job for this runner, if the account and the budget
        allow: ``make`` turns the job's current row into its ``submitting`` row and attempt."""
        await self.drain()  # this runner's own earlier writes of the job first
        with errors(self.url):
            async with self._connection() as conn, conn.transaction():
                claim = await ledger.claim(
                    conn,
                    self,
                    job_id,
                    make,
                    budget=budget,
                    rate_step=rate_step,
                )
        if claim.row is not None:
            self.held[job_id] = claim.epoch
        return claim

    async def adopt(self, states: Sequence[JobState], *, limit: int) -> list[tuple[JobRow, str]]:
        """Take over jobs in ``states`` that no live lease holds: (row, who held it)."""
        with errors(self.url):
            async with self._connection() as conn, conn.transaction():
                taken = await ledger.adopt(conn, self, states, limit=limit)
        for row, epoch, _ in taken:
            self.held[row.id] = epoch
        return [(row, before) for row, _, before in taken]

    async def remaining(self) -> Remaining:
        with errors(self.url):
            async with self._connection() as conn:
                return await ledger.remaining(conn, self)

    def crowded(self, pack: PackType) -> None:
        """A 1303: lower the account's target for every runner."""
        self._commits.post((AccountNote(pack, crowded=True),))

    def cleaned(self, pack: PackType) -> None:
        """A task ended cleanly: the account's target may creep back up."""
        self._commits.post((AccountNote(pack, crowded=False),))


__all__ = ["PostgresStore", "Role", "RunnerSpec", "manifest_fingerprint"]
