"""What both state stores share: the reads of :class:`~kbatch.store.protocol.StateStore`, the
small remembered values, and the one owner of group commit for writes and posts.

The reads differ between SQLite and PostgreSQL only in their placeholders and PostgreSQL's
manifest scope, which the backend's :class:`~kbatch.store.mapping.Dialect` spells; so they are
written once, here. A backend supplies only how it runs a statement (:meth:`SqlStore._query`)
and how it applies a batch of records in one transaction (:meth:`SqlStore._apply`: SQLite in a
worker thread, PostgreSQL awaited on its runner's pool, fenced by leases), and what its
:meth:`SqlStore.status` adds (the run lock's holder; the account's slots and runners)::

    class SqliteStore(SqlStore[Never]):
        dialect = SQLITE
        def _query(self, sql, params=()): ...     # under the connection's lock
        def _apply(self, batch): ...              # one transaction, durable on return

Group commit keeps order: a :meth:`~SqlStore.write` that returned means every earlier
:meth:`~SqlStore.post` is durable too, and a commit that failed fails its waiters and tells
:attr:`~SqlStore.on_failure` (nobody waits for a post).
"""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, ClassVar, Generic, Self, TypeVar

from kbatch import pricing
from kbatch.errors import StateError
from kbatch.provider.catalogue import JobKind, PackType
from kbatch.store.commit import GroupCommit
from kbatch.store.mapping import AT_PROVIDER, MEDIA_ORDER, Dialect, columns, job, quoted, record
from kbatch.store.protocol import StateStatus
from kbatch.store.records import AttemptRow, JobRow, JobState, MediaRow, Record, cash_key
from kbatch.store.seats import RunnerView

#: What else a backend's commits carry, in order with the records (PostgreSQL: the account's
#: target changes); SQLite's carry records only.
Note = TypeVar("Note")


