"""One runner's part in a shared state: its connection pool, its leases, the jobs it holds.

::

    runner = store.runner                     # PostgresStore.open(..., runner=RunnerSpec())
    await runner.join(slot_limit=5)           # the pool, and the account's ledger rows
    claim = await runner.claim("cat", make, pack=PackType.VIDEO, budget=None, rate_step=0.5)
    await runner.renew()                      # every quarter lease: heartbeat + all leases
    taken = await runner.adopt([JobState.SUBMITTED], limit=100)
    await runner.leave()                      # lets its jobs go at once

Implements :class:`~kbatch.store.protocol.SharedState`. A job it claims or takes over is held
(:attr:`Runner.held`: id -> epoch) until its row comes to rest; the store's writes of a held job
are fenced by that epoch (:mod:`kbatch.store.postgres`). The transactions are in
:mod:`kbatch.store.claims`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from kbatch.errors import StateError
from kbatch.provider.catalogue import PackType
from kbatch.store import claims
from kbatch.store.claims import Make
from kbatch.store.pgschema import driver, errors
from kbatch.store.records import JobRow, JobState
from kbatch.store.seats import Claim, Remaining, RunnerSpec, Seat, TargetChange
from kbatch.store.urls import redacted

#: Seconds to wait for a connection of the pool (and to open it) before the database is lost.
POOL_TIMEOUT = 10.0


class Runner:
    """A runner of one manifest in a shared state."""

    def __init__(
        self,
        url: str,
        seat: Seat,
        *,
        post: Callable[[TargetChange], None],
        drain: Callable[[str | None], Awaitable[None]],
    ) -> None:
        self.url = url
        self.seat = seat
        self._post = post  # the store's group commit: notes keep their order with the writes
        self._drain = drain  # every queued write (None), or those of one job
        self._pool: Any = None
        self.held: dict[str, int] = {}  # job id -> epoch
        self._lease_deadline = time.monotonic() + seat.spec.lease
        #: Told of a held job whose lease another runner took over (its life must stop).
        self.on_lost: Callable[[str], None] = lambda job_id: None

    @property
    def spec(self) -> RunnerSpec:
        return self.seat.spec

    @property
    def id(self) -> str:
        return self.seat.runner_id

    @property
    def running(self) -> bool:
        return self._pool is not None

    def connection(self) -> Any:
        if self._pool is None:
            raise StateError("the shared state is not open for a run (join first)")
        return self._pool.connection()

    def keeps(self, row: JobRow) -> bool:
        """Whether this runner goes on holding a job in this state (else it lets it go)."""
        if row.state in (JobState.PENDING, JobState.FAILED, JobState.DOWNLOADED):
            return False
        return row.state is not JobState.SUCCEEDED or self.spec.downloads

    def lost(self, job_id: str) -> None:
        self.held.pop(job_id, None)
        self.on_lost(job_id)

    # -- the run -------------------------------------------------------------------------------

    async def join(self, *, slot_limit: int) -> None:
        """Open the run's connection pool and the account's ledger rows."""
        from psycopg_pool import AsyncConnectionPool

        driver()
        # The pool logs each failed reconnection; what matters reaches the user as a StateError.
        logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())
        # A runner paused (SIGSTOP) inside a claim must not hold the account's lock for long.
        idle = int(min(self.spec.lease / 4, 10.0) * 1000)

        async def configure(conn: Any) -> None:
            await conn.execute(f"SET idle_in_transaction_session_timeout = {idle}")

        pool = AsyncConnectionPool(
            self.url,
            min_size=2,
            max_size=4,
            open=False,
            timeout=POOL_TIMEOUT,
            kwargs={"autocommit": True, "connect_timeout": 10},
            configure=configure,  # no check per use: a lost connection stops the run
        )
        try:
            await pool.open(wait=True, timeout=POOL_TIMEOUT)
        except Exception as exc:  # PoolTimeout: the database cannot be reached
            await pool.close()
            raise StateError(
                f"cannot open the state database {redacted(self.url)}: {exc}"
            ) from None
        self._pool = pool
        with errors(self.url):
            async with self.connection() as conn, conn.transaction():
                await claims.open_account(conn, self.seat.account, slot_limit)

    async def leave(self) -> None:
        """Let every held job go (others take them over at once) and unregister the runner.
        Without the database (it was lost), the leases lapse by themselves instead."""
        await self._drain(None)
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            with contextlib.suppress(StateError), errors(self.url):
                async with pool.connection(timeout=5) as conn, conn.transaction():
                    await conn.execute(
                        "UPDATE jobs SET owner = NULL, lease_until = NULL WHERE owner = %s",
                        (self.id,),
                    )
                    await conn.execute("DELETE FROM runners WHERE id = %s", (self.id,))
                self.held.clear()
        finally:
            await pool.close()

    def lease_left(self) -> float:
        """Seconds until this runner's leases may have run out (by the last renewal)."""
        return self._lease_deadline - time.monotonic()

    def holds(self, job_id: str) -> bool:
        return job_id in self.held and self.lease_left() > 0

    async def renew(self) -> None:
        """The heartbeat and every held job's lease, in one transaction. A held job it does not
        find is another runner's now (this runner's lease ran out): :attr:`on_lost`."""
        started = time.monotonic()
        before = dict(self.held)  # jobs claimed meanwhile are not in it
        with errors(self.url):
            async with self.connection() as conn, conn.transaction():
                renewed = await claims.renew(conn, self.seat)
        self._lease_deadline = started + self.spec.lease
        for job_id, epoch in before.items():
            if job_id not in renewed and self.held.get(job_id) == epoch:
                self.lost(job_id)

    async def hold(self, job_id: str) -> bool:
        epoch = self.held.get(job_id)
        if epoch is None:
            return False
        with errors(self.url):
            async with self.connection() as conn:
                cursor = await conn.execute(
                    "UPDATE jobs SET lease_until = now() + %s * interval '1 second' "
                    "WHERE manifest = %s AND id = %s AND owner = %s AND epoch = %s",
                    (self.spec.lease, self.seat.manifest, job_id, self.id, epoch),
                )
        if cursor.rowcount == 1:
            return True
        self.held.pop(job_id, None)
        return False

    async def claim(
        self, job_id: str, make: Make, *, pack: PackType, budget: float | None, rate_step: float
    ) -> Claim:
        """Start an attempt of a pending job for this runner, if the account and the budget
        allow: ``make`` turns the job's current row into its ``submitting`` row and attempt."""
        await self._drain(job_id)  # this runner's own earlier writes of the job first
        with errors(self.url):
            async with self.connection() as conn, conn.transaction():
                claim = await claims.claim(
                    conn, self.seat, job_id, make, pack=pack, budget=budget, rate_step=rate_step
                )
        if claim.row is not None:
            self.held[job_id] = claim.epoch
        return claim

    async def adopt(self, states: Sequence[JobState], *, limit: int) -> list[tuple[JobRow, str]]:
        """Take over jobs in ``states`` that no live lease holds: (row, who held it)."""
        with errors(self.url):
            async with self.connection() as conn, conn.transaction():
                taken = await claims.adopt(conn, self.seat, states, limit=limit)
        for row, epoch, _ in taken:
            self.held[row.id] = epoch
        return [(row, before) for row, _, before in taken]

    async def remaining(self) -> Remaining:
        with errors(self.url):
            async with self.connection() as conn:
                return await claims.remaining(conn, self.seat)

    def crowded(self, pack: PackType) -> None:
        """A 1303: lower the account's target for every runner."""
        self._post(TargetChange(pack, crowded=True))

    def cleaned(self, pack: PackType) -> None:
        """A task ended cleanly: the account's target may creep back up."""
        self._post(TargetChange(pack, crowded=False))


__all__ = ["POOL_TIMEOUT", "Runner"]
