"""What a run is asked to do beyond the manifest, why it stopped, and how it stands."""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kbatch.engine.pacing import Pacing
from kbatch.pricing import Units
from kbatch.provider.catalogue import PackType
from kbatch.provider.config import Listen
from kbatch.provider.transport import Timeouts
from kbatch.store.records import JobState
from kbatch.store.seats import LEASE, Role


class StopReason(enum.StrEnum):
    INTERRUPTED = "interrupted"  # SIGINT / SIGTERM
    FATAL = "fatal"  # the provider refuses every further request (credentials, arrears, ...)
    UNAVAILABLE = "unavailable"  # the provider kept failing: try again later
    STATE = "state"  # the state cannot be written (disk full)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What ``kbatch run`` takes from the command line; None leaves the manifest's value.

    >>> RunOptions(only=("shot-*",)).selects("shot-1"), RunOptions().selects("any")
    (True, True)
    """

    max_in_flight: int | None = None
    budget: float | None = None  # units, for each pack
    only: tuple[str, ...] = ()
    retry_failed: bool = False
    #: Jobs to make again on purpose (globs), with every job that takes from them.
    redo: tuple[str, ...] = ()
    #: A file, or a postgresql:// URL (a shared state): never in a repr, it may hold a password.
    state_path: Path | str | None = field(default=None, repr=False)
    pacing: Pacing = field(default_factory=Pacing)
    timeouts: Timeouts = field(default_factory=Timeouts)
    seed: int | None = None
    take_output: bool = False  # make this state the output folder's owner (store.owner)
    listen: Listen | None = None  # receive callbacks here (engine.callbacks)
    role: Role = Role.ALL  # in a shared state: submit, download, or both
    lease: float = LEASE  # in a shared state: seconds a runner holds its jobs unheard

    def budgets(self, manifest: Mapping[PackType, float]) -> dict[PackType, float]:
        """Each pack's budget: ``--budget`` for each pack, else the manifest's ``budget_units``."""
        if self.budget is not None:
            return dict.fromkeys(PackType, self.budget)
        return dict(manifest)

    def downloads(self, wanted: bool) -> bool:
        """Whether this run downloads results the manifest wants (``output.download``): a
        shared state's ``--role submit`` leaves them to downloaders, and is done at success."""
        return wanted and self.role is not Role.SUBMIT

    def selects(self, job_id: str) -> bool:
        return not self.only or any(fnmatch.fnmatchcase(job_id, glob) for glob in self.only)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """How a run stands, for a progress display: jobs of the manifest by state, slots in use
    and their target over both pack types, units spent, and how many creates were accepted."""

    counts: Mapping[JobState, int]
    selected: int  # jobs this run means to finish (--only)
    in_flight: int
    target: int
    units: Units  # spent, per pack
    submitted: int  # creates the provider accepted in this run
    #: Per pack the manifest's jobs use: (slots in use, target). Kling counts slots per pack,
    #: so the sums above are for a glance only; this is what fills or idles.
    slots: Mapping[PackType, tuple[int, int]] = field(default_factory=dict)
    #: Local files for the media store (media: store): (ready, started, bytes uploaded); None
    #: when the run uploads nothing.
    uploads: tuple[int, int, int] | None = None
    #: Pending jobs that wait for a job they take from (``job:<id>``) to be done.
    waiting: int = 0


__all__ = ["Role", "RunOptions", "Snapshot", "StopReason"]
