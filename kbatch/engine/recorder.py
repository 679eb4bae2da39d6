"""The run's view of its state: every record goes to the store in order, and the current job rows
and their counts by state stay in memory (no read of the store per refresh)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from kbatch.store.protocol import StateStore
from kbatch.store.records import JobRow, JobState, Record


class Recorder:
    """Writes a run's transitions to its state store: :meth:`record` waits until they are
    durable (the step before spending), :meth:`post` does not (steps that cost nothing to redo)."""

    def __init__(self, store: StateStore, rows: dict[str, JobRow], ids: Iterable[str]) -> None:
        self.store = store
        self.rows = rows
        self.counts: Counter[JobState] = Counter(rows[i].state for i in ids)
        #: Which job each task id belongs to: a task is one job's, never two.
        self.by_task: dict[str, str] = {r.task_id: r.id for r in rows.values() if r.task_id}

    async def record(self, *records: Record) -> None:
        """Write and wait until durable: for the transition that precedes spending."""
        await self.store.write(*records)
        self._count(records)

    def post(self, *records: Record) -> None:
        """Queue for the next group commit without waiting. For the steps that cost nothing to
        redo: if lost in a crash, the next run takes the earlier step up again (polls,
        downloads) without a second create. Commits keep order, so the next :meth:`record`
        makes it durable too."""
        self.store.post(*records)
        self._count(records)

    def took(self, row: JobRow) -> None:
        """A row the shared state wrote for this runner (a claim, a take-over): count it."""
        self._count((row,))

    def _count(self, records: Iterable[Record]) -> None:
        for row in records:
            if isinstance(row, JobRow):
                old = self.rows.get(row.id)
                if old is not None:
                    self.counts[old.state] -= 1
                self.counts[row.state] += 1
                self.rows[row.id] = row
                if row.task_id:
                    self.by_task[row.task_id] = row.id


__all__ = ["Recorder"]
