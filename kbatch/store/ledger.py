"""The account's ledger in a shared state: claims, leases, adoption, and what the runners see.

Each function runs inside a transaction its caller opened (:mod:`kbatch.store.postgres`), on a
psycopg connection. Admission is serialised per account and pack by the account row's lock; the
slots in use are summed from the job rows of every manifest on the account, so a killed runner
can never leak one: its tasks hold slots (as they do at the provider) until they end.
"""

from __future__ import annotations

import enum
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from kbatch.provider.catalogue import PackType
from kbatch.store.pgschema import AT_PROVIDER, job_row
from kbatch.store.records import AttemptRow, JobRow, JobState

if TYPE_CHECKING:
    from kbatch.store.postgres import PostgresStore

_JOB = tuple(f.name for f in fields(JobRow))
_JOB_COLUMNS = ", ".join(f'j."{name}"' for name in _JOB)
_ATTEMPT = tuple(f.name for f in fields(AttemptRow))


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


_SLOTS_IN_USE = (
    "SELECT COALESCE(SUM(j.slots), 0) FROM jobs j JOIN manifests m ON m.name = j.manifest "
    "WHERE m.account = %s AND j.pack = %s AND j.state = ANY(%s)"
)
_RUNNERS = (
    "SELECT r.manifest, r.host, r.pid, r.role, EXTRACT(EPOCH FROM now() - r.heartbeat), "
    "(SELECT COUNT(*) FROM jobs WHERE owner = r.id), "
    "r.heartbeat > now() - r.lease * interval '1 second' FROM runners r "
)


def live_runners(db: Any, manifest: str) -> list[RunnerView]:
    """The runners of a manifest whose heartbeat is live (synchronous connection)."""
    rows = db.execute(_RUNNERS + "WHERE r.manifest = %s ORDER BY r.started_at", (manifest,))
    return [view for view in map(_view, rows) if view.alive]


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
        (in_use,) = db.execute(_SLOTS_IN_USE, (account, pack, list(AT_PROVIDER))).fetchone()
        out.append(AccountSlots(PackType(pack), int(in_use), int(target), int(limit)))
    return tuple(out)


async def open_account(conn: Any, account: str, slot_limit: int) -> None:
    """The account's rows, one per pack; the limit is the latest runner's ``max_in_flight``.
    The target starts over at the limit when nothing holds slots on the account."""
    for pack in PackType:
        await conn.execute(
            "INSERT INTO accounts (account, pack, slot_limit, target) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (account, pack) DO UPDATE SET slot_limit = excluded.slot_limit, "
            "target = CASE WHEN (SELECT COALESCE(SUM(j.slots), 0) FROM jobs j "
            "JOIN manifests m ON m.name = j.manifest WHERE m.account = accounts.account "
            "AND j.pack = accounts.pack AND j.state = ANY(%s)) = 0 "
            "THEN excluded.slot_limit ELSE LEAST(accounts.target, excluded.slot_limit) END",
            (account, pack.value, slot_limit, slot_limit, list(AT_PROVIDER)),
        )


async def note_account(cursor: Any, account: str, note: AccountNote) -> None:
    if note.crowded:  # no more room than the tasks the provider accepted
        await cursor.execute(
            "UPDATE accounts SET clean = 0, target = GREATEST(1, LEAST(target, ("
            + _SLOTS_IN_USE
            + "))) WHERE account = %s AND pack = %s",
            (account, note.pack.value, ["submitted", "running"], account, note.pack.value),
        )
        return
    await cursor.execute(  # one more slot each time as many tasks as the target ended cleanly
        "UPDATE accounts SET "
        "target = CASE WHEN target < slot_limit AND clean + 1 >= target THEN target + 1 "
        "ELSE target END, "
        "clean = CASE WHEN target >= slot_limit OR clean + 1 >= target THEN 0 ELSE clean + 1 END "
        "WHERE account = %s AND pack = %s",
        (account, note.pack.value),
    )


async def renew(conn: Any, runner_id: str, spec: RunnerSpec, manifest: str) -> set[str]:
    """The runner's heartbeat and all its jobs' leases; the ids of the jobs it still holds."""
    cursor = await conn.execute("UPDATE runners SET heartbeat = now() WHERE id = %s", (runner_id,))
    if cursor.rowcount == 0:  # pruned while it could not renew: it is back
        await conn.execute(
            "INSERT INTO runners (id, manifest, host, pid, role, lease) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (runner_id, manifest, socket.gethostname(), os.getpid(), spec.role.value, spec.lease),
        )
    cursor = await conn.execute(
        "UPDATE jobs SET lease_until = now() + %s * interval '1 second' WHERE owner = %s "
        "RETURNING id",
        (spec.lease, runner_id),
    )
    return {job_id for (job_id,) in await cursor.fetchall()}