class SqlStore(abc.ABC, Generic[Note]):
    """An open state of one manifest in a SQL database; ``scope`` is the values of the
    dialect's scope columns (PostgreSQL: the manifest's name)."""

    dialect: ClassVar[Dialect]

    def __init__(self, path: Any, scope: tuple[str, ...]) -> None:
        #: What a human reads for the state: the file, or the database without its password.
        self.path = path
        self._scope = scope
        self._commits: GroupCommit[tuple[Record | Note, ...]] = GroupCommit(
            self._apply, failures=StateError
        )
        self._commits.on_failure = self._failed
        self.salt = ""
        #: Other live runners of the manifest at open: a shared state's, set on registering.
        self.others: tuple[RunnerView, ...] = ()
        #: Records written: records / commits is what group commit saves.
        self.records = 0
        #: The first commit that failed, and who to tell of each.
        self.failure: StateError | None = None
        self.on_failure: Callable[[StateError], None] | None = None

    @property
    def commits(self) -> int:
        return self._commits.groups

    # -- what a backend supplies ---------------------------------------------------------------

    @abc.abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on its own (autocommit): its rows, none for a write.
        StateError if the database refuses."""

    @abc.abstractmethod
    def _apply(self, batch: Sequence[tuple[Record | Note, ...]]) -> Awaitable[None] | None:
        """Apply a group in one transaction, durable on return (or awaited); StateError if not:
        then nothing of it is applied."""

    @abc.abstractmethod
    def write_now(self, records: Iterable[Record], *, delete_media: Iterable[str] = ()) -> None:
        """Start-up writes, in one transaction from synchronous code (PostgreSQL: never over a
        job another runner holds)."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------

    def load(self) -> dict[str, JobRow]:
        rows = self._query(
            f"SELECT {columns(JobRow)} FROM jobs{self.dialect.where()} "
            f"ORDER BY {self.dialect.order}",
            self._scope,
        )
        return {values[0]: job(values) for values in rows}

    def media(self, job_id: str) -> list[MediaRow]:
        rows = self._query(
            f"SELECT {columns(MediaRow)} FROM media{self.dialect.where('job_id')} "
            f"ORDER BY {MEDIA_ORDER}",
            (*self._scope, job_id),
        )
        return [record(MediaRow, values) for values in rows]

    def all_media(self) -> dict[str, list[MediaRow]]:
        """Every job's result files, by job id, in one query (for reports)."""
        out: dict[str, list[MediaRow]] = {}
        for values in self._query(
            f"SELECT {columns(MediaRow)} FROM media{self.dialect.where()} "
            f"ORDER BY job_id, {MEDIA_ORDER}",
            self._scope,
        ):
            out.setdefault(values[0], []).append(record(MediaRow, values))
        return out

    def attempts(self, job_id: str) -> list[AttemptRow]:
        """Every attempt the job ever had, of every version (fingerprint): the versions in the
        order they were first tried (one whose fingerprint was not recorded first), each
        version's attempts by number."""
        rows = self._query(
            f"SELECT {columns(AttemptRow)} FROM attempts{self.dialect.where('job_id')} "
            "ORDER BY attempt",
            (*self._scope, job_id),
        )
        attempts = [record(AttemptRow, values) for values in rows]
        first: dict[str, float] = {}
        for item in attempts:
            first[item.fingerprint] = min(
                first.get(item.fingerprint, item.started_at), item.started_at
            )
        first[""] = float("-inf")
        return sorted(attempts, key=lambda a: (first[a.fingerprint], a.fingerprint, a.attempt))

    def units(self) -> dict[PackType, float]:
        rows = self._query(
            f"SELECT kind, COALESCE(SUM(units), 0) FROM jobs{self.dialect.where()} GROUP BY kind",
            self._scope,
        )
        return pricing.by_pack((JobKind(kind), float(units)) for kind, units in rows)

    def charges(self) -> tuple[dict[PackType, float], dict[PackType, float], dict[str, float]]:
        """Of the units spent, per pack: those the provider reported it charged and those
        estimated (no charge reported); the cash it charged, per currency. The rest of the units
        spent were paid in cash, counted at their price."""
        rows = self._query(
            "SELECT kind, COALESCE(SUM(charged_units), 0), "
            "COALESCE(SUM(CASE WHEN charged = 'reported' THEN 0 "
            f"ELSE units - COALESCE(charged_units, 0) END), 0) FROM jobs{self.dialect.where()} "
            "GROUP BY kind",
            self._scope,
        )
        charged = pricing.by_pack((JobKind(kind), float(units)) for kind, units, _ in rows)
        guessed = pricing.by_pack((JobKind(kind), float(units)) for kind, _, units in rows)
        estimated = {pack: units for pack, units in guessed.items() if units > 1e-9}
        return charged, estimated, self.cash()

    def cash(self) -> dict[str, float]:
        """Cash charged by every attempt, per currency (:func:`~kbatch.store.records.cash_key`:
        ``test_balance`` apart from ``balance``; "" where none was named), never summed across
        currencies: read from the attempts, since one job may have paid in several."""
        cash: dict[str, float] = {}
        for currency, cash_type, amount in self._query(
            "SELECT charged_currency, charged_cash_type, SUM(charged_amount) FROM attempts"
            f"{self.dialect.where(also='charged_amount IS NOT NULL')} "
            "GROUP BY charged_currency, charged_cash_type",
            self._scope,
        ):
            key = cash_key(currency, cash_type)
            cash[key] = round(cash.get(key, 0.0) + float(amount), 9)
        return dict(sorted(cash.items()))

    def cash_by_job(self) -> dict[str, dict[str, float]]:
        """Cash charged per job, per currency (as :meth:`cash` keeps them apart), read from the
        attempts: a job that paid in several currencies keeps each."""
        found: dict[str, dict[str, float]] = {}
        for job_id, currency, cash_type, amount in self._query(
            "SELECT job_id, charged_currency, charged_cash_type, SUM(charged_amount) FROM attempts"
            f"{self.dialect.where(also='charged_amount IS NOT NULL')} "
            "GROUP BY job_id, charged_currency, charged_cash_type",
            self._scope,
        ):
            cash = found.setdefault(str(job_id), {})
            key = cash_key(currency, cash_type)
            cash[key] = round(cash.get(key, 0.0) + float(amount), 9)
        return found

    def revision(self) -> str:
        """Every write sets ``updated_at``: the count and the latest change tell a revision."""
        ((count, latest),) = self._query(
            f"SELECT COUNT(*), MAX(updated_at) FROM jobs{self.dialect.where()}", self._scope
        )
        return f"{count}:{latest!r}"

    def remember(self, key: str, value: str) -> None:
        """Keep a small value in the state (what the last reports were written from)."""
        dialect = self.dialect
        names = (*dialect.scope, "key", "value")
        self._query(
            f"INSERT INTO {dialect.memory} ({quoted(names)}) VALUES ({dialect.marks(len(names))}) "
            f"ON CONFLICT ({quoted((*dialect.scope, 'key'))}) DO UPDATE SET value = excluded.value",
            (*self._scope, dialect.memory_prefix + key, value),
        )

    def recall(self, key: str) -> str | None:
        """The value last remembered under ``key``, if any."""
        dialect = self.dialect
        rows = self._query(
            f"SELECT value FROM {dialect.memory}{dialect.where('key')}",
            (*self._scope, dialect.memory_prefix + key),
        )
        return str(rows[0][0]) if rows else None

    def claim_upload(self, store: str, name: str, size: int, *, now: float, stale: float) -> str:
        """Claim the upload of one object: "done" (uploaded before), "mine" (this runner
        uploads it; a claim older than ``stale`` seconds is taken over) or "busy" (another
        runner is uploading it). One statement each: two runners never both get "mine"."""
        mark = self.dialect.mark
        key = f"store = {mark} AND name = {mark}"
        taken = self._query(
            f"INSERT INTO uploads (store, name, size, state, claimed_at) "
            f"VALUES ({self.dialect.marks(5)}) ON CONFLICT (store, name) DO NOTHING RETURNING name",
            (store, name, size, "claimed", now),
        )
        if taken:
            return "mine"
        rows = self._query(f"SELECT state FROM uploads WHERE {key}", (store, name))
        if rows and rows[0][0] == "done":
            return "done"
        renewed = self._query(
            f"UPDATE uploads SET claimed_at = {mark} WHERE {key} AND state = 'claimed' "
            f"AND claimed_at < {mark} RETURNING name",
            (now, store, name, now - stale),
        )
        return "mine" if renewed else "busy"

    def uploaded(self, store: str, name: str, *, now: float) -> None:
        """The object is in the store: recorded for every later run (and runner)."""
        mark = self.dialect.mark
        self._query(
            f"UPDATE uploads SET state = 'done', done_at = {mark} "
            f"WHERE store = {mark} AND name = {mark}",
            (now, store, name),
        )

    def unclaim_upload(self, store: str, name: str) -> None:
        """Give a claim back (the upload failed): another runner, or run, may try."""
        mark = self.dialect.mark
        self._query(
            f"DELETE FROM uploads WHERE store = {mark} AND name = {mark} AND state = 'claimed'",
            (store, name),
        )

    def uploads(self) -> list[tuple[str, str, int]]:
        """Every object uploaded: (store, name, size)."""
        rows = self._query("SELECT store, name, size FROM uploads WHERE state = 'done'")
        return [(str(a), str(b), int(c)) for a, b, c in rows]

    def status(self) -> StateStatus:
        """The jobs' counts by state (removed ones apart), units, slots held at the provider and
        the latest error; a backend adds what else it knows."""
        counts = Counter[JobState]()
        removed = slots = 0
        for state, gone, count, held in self._query(
            "SELECT state, removed, COUNT(*), COALESCE(SUM(slots), 0) FROM jobs"
            f"{self.dialect.where()} GROUP BY state, removed",
            self._scope,
        ):
            if gone:
                removed += count
            else:
                counts[JobState(state)] += count
            slots += held if state in AT_PROVIDER else 0
        last = self._query(
            f"SELECT id, error_message FROM jobs"
            f"{self.dialect.where(also='error_message IS NOT NULL')} "
            "ORDER BY updated_at DESC LIMIT 1",
            self._scope,
        )
        charged, estimated, cash = self.charges()
        return StateStatus(
            counts={state: counts.get(state, 0) for state in JobState},
            units=self.units(),
            charged_units=charged,
            estimated_units=estimated,
            charged_cash=cash,
            in_flight_slots=int(slots),
            last_error=(last[0][0], last[0][1]) if last else None,
            holder=None,
            removed=int(removed),
        )

    # -- writing -------------------------------------------------------------------------------

    async def write(self, *records: Record) -> None:
        """Durable on return; StateError if it cannot be written (disk full, database lost):
        nothing of its group is then written."""
        await self._commits.wait(records)

    def post(self, *records: Record) -> None:
        """Queued for the next group commit; one that fails sets :attr:`failure` and calls
        :attr:`on_failure`."""
        self._commits.post(records)

    async def drain(self) -> None:
        await self._commits.drain()

    def _failed(self, exc: Exception) -> None:
        assert isinstance(exc, StateError)
        self.failure = self.failure or exc
        if self.on_failure is not None:
            self.on_failure(exc)


__all__ = ["Note", "SqlStore"]
