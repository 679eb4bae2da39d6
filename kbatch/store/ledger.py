"""The account's ledger in a shared state: what runners, claims and the account's slots are,
and what ``kbatch status`` reads of them (on a synchronous connection).

The slots in use are summed from the job rows of every manifest on the account, never kept in
a counter that could leak: a killed runner's tasks hold slots (as they do at the provider) until
they end. The transactions that change the ledger are in :mod:`kbatch.store.claims`.
"""

from __future__ import annotations

import enum
import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kbatch.errors import StateError
from kbatch.provider.catalogue import PackType
from kbatch.store.pgschema import AT_PROVIDER
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
class AccountNote:
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


SLOTS_IN_USE = (
    "SELECT COALESCE(SUM(j.slots), 0) FROM jobs j JOIN manifests m ON m.name = j.manifest "
    "WHERE m.account = %s AND j.pack = %s AND j.state = ANY(%s)"
)
#: A runner is alive while its last heartbeat is younger than its lease.
ALIVE = "r.heartbeat > now() - r.lease * interval '1 second'"
_RUNNERS = (
    "SELECT r.manifest, r.host, r.pid, r.role, EXTRACT(EPOCH FROM now() - r.heartbeat), "
    f"(SELECT COUNT(*) FROM jobs WHERE owner = r.id), {ALIVE} FROM runners r "
)


def live_runners(db: Any, manifest: str) -> list[RunnerView]:
    """The runners of a manifest whose heartbeat is live (synchronous connection)."""
    rows = db.execute(_RUNNERS + "WHERE r.manifest = %s ORDER BY r.started_at", (manifest,))
    return [view for view in map(_view, rows) if view.alive]


def register(
    db: Any, manifest: str, account: str, fingerprint: str, spec: RunnerSpec | None
) -> tuple[str, Seat | None, list[RunnerView]]:
    """Register a manifest (its salt) and, with ``spec``, a runner of it: (salt, the runner's
    seat, the other live runners). StateError if those run other jobs or inputs, or another
    account; runners of this host whose process is gone are reaped first."""
    db.execute(
        "INSERT INTO manifests (name, salt, account, fingerprint) VALUES (%s, %s, %s, '') "
        "ON CONFLICT (name) DO NOTHING",
        (manifest, secrets.token_hex(8), account),
    )
    salt, known, fp = db.execute(
        "SELECT salt, account, fingerprint FROM manifests WHERE name = %s FOR UPDATE",
        (manifest,),
    ).fetchone()
    if spec is None:
        return salt, None, []
    host = socket.gethostname()
    reap(db, host)
    others = live_runners(db, manifest)
    if others and fp and fp != fingerprint:
        who = "; ".join(str(other) for other in others)
        raise StateError(
            f"manifest {manifest!r} is running elsewhere with other jobs or inputs ({who}): "
            "every host must run the same manifest and input files; wait for those runs to "
            "finish, or make the files the same"
        )
    if others and known != account:
        raise StateError(
            f"manifest {manifest!r} runs on account {known!r} elsewhere, not {account!r}: give "
            "every host the same provider.account"
        )
    db.execute(
        "UPDATE manifests SET fingerprint = %s, account = %s WHERE name = %s",
        (fingerprint, account, manifest),
    )
    seat = Seat(manifest, account, f"{host}:{os.getpid()}:{secrets.token_hex(3)}", spec)
    db.execute(RUNNER_ROW, runner_row(seat))
    return salt, seat, others


#: This process's row as a runner (written at registration, again if it was pruned).
RUNNER_ROW = (
    "INSERT INTO runners (id, manifest, host, pid, role, lease) VALUES (%s, %s, %s, %s, %s, %s)"
)


def runner_row(seat: Seat) -> tuple[Any, ...]:
    spec = seat.spec
    return (
        seat.runner_id,
        seat.manifest,
        socket.gethostname(),
        os.getpid(),
        spec.role.value,
        spec.lease,
    )


def reap(db: Any, host: str) -> int:
    """Let go of the jobs of this host's runners whose process is gone (killed): a dead
    process sends nothing more, so their leases need not run out. Their rows are removed."""
    gone = []
    for runner_id, pid in db.execute(
        "SELECT id, pid FROM runners WHERE host = %s", (host,)
    ).fetchall():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            gone.append(runner_id)
        except PermissionError:  # alive, another user's
            continue
    if gone:
        db.execute("UPDATE jobs SET lease_until = now() WHERE owner = ANY(%s)", (gone,))
        db.execute("DELETE FROM runners WHERE id = ANY(%s)", (gone,))
    return len(gone)


def account_runners(db: Any, account: str) -> tuple[RunnerView, ...]:
    rows = db.execute(
        _RUNNERS + "JOIN manifests m ON m.name = r.manifest WHERE m.account = %s "
        "ORDER BY r.started_at",
        (account,),
    )
    return tuple(map(_view, rows))


def _view(values: Sequence[Any]) -> RunnerView:
    manifest, host, pid, role, age, held, alive = values
    return RunnerView(manifest, host, int(pid), role, float(age), int(held), bool(alive))


def account_slots(db: Any, account: str) -> tuple[AccountSlots, ...]:
    out = []
    for pack, target, limit in db.execute(
        "SELECT pack, target, slot_limit FROM accounts WHERE account = %s ORDER BY pack",
        (account,),
    ).fetchall():
        (in_use,) = db.execute(SLOTS_IN_USE, (account, pack, list(AT_PROVIDER))).fetchone()
        out.append(AccountSlots(PackType(pack), int(in_use), int(target), int(limit)))
    return tuple(out)


__all__ = [
    "ALIVE",
    "LEASE",
    "RUNNER_ROW",
    "SLOTS_IN_USE",
    "AccountNote",
    "AccountSlots",
    "Claim",
    "Refusal",
    "Remaining",
    "Role",
    "RunnerSpec",
    "RunnerView",
    "Seat",
    "account_runners",
    "account_slots",
    "live_runners",
    "reap",
    "register",
    "runner_row",
]
