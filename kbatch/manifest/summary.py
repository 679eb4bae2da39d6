"""Counts over a manifest's valid jobs, as validation sees them: per kind, per pack, per price
key, and per API (Kling's ``/v1`` routes or its new path-addressed API, where
``models.choose`` sends each job), and the first few jobs, for ``kbatch validate`` and ``plan``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from kbatch import pricing
from kbatch.manifest.jobs import Job
from kbatch.pricing import PriceTable
from kbatch.provider import catalogue, models
from kbatch.provider.catalogue import JobKind, PackType
from kbatch.provider.config import Api
from kbatch.provider.protocol import ModelPath


@dataclass
class Summary:
    """Counts over a manifest's jobs, and the first few of them."""

    keep: int = 10
    total: int = 0
    by_kind: Counter[JobKind] = field(default_factory=Counter)
    slots_by_kind: Counter[JobKind] = field(default_factory=Counter)
    largest_task: int = 0
    first: list[Job] = field(default_factory=list)
    prices: Counter[pricing.Key] = field(default_factory=Counter)  # jobs per price key
    #: The manifest's ``provider.api``, which decides where a job of a model on both APIs goes.
    api: Api = Api.AUTO
    #: Jobs per API they go to (``legacy``: the ``/v1`` routes; ``new``: a model's path).
    by_api: Counter[Api] = field(default_factory=Counter)

    def add(self, job: Job) -> None:
        self.total += 1
        self.by_kind[job.kind] += 1
        self.slots_by_kind[job.kind] += job.slots
        self.prices[pricing.key(job.kind, job.request)] += 1
        target = models.choose(job.kind, job.request, self.api)
        self.by_api[Api.NEW if isinstance(target, ModelPath) else Api.LEGACY] += 1
        self.largest_task = max(self.largest_task, job.slots)
        if len(self.first) < self.keep:
            self.first.append(job)

    def slots_by_pack(self) -> dict[PackType, int]:
        """Slot-tasks per pack type: what the jobs hold in all, one slot for one task."""
        out: Counter[PackType] = Counter()
        for kind, count in self.slots_by_kind.items():
            out[catalogue.PACK[kind]] += count
        return dict(sorted(out.items()))

    def units_by_kind(self, table: PriceTable) -> dict[JobKind, float]:
        """Estimated units per kind, one attempt per job, from a price table."""
        out: dict[JobKind, float] = dict.fromkeys(sorted(self.by_kind), 0.0)
        for key, count in self.prices.items():
            out[key[0]] += table.price(key) * count
        return out


__all__ = ["Summary"]
