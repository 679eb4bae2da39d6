"""The shared state's running totals of each manifest's budget, per pack: what its jobs spent
and what the tasks still at the provider reserve, so that a claim under a budget reads one row
instead of summing every job of the manifest.

::

    share(row)                             # what one job row counts: Share(spent, reserved)
    totals(rows)                           # the same summed per pack: the check-sum
    await add(cursor, manifest, change(before, after))   # inside the job rows' transaction

:func:`share` is the one definition of what a row counts against the budget: the totals are kept
by its deltas (every transition, in the transaction that writes the job row), and checked by
summing it over the rows (:func:`totals`), so a change of what a charge counts changes both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kbatch.provider.catalogue import PACK, PackType
from kbatch.store.mapping import columns, job
from kbatch.store.records import JobRow


@dataclass(frozen=True, slots=True)
class Share:
    """Units a job row counts against its pack's budget: spent (its attempts' charges, or their
    estimates where none was reported) and reserved (the estimate of a task that may still be
    charged)."""

    spent: float = 0.0
    reserved: float = 0.0

    def __add__(self, other: Share) -> Share:
        return Share(self.spent + other.spent, self.reserved + other.reserved)

    def __sub__(self, other: Share) -> Share:
        return Share(self.spent - other.spent, self.reserved - other.reserved)


def share(row: JobRow) -> Share:
    """What ``row`` counts against its manifest's budget (removed jobs too: they were paid)."""
    return Share(row.units, row.estimate if row.state.at_provider else 0.0)


def totals(rows: Iterable[JobRow]) -> dict[PackType, Share]:
    """:func:`share` summed per pack."""
    summed: defaultdict[PackType, Share] = defaultdict(Share)
    for row in rows:
        summed[PACK[row.kind]] += share(row)
    return dict(summed)


def change(before: Iterable[JobRow], after: Iterable[JobRow]) -> dict[PackType, Share]:
    """What the totals move by when the rows ``before`` become ``after``."""
    was = totals(before)
    now = totals(after)
    return {pack: now.get(pack, Share()) - was.get(pack, Share()) for pack in {*was, *now}}


#: The job rows of a manifest by id, locked until the transaction ends (in id order: two
#: transactions lock the same rows in the same order).
LOCK = (
    f"SELECT {columns(JobRow)} FROM jobs WHERE manifest = %s AND id = ANY(%s) "
    "ORDER BY id FOR UPDATE"
)
#: The totals row of a manifest and pack moved by a delta.
ADD = (
    "INSERT INTO budgets (manifest, pack, spent, reserved) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (manifest, pack) DO UPDATE SET spent = budgets.spent + excluded.spent, "
    "reserved = budgets.reserved + excluded.reserved"
)
#: Spent plus reserved of a manifest and pack (0 without a row): what a claim checks.
COMMITTED = (
    "(SELECT COALESCE(SUM(spent + reserved), 0) FROM budgets WHERE manifest = %s AND pack = %s)"
)


def additions(manifest: str, delta: dict[PackType, Share]) -> list[tuple[Any, ...]]:
    """:data:`ADD`'s parameters for the packs whose totals move (none for a transition that
    changes nothing the budget counts: most of them)."""
    return [
        (manifest, pack.value, moved.spent, moved.reserved)
        for pack, moved in sorted(delta.items(), key=lambda item: item[0].value)
        if moved.spent or moved.reserved
    ]


async def locked(cursor: Any, manifest: str, ids: Iterable[str]) -> list[JobRow]:
    """The rows of these jobs, locked until the transaction ends."""
    await cursor.execute(LOCK, (manifest, sorted(set(ids))))
    return [job(values) for values in await cursor.fetchall()]


async def add(cursor: Any, manifest: str, delta: dict[PackType, Share]) -> None:
    """Move the totals: last in a transaction (after the account's row, see claims)."""
    rows = additions(manifest, delta)
    if rows:
        await cursor.executemany(ADD, rows)


def recount(db: Any, manifest: str | None = None) -> None:
    """Set the totals from the job rows (a migration that adds them, on a synchronous
    connection inside its transaction): of one manifest, or of all."""
    names = [manifest] if manifest else [n for (n,) in db.execute("SELECT name FROM manifests")]
    for name in names:
        db.execute("DELETE FROM budgets WHERE manifest = %s", (name,))
        found = db.execute(f"SELECT {columns(JobRow)} FROM jobs WHERE manifest = %s", (name,))
        rows = additions(name, totals(job(values) for values in found.fetchall()))
        if rows:
            db.cursor().executemany(ADD, rows)


__all__ = [
    "ADD",
    "COMMITTED",
    "LOCK",
    "Share",
    "add",
    "additions",
    "change",
    "locked",
    "recount",
    "share",
    "totals",
]
