"""The transactions of a shared state's ledger: claims, leases, take-overs, the account's target.

Each function runs inside a transaction its caller opened (:mod:`kbatch.store.runner`), on an
async psycopg connection, for one runner (its :class:`~kbatch.store.ledger.Seat`). Admission is
serialised per account and pack by the account row's lock (``FOR UPDATE``); the job is taken
with ``FOR UPDATE SKIP LOCKED``, so runners never wait on each other's jobs.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

from kbatch.provider.catalogue import PackType
from kbatch.store.ledger import SLOTS_IN_USE, AccountNote, Claim, Refusal, Remaining, Seat
from kbatch.store.pgschema import AT_PROVIDER, job_row
from kbatch.store.records import AttemptRow, JobRow, JobState

_JOB = tuple(f.name for f in fields(JobRow))
_JOB_COLUMNS = ", ".join(f'j."{name}"' for name in _JOB)
_ATTEMPT = tuple(f.name for f in fields(AttemptRow))
Make = Callable[[JobRow], tuple[JobRow, AttemptRow] | None]


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
    runner_id, spec = seat.runner_id, seat.spec
    cursor = await conn.execute("UPDATE runners SET heartbeat = now() WHERE id = %s", (runner_id,))
    if cursor.rowcount == 0:  # pruned while it could not renew: it is back
        await conn.execute(
            "INSERT INTO runners (id, manifest, host, pid, role, lease) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (
                runner_id,
                seat.manifest,
                socket.gethostname(),
                os.getpid(),
                spec.role.value,
                spec.lease,
            ),
        )
    cursor = await conn.execute(
        "UPDATE jobs SET lease_until = now() + %s * interval '1 second' WHERE owner = %s "
        "RETURNING id",
        (spec.lease, runner_id),
    )
    return {job_id for (job_id,) in await cursor.fetchall()}


async def claim(
    conn: Any, seat: Seat, job_id: str, make: Make, *, budget: float | None, rate_step: float
) -> Claim:
    """See :meth:`kbatch.store.runner.Runner.claim`."""
    found = await _admissible(conn, seat, job_id, budget)
    if isinstance(found, Claim):
        return found
    current, pack = found
    made = make(current)
    if made is None:
        return Claim(refusal=Refusal.GONE)
    row, attempt = made
    epoch = await _take(conn, seat, row, attempt)
    await conn.execute(
        "UPDATE accounts SET next_submit_at = GREATEST(next_submit_at, now()) "
        "+ %s * interval '1 second' WHERE account = %s AND pack = %s",
        (rate_step, seat.account, pack),
    )
    return Claim(row=row, epoch=epoch)


async def _admissible(
    conn: Any, seat: Seat, job_id: str, budget: float | None
) -> tuple[JobRow, str] | Claim:
    """The job as it stands and its pack, locked, if it may start now; else the refusal."""
    found = await (
        await conn.execute(
            "SELECT pack FROM jobs WHERE manifest = %s AND id = %s", (seat.manifest, job_id)
        )
    ).fetchone()
    if found is None:
        return Claim(refusal=Refusal.GONE)
    pack = found[0]
    account = await (
        await conn.execute(
            "SELECT target, EXTRACT(EPOCH FROM next_submit_at - now()) FROM accounts "
            "WHERE account = %s AND pack = %s FOR UPDATE",
            (seat.account, pack),
        )
    ).fetchone()
    job = await (
        await conn.execute(
            f"SELECT {_JOB_COLUMNS}, j.owner FROM jobs j WHERE j.manifest = %s AND j.id = %s "
            "FOR UPDATE SKIP LOCKED",
            (seat.manifest, job_id),
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
        await conn.execute(SLOTS_IN_USE, (seat.account, pack, list(AT_PROVIDER)))
    ).fetchone()
    if in_use and in_use + current.slots > target:
        return Claim(refusal=Refusal.SLOTS)
    if budget is not None:
        spent, reserved = await (
            await conn.execute(
                "SELECT COALESCE(SUM(units), 0), COALESCE(SUM(estimate) FILTER "
                "(WHERE state = ANY(%s)), 0) FROM jobs WHERE manifest = %s AND pack = %s",
                (list(AT_PROVIDER), seat.manifest, pack),
            )
        ).fetchone()
        if spent + reserved + current.estimate > budget + 1e-9:
            return Claim(refusal=Refusal.BUDGET)
    return current, pack


async def _take(conn: Any, seat: Seat, row: JobRow, attempt: AttemptRow) -> int:
    """Write the claimed job's submitting row and attempt for this runner; its new epoch."""
    names = [name for name in _JOB if name != "id"]
    sets = ", ".join(f'"{name}" = %s' for name in names)
    (epoch,) = await (
        await conn.execute(
            f"UPDATE jobs SET {sets}, owner = %s, epoch = epoch + 1, "
            "lease_until = now() + %s * interval '1 second' "
            "WHERE manifest = %s AND id = %s RETURNING epoch",
            (
                *(getattr(row, name) for name in names),
                seat.runner_id,
                seat.spec.lease,
                seat.manifest,
                row.id,
            ),
        )
    ).fetchone()
    columns = ", ".join(f'"{name}"' for name in ("manifest", *_ATTEMPT))
    await conn.execute(
        f"INSERT INTO attempts ({columns}) VALUES ({', '.join(['%s'] * (len(_ATTEMPT) + 1))}) "
        "ON CONFLICT (manifest, job_id, attempt) DO NOTHING",
        (seat.manifest, *(getattr(attempt, name) for name in _ATTEMPT)),
    )
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
    return [
        (job_row(values[: len(_JOB)]), int(values[len(_JOB)]), str(values[-1])) for values in taken
    ]


async def remaining(conn: Any, seat: Seat) -> Remaining:
    """What is left of the manifest for this runner: pending jobs no one holds, jobs of the
    states its role handles that others hold, and how many other runners are alive."""
    spec = seat.spec
    handled = {state.value for state in spec.role.states(spec.download)}
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
            "SELECT COUNT(*) FROM runners WHERE manifest = %s AND id <> %s "
            "AND heartbeat > now() - lease * interval '1 second'",
            (seat.manifest, seat.runner_id),
        )
    ).fetchone()
    return Remaining(tuple(pending), unsettled, int(others))


__all__ = ["Make", "adopt", "claim", "note_account", "open_account", "remaining", "renew"]
