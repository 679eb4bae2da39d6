"""The batched lane of the poller: every watched task of Kling's new API asked for in one
``GET /tasks?task_ids=`` a round, at the provider's pace, in batches of the size it takes.

::

    batches = Batches(provider, floor=1.0, clock=clock)
    size = batches.size(target)      # the provider's id limit, or the size it last accepted
    await batches.pace()             # one status request per ``floor``, halves included
    batches.refused(12); batches.accepted(6)

A batch the provider refuses as a whole (too many ids: its limit may be lower than it says) is
halved; the size it then accepts is remembered for every later round, so the refusals are paid
once, at their discovery, not every round.
"""

from __future__ import annotations

from kbatch.engine.clock import Clock
from kbatch.provider.protocol import Provider, Target


class Batched:
    """The lane of every target whose status comes in batches (Kling's new API, ``GET
    /tasks?task_ids=``): one round asks for all their tasks, at the provider's pace."""

    def __repr__(self) -> str:
        return "batched"


BATCHED = Batched()


class Batches:
    """What the batched lane learnt of the provider's batches, and its pace."""

    def __init__(self, client: Provider, *, floor: float, clock: Clock) -> None:
        self._client = client
        self._floor = floor
        self._clock = clock
        self._next = float("-inf")  # when the next status request of the lane may go
        #: The smallest batch refused, and the largest accepted below it (None: none yet).
        self.too_big: int | None = None
        self.fits: int | None = None

    @property
    def last(self) -> float:
        """When the lane's latest request went (minus infinity: none yet)."""
        return self._next - self._floor

    def size(self, target: Target) -> int:
        """Ids a request: the provider's limit until it refused a batch, then the largest it
        accepted since (never more than it refused)."""
        limit = self._client.status_batch(target)
        if self.too_big is None:
            return limit
        return max(1, min(limit, self.too_big - 1, self.fits or self.too_big // 2))

    def refused(self, size: int) -> None:
        if size > 1:
            self.too_big = size if self.too_big is None else min(self.too_big, size)
            if self.fits is not None and self.fits >= self.too_big:
                self.fits = None

    def accepted(self, size: int) -> None:
        if self.too_big is not None and size < self.too_big:
            self.fits = max(self.fits or 0, size)

    async def pace(self) -> None:
        """Wait until the lane may send its next status request (``floor`` after the last)."""
        now = self._clock.monotonic()
        if self._next > now:
            await self._clock.sleep(self._next - now)
            now = self._clock.monotonic()
        self._next = now + self._floor


__all__ = ["BATCHED", "Batched", "Batches"]
