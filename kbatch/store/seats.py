"""What a shared state's runners, claims and account slots are: the types the engine, the
protocol and both backends share. No SQL and no driver here: loading the SQLite path never loads
PostgreSQL's modules (the ledger's SQL is in :mod:`kbatch.store.ledger`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from kbatch.provider.catalogue import PackType
from kbatch.store.records import JobRow, JobState

#: Seconds a runner holds its jobs without a heartbeat: it must outlast a create (70 s with the
#: default timeouts) from three quarters of a lease, as leases are renewed every quarter.
LEASE = 120.0


class Role(enum.StrEnum):
    """What a runner does: everything, only submit (and follow), or only download."""

    ALL = "all"
    SUBMIT = "submit"
    DOWNLOAD = "download"

    def states(self, download: bool) -> tuple[JobState, ...]:
        """The states of the jobs a runner of this role takes over from a lapsed lease."""
        at_provider = (JobState.SUBMITTING, JobState.SUBMITTED, JobState.RUNNING)
        succeeded = (JobState.SUCCEEDED,) if download else ()
        if self is Role.SUBMIT:
            return at_provider
        if self is Role.DOWNLOAD:
            return succeeded
        return at_provider + succeeded


@dataclass(frozen=True, slots=True)
class RunnerSpec:
    """What a runner tells the shared state about itself."""

    role: Role = Role.ALL
    lease: float = LEASE  # seconds, by the database's clock
    download: bool = True  # the manifest's output.download

    @property
    def downloads(self) -> bool:
        return self.download and self.role is not Role.SUBMIT


@dataclass(frozen=True, slots=True)
class Seat:
    """A runner's place in a shared state: whose jobs, on which account, who it is."""

    manifest: str
    account: str
    runner_id: str
    spec: RunnerSpec


class Refusal(enum.StrEnum):
    GONE = "gone"  # another runner has it, it changed, or it is no longer pending
    RATE = "rate"  # the account's create rate: wait ``Claim.wait`` seconds
    SLOTS = "slots"  # the account's slots are full
    BUDGET = "budget"  # the manifest's budget has no room for it


@dataclass(frozen=True, slots=True)
class Claim:
    row: JobRow | None = None  # submitting, held by this runner
    epoch: int = 0
    refusal: Refusal | None = None
    wait: float = 0.0


@dataclass(frozen=True, slots=True)
class TargetChange:
    """A change of the account's target: a 1303 (crowded), or a task that ended cleanly."""

    pack: PackType
    crowded: bool


@dataclass(frozen=True, slots=True)
class Remaining:
    """What is left of a manifest for a runner, once its own lives have ended."""

    pending: tuple[str, ...]  # pending and held by no one
    unsettled: int  # jobs in states this runner's role handles, held by other runners
    live_others: int  # other runners of the manifest with a live heartbeat


@dataclass(frozen=True, slots=True)
class AccountSlots:
    pack: PackType
    in_use: int
    target: int
    limit: int


@dataclass(frozen=True, slots=True)
class RunnerView:
    """A runner as ``kbatch status`` shows it."""

    manifest: str
    host: str
    pid: int
    role: str
    heartbeat_age: float  # seconds since its last heartbeat
    held: int  # jobs it holds
    alive: bool  # its heartbeat is younger than its lease

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}, heartbeat {self.heartbeat_age:.0f}s ago"


__all__ = [
    "LEASE",
    "AccountSlots",
    "Claim",
    "Refusal",
    "Remaining",
    "Role",
    "RunnerSpec",
    "RunnerView",
    "Seat",
    "TargetChange",
]
