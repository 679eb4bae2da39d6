"""The account's ledger in a shared state: what runners, claims and the account's slots are,
and what ``kbatch status`` reads of them (on a synchronous connection).

The slots in use are summed from the job rows of every manifest on the account, never kept in
a counter that could leak: a killed runner's tasks hold slots (as they do at the provider) until
they end. The transactions that change the ledger are in :mod:`kbatch.store.claims`.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Sequence
from typing import Any

from kbatch.errors import StateError
from kbatch.provider.catalogue import PackType
from kbatch.store.mapping import AT_PROVIDER
from kbatch.store.seats import AccountSlots, RunnerSpec, RunnerView, Seat

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
    "RUNNER_ROW",
    "SLOTS_IN_USE",
    "account_runners",
    "account_slots",
    "live_runners",
    "reap",
    "register",
    "runner_row",
]
