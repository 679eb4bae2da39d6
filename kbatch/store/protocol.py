"""The seam between the engine (and the reports) and whatever keeps the state.

The engine and the reports use a :class:`StateStore` and nothing else of a backend: SQLite
(:mod:`kbatch.store.sqlite`) is the embedded default; another backend implements the same
protocol. Two promises matter to exactly-once (ARCHITECTURE.md):

- :meth:`StateStore.write` returns only once its records are durable: the engine awaits it for
  ``submitting`` (the external task id) before it sends a create.
- :meth:`StateStore.post` queues records for the next group commit, in order with the writes: a
  write that returned means every earlier post is durable too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

from kbatch.errors import StateError
from kbatch.pricing import Units
from kbatch.provider.catalogue import PackType
from kbatch.store.lock import Holder
from kbatch.store.records import AttemptRow, JobRow, JobState, MediaRow, Record
from kbatch.store.seats import AccountSlots, Claim, Remaining, RunnerSpec, RunnerView


@dataclass(frozen=True, slots=True)
class StateStatus:
    """What ``kbatch status`` shows of a state."""

    counts: Mapping[JobState, int]
    units: Units  # spent, per pack, as the budget counts it
    in_flight_slots: int
    last_error: tuple[str, str] | None  # (job id, message)
    holder: Holder | None
    removed: int = 0  # jobs the manifest no longer has, not in ``counts``
    #: A shared state's account, its slots per pack, and the runners on it.
    account: str | None = None
    slots: tuple[AccountSlots, ...] = ()
    runners: tuple[RunnerView, ...] = ()
    #: Of ``units``, per pack: what the provider reported it charged, and what kbatch estimated
    #: for attempts whose charge it never reported; cash charged, per currency ("" unnamed).
    charged_units: Units = field(default_factory=dict)
    estimated_units: Units = field(default_factory=dict)
    charged_cash: Mapping[str, float] = field(default_factory=dict)


class SharedState(Protocol):
    """A state several runners share (:mod:`kbatch.store.postgres`): jobs start by claims,
    writes are fenced by leases, and the account's slots and rate are counted across runners."""

    @property
    def spec(self) -> RunnerSpec:
        """The runner's role, lease and whether it downloads."""
        ...

    #: Told of a held job another runner took over (its lease ran out): its life must stop.
    on_lost: Callable[[str], None]

    async def join(self, *, slot_limit: int) -> None: ...

    async def leave(self) -> None: ...

    def lease_left(self) -> float: ...

    async def renew(self) -> None: ...

    def holds(self, job_id: str) -> bool:
        """This runner holds the job, and its lease has not run out since the last renewal."""
        ...

    async def hold(self, job_id: str) -> bool:
        """Renew one held job's lease, fenced: False if another runner has it now."""
        ...

    async def claim(
        self,
        job_id: str,
        make: Callable[[JobRow], tuple[JobRow, AttemptRow] | None],
        *,
        pack: PackType,
        budget: float | None,
        rate_step: float,
    ) -> Claim:
        """Start an attempt of a pending job, if the account's slots and rate and the budget
        allow: ``make`` turns the job's current row into its submitting row and attempt."""
        ...

    async def adopt(
        self, states: Sequence[JobState], *, limit: int
    ) -> list[tuple[JobRow, str]]: ...

    async def remaining(self) -> Remaining: ...

    def crowded(self, pack: PackType) -> None: ...

    def cleaned(self, pack: PackType) -> None: ...


class StateStore(Protocol):
    """An open state: the records of one manifest's jobs."""

    #: Mixed into every external task id, so that another state never reuses one.
    salt: str
    #: Told of a queued commit that failed (no caller waits for a post).
    on_failure: Callable[[StateError], None] | None
    #: What a human reads for the state: the file, or the database without its password.
    path: Any
    #: Other live runners of this manifest when it was opened (none for a private state).
    others: tuple[RunnerView, ...]

    @property
    def shared(self) -> SharedState | None:
        """The claims and leases of a state several runners share; None for a private one."""
        ...

    def load(self) -> dict[str, JobRow]:
        """Every job row, by id, in the order they were first written."""
        ...

    def media(self, job_id: str) -> list[MediaRow]: ...

    def all_media(self) -> dict[str, list[MediaRow]]: ...

    def attempts(self, job_id: str) -> list[AttemptRow]: ...

    def cash_by_job(self) -> dict[str, dict[str, float]]:
        """Cash charged per job and currency, from every attempt."""
        ...

    def units(self) -> dict[PackType, float]:
        """Units spent by every job, every attempt, per pack (never one sum of both)."""
        ...

    def revision(self) -> str:
        """A value that changes whenever a job row does."""
        ...

    def remember(self, key: str, value: str) -> None:
        """Keep a small value in the state under ``key`` (what the last reports were written
        from), for a later run to :meth:`recall`."""
        ...

    def recall(self, key: str) -> str | None:
        """The value last remembered under ``key``; None if there is none."""
        ...

    def status(self) -> StateStatus: ...

    def claim_upload(self, store: str, name: str, size: int, *, now: float, stale: float) -> str:
        """Claim one object's upload: "done", "mine" or "busy" (another runner uploads it)."""
        ...

    def uploaded(self, store: str, name: str, *, now: float) -> None:
        """The object is in the store (recorded for every later run)."""
        ...

    def unclaim_upload(self, store: str, name: str) -> None:
        """Give a failed upload's claim back."""
        ...

    def uploads(self) -> list[tuple[str, str, int]]:
        """Every object uploaded: (store, name, size)."""
        ...

    def write_now(self, records: Iterable[Record], *, delete_media: Iterable[str] = ()) -> None:
        """Write records in one transaction, from synchronous code (start-up)."""
        ...

    async def write(self, *records: Record) -> None:
        """Write records in one transaction, durable on return."""
        ...

    def post(self, *records: Record) -> None:
        """Queue records for the next group commit and return at once."""
        ...

    async def drain(self) -> None:
        """Wait until every write and post so far is durable (or has failed)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


__all__ = ["SharedState", "StateStatus", "StateStore"]
