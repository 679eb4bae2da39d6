"""A runner's part in a shared state: claims, the lease heartbeat, taking over lapsed jobs.

With a state several runners share (``--state postgresql://...``), a job starts an attempt only
by a claim (:meth:`Sharing.claim`): the database admits it against the account's slots, its rate
and the manifest's budget, across every runner, and records ``submitting`` before any money is
spent. A runner renews its leases every quarter lease (:meth:`Sharing.tend`); a create is sent
only while the lease has more left than a create can take. Jobs another runner left under a
lapsed lease (it was killed, paused, or cut off) are taken over on the same beat; a job this
runner held and lost that way is dropped at once, never written again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from kbatch.engine.admission import Feed
from kbatch.engine.clock import Clock
from kbatch.engine.context import RunState
from kbatch.engine.events import EventName
from kbatch.engine.options import RunOptions
from kbatch.engine.pacing import Budget
from kbatch.engine.recorder import Recorder
from kbatch.engine.stops import Emit, Halted, Stops
from kbatch.errors import StateError
from kbatch.provider.catalogue import PACK, JobKind, PackType
from kbatch.provider.transport import Timeouts
from kbatch.store.protocol import SharedState
from kbatch.store.records import AttemptRow, JobRow
from kbatch.store.seats import Refusal, Role

#: Seconds between claims while the account's slots are full (a local end of a task wakes it
#: sooner): a few cheap transactions a second per runner, against tasks of tens of seconds.
SLOTS_POLL = 0.25
#: Seconds between looks at what other runners still hold, once this runner has nothing left:
#: a runner leaves soon after the last job ends, whatever the lease.
LOOK_AGAIN = 0.5
#: Jobs taken over in one beat.
ADOPT_LIMIT = 500


def create_time(timeouts: Timeouts) -> float:
    """The longest a create can take: connecting, then waiting for its answer."""
    return timeouts.connect + timeouts.read


def lease_problem(lease: float, timeouts: Timeouts) -> str | None:
    """Why a lease is too short for creates, if it is: renewed every quarter lease, it has
    three quarters left at worst, which must outlast a create."""
    needed = create_time(timeouts)
    if lease * 0.75 > needed:
        return None
    return (
        f"--lease {lease:g}s is too short: a create may take {needed:g}s (connect + read "
        f"timeouts), and a lease renewed every quarter has only three quarters left at worst; "
        f"give at least {needed / 0.75 + 1:.0f}s"
    )


@dataclass(frozen=True, slots=True)
class Crew:
    """The parts of a run that its sharing works with (the run's context is built around it)."""

    recorder: Recorder
    stops: Stops
    state: RunState
    budgets: dict[PackType, Budget]
    options: RunOptions
    clock: Clock
    emit: Emit
    #: Seconds between creates, for the account's rate (submit_per_minute).
    rate_step: float


class Sharing:
    """One runner's claims and leases in a shared state, for one run: the shared
    implementation of :class:`~kbatch.engine.admission.Admission`."""

    shared = True

    def __init__(
        self,
        shared: SharedState,
        crew: Crew,
        *,
        slot_limit: int,
        adopted: Callable[[JobRow, str], None],
        lost: Callable[[str], None],
    ) -> None:
        self.runner = shared
        self.crew = crew
        self.slot_limit = slot_limit
        self._adopted = adopted
        self._lost = lost
        self._claiming = asyncio.Lock()  # one claim at a time: the account serialises them
        self.freed = asyncio.Event()  # a task of this runner ended: room may have come
        self.beat = asyncio.Event()  # set after each renewal and take-over round
        self.claims = 0

    @property
    def lease(self) -> float:
        return self.runner.spec.lease

    async def course(self, work: Callable[[], Awaitable[None]]) -> None:
        """Join the shared state, keep the leases while ``work`` runs, then leave."""
        self.runner.on_lost = self._lose
        await self.runner.join(slot_limit=self.slot_limit)
        tend = asyncio.create_task(self.tend())
        try:
            await work()
        finally:
            tend.cancel()
            await asyncio.gather(tend, return_exceptions=True)
            await self.runner.leave()

    # -- claims --------------------------------------------------------------------------------

    async def start(self, row: JobRow, target: str) -> JobRow | None:
        """Start the next attempt of a pending job by a claim, waiting while the account's slots
        or rate have no room; None when the job is not this runner's to send (another runner
        has it, it changed, or the budget has no room). Halted if the run stops meanwhile."""
        crew = self.crew
        pack = PACK[row.kind]
        budget = crew.budgets[pack].limit
        salt = crew.recorder.store.salt

        def make(current: JobRow) -> tuple[JobRow, AttemptRow] | None:
            if current.fingerprint != row.fingerprint:
                return None
            return current.start_attempt(salt, now=crew.clock.time(), target=target)

        async with self._claiming:
            while True:
                if not crew.stops.may_submit(row.kind):
                    raise Halted
                claim = await self.runner.claim(
                    row.id, make, pack=pack, budget=budget, rate_step=crew.rate_step
                )
                if claim.row is not None:
                    self.claims += 1
                    crew.state.held_by_budget.get(pack, set()).discard(row.id)  # fits now
                    crew.recorder.took(claim.row)
                    return claim.row
                if claim.refusal is Refusal.GONE:
                    return None
                if claim.refusal is Refusal.BUDGET:
                    crew.state.held_by_budget[pack].add(row.id)
                    return None
                wait = claim.wait if claim.refusal is Refusal.RATE else SLOTS_POLL
                await _next(self.freed, wait)  # a task of this runner ends, or the time

    async def before_create(self, job_id: str) -> None:
        """Before a create: the job's lease must outlast it (a create's answer may take the
        connect and read timeouts), else another runner could take the job over while it is
        sent. When the last renewal is too old (a pause, a slow database), the job's own lease
        is renewed first, fenced; Halted if another runner has it by now."""
        if self.runner.lease_left() > create_time(self.crew.options.timeouts):
            return
        if not await self.runner.hold(job_id):
            self._lose(job_id)
            raise Halted

    def guard(self, job_id: str) -> Callable[[], None]:
        """For a download: Halted as soon as the job may be another runner's (its lease is
        lost, or has run out since the last renewal), so that nothing more is written."""

        def check() -> None:
            if not self.runner.holds(job_id):
                raise Halted

        return check

    # -- the account's target ------------------------------------------------------------------

    def crowded(self, kind: JobKind) -> None:
        """A 1303: the account's target drops for every runner's next claims. This runner's
        own slots are not lowered: jobs waiting in a claim hold them, and a resend (claimed
        already, counted in the account's use) waiting behind them would never get one."""
        self.runner.crowded(PACK[kind])

    def ended(self, kind: JobKind, *, clean: bool) -> None:
        if clean:
            self.runner.cleaned(PACK[kind])
        self.freed.set()

    # -- the run's course ----------------------------------------------------------------------

    async def drive(
        self, feed: Feed, settle: Callable[[], Awaitable[None]], ids: Sequence[str]
    ) -> None:
        """Feed (all jobs, then ``only`` some), let this runner's lives end, then ask the
        shared state what is left: pending jobs no one holds are fed again while passes make
        progress; jobs other runners hold are waited for (and taken over if their lease lapses);
        then the run ends."""
        crew = self.crew
        submits = self.runner.spec.role is not Role.DOWNLOAD
        only: set[str] | None = None
        await self.beat.wait()  # the first take-over round: earlier runs' jobs first
        while True:
            claims = self.claims
            await feed(only if submits else set())
            await settle()
            if crew.stops.reason is not None:
                return
            await crew.recorder.store.drain()  # what is left must count this runner's writes
            left = await self.runner.remaining()
            pending = {i for i in left.pending if crew.options.selects(i)}
            fresh = pending - (only if only is not None else set(ids))
            if submits and pending and (self.claims > claims or fresh):
                only = pending
                continue
            if not (left.unsettled or (not submits and left.pending and left.live_others)):
                return
            await _next(self.beat, LOOK_AGAIN)  # a take-over round, or a look again
            only = set()

    # -- leases --------------------------------------------------------------------------------

    async def tend(self) -> None:
        """Every quarter lease: renew the heartbeat and every lease, then take over the jobs
        of lapsed leases. A renewal that keeps failing until the lease runs out stops the run."""
        crew = self.crew
        spec = self.runner.spec
        states = spec.role.states(spec.download)
        while True:
            try:
                await self.runner.renew()
                for row, before in await self.runner.adopt(states, limit=ADOPT_LIMIT):
                    self._adopted(row, before)
            except StateError as exc:
                if self.runner.lease_left() <= 0:
                    crew.stops.unwritten(exc)
                    return
                crew.emit(EventName.WAIT, None, f"{exc}; trying again")
                await asyncio.sleep(min(1.0, self.lease / 8))
                continue
            self.beat.set()
            await asyncio.sleep(self.lease / 4)

    def _lose(self, job_id: str) -> None:
        message = (
            "another runner took this job over (this runner's lease ran out): it is theirs now, "
            "and nothing more is written or sent for it here"
        )
        self.crew.emit(EventName.LEASE_LOST, job_id, message)
        self._lost(job_id)


async def _next(event: asyncio.Event, seconds: float) -> None:
    """Wait for the next time ``event`` is set, or ``seconds``, whichever comes first."""
    event.clear()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


__all__ = ["Crew", "Sharing", "create_time", "lease_problem"]
