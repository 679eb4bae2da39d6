"""The one retry helper: consecutive transient failures of a step, the pause after each, and
when to give up.

::

    backoff = Backoff(pacing, rng=rng, clock=clock)
    while True:
        try:
            return await client.find(kind, external_id)
        except RetryLater as exc:
            await backoff.pause(exc)          # GaveUp after pacing.transient_limit failures

The pause is exponential with full jitter (AWS's "full jitter": uniform between 0 and the
ceiling), never shorter than a Retry-After the provider sent, nor than ``least`` (1303 asks for
at least a second). Giving up means "the provider is unavailable": the run stops and leaves every
job where it is for the next run. ``stamina`` was considered: its retry loop owns the sleeping
and the attempt count, while here a pause must go through the run's :class:`Clock`, honour a
per-error minimum and a shared stop, and feed the poller's schedule without sleeping at all.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from kbatch.engine.clock import Clock
from kbatch.engine.pacing import Pacing
from kbatch.errors import ApiError


class GaveUp(Exception):
    """A step failed ``transient_limit`` times in a row; ``error`` is the last failure."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


def backoff(
    failures: int, pacing: Pacing, *, retry_after: float | None = None, rng: random.Random
) -> float:
    """Exponential backoff with full jitter; never shorter than a Retry-After the provider sent.

    >>> backoff(3, Pacing(backoff_base=1.0), rng=random.Random(1)) <= 4.0
    True
    >>> backoff(1, Pacing(), retry_after=30.0, rng=random.Random(1))
    30.0
    """
    ceiling = min(pacing.backoff_cap, pacing.backoff_base * 2 ** max(failures - 1, 0))
    return max(rng.uniform(0, ceiling), retry_after or 0.0)


class Backoff:
    """The transient failures of one step (a create, a lookup, a download, the polling)."""

    def __init__(self, pacing: Pacing, *, rng: random.Random, clock: Clock) -> None:
        self._pacing = pacing
        self._rng = rng
        self._clock = clock
        self.failures = 0

    def delay(self, error: ApiError, *, least: float = 0.0) -> float:
        """Count a failure and say how long to wait; GaveUp when there were too many."""
        self.failures += 1
        if self.failures >= self._pacing.transient_limit:
            raise GaveUp(error)
        wait = backoff(self.failures, self._pacing, retry_after=error.retry_after, rng=self._rng)
        return max(least, wait)

    async def pause(
        self,
        error: ApiError,
        *,
        least: float = 0.0,
        announce: Callable[[float], None] | None = None,
    ) -> None:
        """Count a failure and wait (GaveUp instead when there were too many)."""
        seconds = self.delay(error, least=least)
        if announce is not None:
            announce(seconds)
        await self._clock.sleep(seconds)

    def reset(self) -> None:
        self.failures = 0


__all__ = ["Backoff", "GaveUp", "backoff"]
