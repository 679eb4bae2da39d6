"""How long tasks take, learnt as the run goes, and when to look at a task next.

::

    durations = Durations()
    durations.observe(key, 94.0)           # a finished task: the provider's created→updated
    window = durations.expect(key)         # Window(low=..., typical=..., high=...)
    pause = next_pause(age=80.0, window=window, floor=1.0, longest=60.0)

A task is polled sparsely before the shortest duration seen for tasks like it (same kind, model,
mode and duration: :func:`kbatch.pricing.key`), densely (a small fraction of the typical
duration) until the longest, then less and less often. A key with too few finished tasks
borrows its kind's, and a kind with none starts from the catalogue's priors, polled in
proportion to the task's age: the lag of noticing a finish stays a small share of the task.

Durations come from the provider's own ``created_at`` and ``updated_at`` where it reports them
(not from when kbatch noticed, which would feed the lag back into the window), and earlier
runs' state gives a first, wider guess before this run has seen any task finish.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field

from kbatch.provider.catalogue import PACK, JobKind, PackType

#: The share of a task's typical duration between two looks while its end is due: half of it,
#: on average, is the lag before a finished task is noticed (1%).
DENSE = 0.02
#: With nothing learnt, the pause is this share of the task's age.
BY_AGE = 0.03
#: How many recent durations are kept per key.
KEEP = 64
#: Finished tasks of a key needed before its own window is trusted.
ENOUGH = 3
#: Before any task of a pack has finished: the shortest plausible task, in seconds.
PRIOR_LOW = {PackType.IMAGE: 5.0, PackType.VIDEO: 20.0}


@dataclass(frozen=True, slots=True)
class Window:
    """When a task's end is expected, in seconds after its creation. ``high`` None: unknown."""

    low: float
    typical: float | None = None
    high: float | None = None


@dataclass
class Durations:
    """Recent task durations per key and per kind."""

    by_key: dict[Hashable, deque[float]] = field(default_factory=dict)
    by_kind: dict[JobKind, deque[float]] = field(default_factory=dict)
    earlier: dict[Hashable, deque[float]] = field(default_factory=dict)  # earlier runs' state

    def observe(self, kind: JobKind, key: Hashable | None, seconds: float) -> None:
        if seconds <= 0:
            return
        self.by_kind.setdefault(kind, deque(maxlen=KEEP)).append(seconds)
        if key is not None:
            self.by_key.setdefault(key, deque(maxlen=KEEP)).append(seconds)

    def remember(self, key: Hashable, seconds: float) -> None:
        """A duration an earlier run saw (submit to noticed: it includes that run's lag)."""
        if seconds > 0:
            self.earlier.setdefault(key, deque(maxlen=KEEP)).append(seconds)

    def expect(self, kind: JobKind, key: Hashable | None) -> Window:
        own = self.by_key.get(key) if key is not None else None
        if own is not None and len(own) >= ENOUGH:
            return _window(own)
        pooled = self.by_kind.get(kind)
        if pooled is not None and len(pooled) >= ENOUGH:
            return _widened(_window(pooled))
        before = self.earlier.get(key) if key is not None else None
        if before:
            return _widened(_window(before))
        return Window(PRIOR_LOW[PACK[kind]])


def _window(samples: deque[float]) -> Window:
    ordered = sorted(samples)
    count = len(ordered)
    low = ordered[int(0.05 * (count - 1))]
    high = ordered[round(0.95 * (count - 1))]
    typical = ordered[count // 2]
    return Window(0.9 * low, typical, 1.1 * high)


def _widened(window: Window) -> Window:
    """A window borrowed from other tasks: begin earlier, and end by age."""
    return Window(0.5 * window.low, window.typical, None)


def next_pause(*, age: float, window: Window, floor: float, longest: float) -> float:
    """Seconds until a task of this ``age`` (since its creation) is next looked at."""
    if age < window.low:
        pause = min(window.low - age, longest)
    elif window.high is not None and window.typical is not None and age <= window.high:
        pause = DENSE * window.typical
    else:
        pause = BY_AGE * age  # unknown end, or later than any seen: grow with the age
    return min(max(pause, floor), longest)


def batched_pause(*, age: float, window: Window, floor: float, longest: float) -> float:
    """The same for a task whose status comes in batches (one request answers for every
    watched task: a look costs nothing more per task): at the pace from the moment it could be
    ending, sparsely only before (the round asks at the pace while any task could be ending,
    less while none could)."""
    if age < window.low:
        return min(max(window.low - age, floor), longest)
    return min(floor, longest)


__all__ = ["Durations", "Window", "batched_pause", "next_pause"]