async def claim(
    conn: Any,
    store: PostgresStore,
    job_id: str,
    make: Callable[[JobRow], tuple[JobRow, AttemptRow] | None],
    *,
    budget: float | None,
    rate_step: float,
) -> Claim:
    """See :meth:`kbatch.store.postgres.PostgresStore.claim`."""
    manifest = store.manifest
    found = await (
        await conn.execute(
            "SELECT pack FROM jobs WHERE manifest = %s AND id = %s", (manifest, job_id)
        )
    ).fetchone()
    if found is None:
        return Claim(refusal=Refusal.GONE)
    pack = found[0]
    account = await (
        await conn.execute(
            "SELECT target, EXTRACT(EPOCH FROM next_submit_at - now()) FROM accounts "
            "WHERE account = %s AND pack = %s FOR UPDATE",
            (store.account, pack),
        )
    ).fetchone()
    job = await (
        await conn.execute(
            f"SELECT {_JOB_COLUMNS}, j.owner FROM jobs j WHERE j.manifest = %s AND j.id = %s "
            "FOR UPDATE SKIP LOCKED",
            (manifest, job_id),
        )
    ).fetchone()
    if account is None or job is None:
        return Claim(refusal=Refusal.GONE)
    current = job_row(job[: len(_JOB)])
    if current.state is not JobState.PENDING or job[-1] is not None or current.removed:
        return Claim(refusal=Refusal.GONE)
    target, rate_wait = int(account[0]), float(account[1])
    if rate_wait > 0:
        return Claim(refusal=Refusal.RATE, wait=rate_wait)
    (in_use,) = await (
        await conn.execute(_SLOTS_IN_USE, (store.account, pack, list(AT_PROVIDER)))
    ).fetchone()
    if in_use and in_use + current.slots > target:
        return Claim(refusal=Refusal.SLOTS)
    if budget is not None:
        spent, reserved = await (
            await conn.execute(
                "SELECT COALESCE(SUM(units), 0), COALESCE(SUM(estimate) FILTER "
                "(WHERE state = ANY(%s)), 0) FROM jobs WHERE manifest = %s AND pack = %s",
                (list(AT_PROVIDER), manifest, pack),
            )
        ).fetchone()
        if spent + reserved + current.estimate > budget + 1e-9:
            return Claim(refusal=Refusal.BUDGET)
    made = make(current)
    if made is None:
        return Claim(refusal=Refusal.GONE)
    row, attempt = made
    names = [name for name in _JOB if name != "id"]
    sets = ", ".join(f'"{name}" = %s' for name in names)
    (epoch,) = await (
        await conn.execute(
            f"UPDATE jobs SET {sets}, owner = %s, epoch = epoch + 1, "
            "lease_until = now() + %s * interval '1 second' "
            "WHERE manifest = %s AND id = %s RETURNING epoch",
            (
                *(getattr(row, name) for name in names),
                store.runner_id,
                store.runner.lease,
                manifest,
                job_id,
            ),
        )
    ).fetchone()
    columns = ", ".join(f'"{name}"' for name in ("manifest", *_ATTEMPT))
    await conn.execute(
        f"INSERT INTO attempts ({columns}) VALUES ({', '.join(['%s'] * (len(_ATTEMPT) + 1))}) "
        "ON CONFLICT (manifest, job_id, attempt) DO NOTHING",
        (manifest, *(getattr(attempt, name) for name in _ATTEMPT)),
    )
    await conn.execute(
        "UPDATE accounts SET next_submit_at = GREATEST(next_submit_at, now()) "
        "+ %s * interval '1 second' WHERE account = %s AND pack = %s",
        (rate_step, store.account, pack),
    )
    return Claim(row=row, epoch=int(epoch))


async def adopt(
    conn: Any, store: PostgresStore, states: Sequence[JobState], *, limit: int
) -> list[tuple[JobRow, int, str]]:
    """Jobs in ``states`` under no live lease, taken over: (row, epoch, who held it)."""
    cursor = await conn.execute(
        "WITH lapsed AS (SELECT manifest, id, owner FROM jobs WHERE manifest = %s "
        "AND NOT removed AND state = ANY(%s) AND owner IS DISTINCT FROM %s "
        "AND (owner IS NULL OR lease_until < now()) ORDER BY seq LIMIT %s "
        "FOR UPDATE SKIP LOCKED) "
        "UPDATE jobs j SET owner = %s, epoch = j.epoch + 1, "
        "lease_until = now() + %s * interval '1 second' FROM lapsed "
        f"WHERE j.manifest = lapsed.manifest AND j.id = lapsed.id RETURNING {_JOB_COLUMNS}, "
        "j.epoch, COALESCE(lapsed.owner, '')",
        (
            store.manifest,
            [state.value for state in states],
            store.runner_id,
            limit,
            store.runner_id,
            store.runner.lease,
        ),
    )
    taken = await cursor.fetchall()
    return [
        (job_row(values[: len(_JOB)]), int(values[len(_JOB)]), str(values[-1])) for values in taken
    ]


async def remaining(conn: Any, store: PostgresStore) -> Remaining:
    spec = store.runner
    handled = {state.value for state in spec.role.states(spec.download)}
    pending: list[str] = []
    unsettled = 0
    cursor = await conn.execute(
        "SELECT id, state, owner FROM jobs WHERE manifest = %s AND NOT removed "
        "AND state = ANY(%s) ORDER BY seq",
        (store.manifest, ["pending", *AT_PROVIDER, "succeeded"]),
    )
    for job_id, state, owner in await cursor.fetchall():
        if state == "pending":
            if owner is None:
                pending.append(job_id)
        elif state in handled and owner != store.runner_id:
            unsettled += 1
    (others,) = await (
        await conn.execute(
            "SELECT COUNT(*) FROM runners WHERE manifest = %s AND id <> %s "
            "AND heartbeat > now() - lease * interval '1 second'",
            (store.manifest, store.runner_id),
        )
    ).fetchone()
    return Remaining(tuple(pending), unsettled, int(others))


__all__ = [
    "LEASE",
    "AccountNote",
    "AccountSlots",
    "Claim",
    "Refusal",
    "Remaining",
    "Role",
    "RunnerSpec",
    "RunnerView",
]
