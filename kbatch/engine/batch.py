"""What a run works on: a manifest in line with its state (see :func:`kbatch.run.prepare`)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

from kbatch.engine.durations import Durations
from kbatch.engine.options import RunOptions
from kbatch.manifest import Manifest
from kbatch.provider.protocol import Target
from kbatch.store.protocol import StateStore
from kbatch.store.records import JobRow, JobState


@dataclass
class Batch:
    """A manifest, its open state, and the rows the run starts from."""

    manifest: Manifest
    store: StateStore
    options: RunOptions
    ids: list[str]  # the manifest's jobs, in order
    rows: dict[str, JobRow]
    resumed: list[JobRow]  # at the provider, or succeeded and not yet downloaded
    #: Each job's price key (kind, model, mode, duration), which also says how long it takes.
    keys: Mapping[str, Hashable] = field(default_factory=dict)
    #: Where each job goes (``Provider.target``): jobs not named go to their kind's route.
    targets: Mapping[str, Target] = field(default_factory=dict)

    def durations(self) -> Durations:
        """What earlier runs' finished tasks say about how long tasks take, as a first guess."""
        durations = Durations()
        for job_id in self.ids:
            row, key = self.rows[job_id], self.keys.get(job_id)
            if key is None or row.state not in (JobState.SUCCEEDED, JobState.DOWNLOADED):
                continue
            if row.submitted_at is not None and row.finished_at is not None:
                durations.remember(key, row.finished_at - row.submitted_at)
        return durations


__all__ = ["Batch"]
