"""How a job's attempt starts and how the account's slots are shared: by this runner alone (a
state file) or with other runners (a shared state, :mod:`kbatch.engine.sharing`).

The exactly-once promise rests on :meth:`Admission.start`: the attempt's ``submitting`` row, with
its external task id, is durable before the create is sent. A private state writes it through
the :class:`~kbatch.engine.recorder.Recorder`; a shared state writes it in the claim that admits
the job across runners. Either way the row and the attempt come from
:meth:`~kbatch.store.records.JobRow.start_attempt`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from kbatch.engine.clock import Clock
from kbatch.engine.pacing import Slots
from kbatch.engine.recorder import Recorder
from kbatch.provider.catalogue import PACK, JobKind, PackType
from kbatch.store.records import JobRow

#: Feeds the manifest's pending jobs (all, or only the ids given).
Feed = Callable[[set[str] | None], Awaitable[None]]


class Admission(Protocol):
    """What the engine asks of the way its jobs are admitted."""

    #: Other runners may hold the account's slots: a 1303 then says nothing about the provider.
    shared: bool

    async def course(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` (the whole run), joining and leaving whatever is shared around it."""
        ...

    async def drive(
        self, feed: Feed, settle: Callable[[], Awaitable[None]], ids: Sequence[str]
    ) -> None:
        """Feed the manifest's jobs and let their lives end, until nothing is left to do."""
        ...

    async def start(self, row: JobRow, target: str) -> JobRow | None:
        """The job's next attempt, ``submitting`` and durable, with where it is sent
        (``target``, :func:`~kbatch.provider.protocol.target_text`); None when it is not this
        runner's to send (another runner has it, or the budget has no room)."""
        ...

    async def before_create(self, job_id: str) -> None:
        """Just before a create is sent (Halted if the job is no longer this runner's)."""
        ...

    def crowded(self, kind: JobKind) -> None:
        """The provider answered 1303: the account's slots are full."""
        ...

    def ended(self, kind: JobKind, *, clean: bool) -> None:
        """A task of this runner gave its slots back (``clean``: it ended without a 1303)."""
        ...

    def guard(self, job_id: str) -> Callable[[], None] | None:
        """For a download: what raises Halted once the job may be another runner's."""
        ...


class Private:
    """A state one runner owns: slots counted here, the attempt recorded through the recorder."""

    shared = False

    def __init__(self, recorder: Recorder, slots: dict[PackType, Slots], clock: Clock) -> None:
        self._recorder = recorder
        self._slots = slots
        self._clock = clock

    async def course(self, work: Callable[[], Awaitable[None]]) -> None:
        await work()

    async def drive(
        self, feed: Feed, settle: Callable[[], Awaitable[None]], ids: Sequence[str]
    ) -> None:
        await feed(None)
        await settle()

    async def start(self, row: JobRow, target: str) -> JobRow | None:
        salt = self._recorder.store.salt
        started, attempt = row.start_attempt(salt, now=self._clock.time(), target=target)
        await self._recorder.record(started, attempt)
        return started

    async def before_create(self, job_id: str) -> None:
        return None

    def crowded(self, kind: JobKind) -> None:
        self._slots[PACK[kind]].crowded()

    def ended(self, kind: JobKind, *, clean: bool) -> None:
        return None

    def guard(self, job_id: str) -> Callable[[], None] | None:
        return None


__all__ = ["Admission", "Feed", "Private"]
