"""The transactions of a shared state's ledger: claims, leases, take-overs, the account's target.

Each function runs inside a transaction its caller opened (:mod:`kbatch.store.runner`), on an
async psycopg connection, for one runner (its :class:`~kbatch.store.ledger.Seat`). Admission is
serialised per account and pack by the account row's lock (``FOR UPDATE``); the job is taken
with ``FOR UPDATE SKIP LOCKED``, so runners never wait on each other's jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kbatch.provider.catalogue import PackType
from kbatch.store import budgets
from kbatch.store.ledger import ALIVE, RUNNER_ROW, SLOTS_IN_USE, runner_row
from kbatch.store.mapping import AT_PROVIDER, NAMES, columns, job
from kbatch.store.records import AttemptRow, JobRow, JobState
from kbatch.store.seats import Claim, Refusal, Remaining, Seat, TargetChange

_JOB = NAMES[JobRow]
_JOB_COLUMNS = columns(JobRow, "j")
_ATTEMPT = NAMES[AttemptRow]
Make = Callable[[JobRow], tuple[JobRow, AttemptRow] | None]


async def open_account(conn: Any, account: str, slot_limit: int) -> None:
    """The account's rows, one per pack; the limit is the latest runner's ``max_in_flight``.
    The target starts over at the limit when nothing holds slots on the account."""
    for pack in PackType:
        await conn.execute(
            "INSERT INTO accounts (account, pack, slot_limit, target) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (account, pack) DO UPDATE SET slot_limit = excluded.slot_limit, "
            f"target = CASE WHEN ({SLOTS_IN_USE}) = 0 "
            "THEN excluded.slot_limit ELSE LEAST(accounts.target, excluded.slot_limit) END",
            (account, pack.value, slot_limit, slot_limit, account, pack.value, list(AT_PROVIDER)),
        )


async def change_target(cursor: Any, account: str, note: TargetChange) -> None:
    if note.crowded:  # no more room than the tasks the provider accepted
        await cursor.execute(
            "UPDATE accounts SET clean = 0, target = GREATEST(1, LEAST(target, ("
            + SLOTS_IN_USE
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


async def renew(conn: Any, seat: Seat) -> set[str]:
    """The runner's heartbeat and all its jobs' leases; the ids of the jobs it still holds."""
    cursor = await conn.execute(
        "UPDATE runners SET heartbeat = now() WHERE id = %s", (seat.runner_id,)
    )
    if cursor.rowcount == 0:  # pruned while it could not renew: it is back
        await conn.execute(RUNNER_ROW, runner_row(seat))
    cursor = await conn.execute(
        "UPDATE jobs SET lease_until = now() + %s * interval '1 second' WHERE owner = %s "
        "RETURNING id",
        (seat.spec.lease, seat.runner_id),
    )
    return {job_id for (job_id,) in await cursor.fetchall()}


async def claim(
    conn: Any,
    seat: Seat,
    job_id: str,
    make: Make,
    *,
    pack: PackType,
    budget: float | None,
    rate_step: float,
) -> Claim:
    """See :meth:`kbatch.store.runner.Runner.claim`. Three statements: the account's lock,
    the job (locked, skipped if another runner has it) with what admission reads, the writes."""
    where = (seat.account, pack.value)
    await conn.execute("SELECT 1 FROM accounts WHERE account = %s AND pack = %s FOR UPDATE", where)
    found = await _admissible(conn, seat, job_id, pack, budget)
    if isinstance(found, Claim):
        return found
    made = make(found)
    if made is None:
        return Claim(refusal=Refusal.GONE)
    row, attempt = made
    epoch = await _take(conn, seat, row, attempt, where, rate_step)
    await budgets.add(conn.cursor(), seat.manifest, budgets.change([found], [row]))
    return Claim(row=row, epoch=epoch)


#: Read once the account's row is locked: its target, the wait its rate asks for (by the clock
#: after any claim that held the lock), and the slots in use on the account.
_ADMISSION = (
    f"SELECT {_JOB_COLUMNS}, j.owner, "
    "(SELECT target FROM accounts WHERE account = %s AND pack = %s), "
    "(SELECT EXTRACT(EPOCH FROM next_submit_at - clock_timestamp()) FROM accounts "
    "WHERE account = %s AND pack = %s), "
    f"({SLOTS_IN_USE}), "
    "{budget} FROM jobs j WHERE j.manifest = %s AND j.id = %s FOR UPDATE OF j SKIP LOCKED"
)


async def _admissible(
    conn: Any, seat: Seat, job_id: str, pack: PackType, budget: float | None
) -> JobRow | Claim:
    """The job as it stands, locked, if it may start now; else the refusal."""
    account = (seat.account, pack.value)
    params: tuple[Any, ...] = (*account, *account, *account, list(AT_PROVIDER))
    spent = "0"
    if budget is not None:  # spent plus reserved by every runner: the manifest's totals
        spent = budgets.COMMITTED
        params += (seat.manifest, pack.value)
    sql = _ADMISSION.replace("{budget}", spent)
    found = await (await conn.execute(sql, (*params, seat.manifest, job_id))).fetchone()
    if found is None:  # no such job, or another runner is claiming it right now
        return Claim(refusal=Refusal.GONE)
    current = job(found[: len(_JOB)])
    owner, target, rate_wait, in_use, committed = found[len(_JOB) :]
    if current.state is not JobState.PENDING or owner is not None or current.removed:
        return Claim(refusal=Refusal.GONE)
    if target is None:
        return Claim(refusal=Refusal.GONE)  # the account was never opened: not a runner's
    if rate_wait > 0:
        return Claim(refusal=Refusal.RATE, wait=float(rate_wait))
    if in_use and in_use + current.slots > target:
        return Claim(refusal=Refusal.SLOTS)
    if budget is not None and committed + current.estimate > budget + 1e-9:
        return Claim(refusal=Refusal.BUDGET)
    return current


async def _take(
    conn: Any,
    seat: Seat,
    row: JobRow,
    attempt: AttemptRow,
    account: tuple[str, str],
    rate_step: float,
) -> int:
    """In one statement: the claimed job's submitting row for this runner, its attempt, and
    the account's next create moved on by the rate; the job's new epoch."""
    names = [name for name in _JOB if name != "id"]
    sets = ", ".join(f'"{name}" = %s' for name in names)
    columns = ", ".join(f'"{name}"' for name in ("manifest", *_ATTEMPT))
    marks = ", ".join(["%s"] * (len(_ATTEMPT) + 1))
    (epoch,) = await (
        await conn.execute(
            f"WITH taken AS (UPDATE jobs SET {sets}, owner = %s, epoch = epoch + 1, "
            "lease_until = now() + %s * interval '1 second' "
            "WHERE manifest = %s AND id = %s RETURNING epoch), "
            f"tried AS (INSERT INTO attempts ({columns}) VALUES ({marks}) "
            "ON CONFLICT (manifest, job_id, fingerprint, attempt) DO NOTHING), "
            "paced AS (UPDATE accounts SET next_submit_at = "
            "GREATEST(next_submit_at, clock_timestamp()) + %s * interval '1 second' "
            "WHERE account = %s AND pack = %s) "
            "SELECT epoch FROM taken",
            (
                *(getattr(row, name) for name in names),
                seat.runner_id,
                seat.spec.lease,
                seat.manifest,
                row.id,
                seat.manifest,
                *(getattr(attempt, name) for name in _ATTEMPT),
                rate_step,
                *account,
            ),
        )
    ).fetchone()
    return int(epoch)


async def adopt(
    conn: Any, seat: Seat, states: Sequence[JobState], *, limit: int
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
            seat.manifest,
            [state.value for state in states],
            seat.runner_id,
            limit,
            seat.runner_id,
            seat.spec.lease,
        ),
    )
    taken = await cursor.fetchall()
    return [(job(values[: len(_JOB)]), int(values[len(_JOB)]), str(values[-1])) for values in taken]


async def remaining(conn: Any, seat: Seat) -> Remaining:
    """What is left of the manifest for this runner: pending jobs no one holds, jobs of the
    states its role handles that others hold, and how many other runners are alive."""
    spec = seat.spec
    handled = {state.value for state in spec.role.states(spec.download)}
    if JobState.SUCCEEDED.value in handled:  # a downloader: tasks at the provider are its to come
        handled |= set(AT_PROVIDER)
    pending: list[str] = []
    unsettled = 0
    cursor = await conn.execute(
        "SELECT id, state, owner FROM jobs WHERE manifest = %s AND NOT removed "
        "AND state = ANY(%s) ORDER BY seq",
        (seat.manifest, ["pending", *AT_PROVIDER, "succeeded"]),
    )
    for job_id, state, owner in await cursor.fetchall():
        if state == "pending":
            if owner is None:
                pending.append(job_id)
        elif state in handled and owner != seat.runner_id:
            unsettled += 1
    (others,) = await (
        await conn.execute(
            f"SELECT COUNT(*) FROM runners r WHERE manifest = %s AND id <> %s AND {ALIVE}",
            (seat.manifest, seat.runner_id),
        )
    ).fetchone()
    return Remaining(tuple(pending), unsettled, int(others))


__all__ = ["Make", "adopt", "change_target", "claim", "open_account", "remaining", "renew"]
