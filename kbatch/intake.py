"""What a run takes in from its manifest before it opens the state: every job checked, and of
each what the state needs (its fingerprint, kind, slots, price key and target), kept as
validation reads it (a manifest of 100,000 jobs is not held whole); and ``--only`` checked
against the job ids.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from kbatch import pricing
from kbatch.engine.options import RunOptions
from kbatch.errors import ConfigError, ManifestError
from kbatch.manifest import Manifest, validate
from kbatch.manifest.jobs import Job
from kbatch.provider import models
from kbatch.provider.auth import key_problem
from kbatch.provider.catalogue import JobKind
from kbatch.provider.config import Api
from kbatch.provider.protocol import Target
from kbatch.words import plural


@dataclass(frozen=True, slots=True)
class SeenJob:
    """What the state needs of a manifest's job, kept as validation reads it (a manifest of
    100,000 jobs is not held whole): its estimate waits for the manifest's price table, so
    only the key its price depends on is kept."""

    fingerprint: str
    kind: JobKind
    slots: int
    price: pricing.Key
    model: str | None  # the model it asks for (None: not a video job)

    def target(self, api: Api) -> Target:
        """Its kind's route, or its model's path on Kling's new API (``provider.api``)."""
        return models.target_of(self.kind, self.model, api)


Seen = dict[str, SeenJob]  # job id -> what the state needs of it, in the manifest's order


def check_manifest(path: str | Path) -> tuple[Manifest, Seen]:
    """Validate the manifest, noting what the state needs of each job. A job's estimate waits
    for the manifest's price table, so only the few fields its price depends on are kept."""
    seen: Seen = {}
    keys: dict[pricing.Key, pricing.Key] = {}  # one tuple per distinct price key
    names: dict[str | None, str | None] = {}  # likewise for model names

    def keep(job: Job) -> None:
        price, name = pricing.key(job.kind, job.request), models.requested(job.kind, job.request)
        seen[job.id] = SeenJob(
            job.fingerprint,
            job.kind,
            job.slots,
            keys.setdefault(price, price),
            names.setdefault(name, name),
        )

    validation = validate(path, keep=0, on_job=keep)
    if validation.manifest is None:
        raise ManifestError(validation.issues)
    for job_id, merkle in validation.manifest.graph.fingerprints.items():
        seen[job_id] = replace(seen[job_id], fingerprint=merkle)  # with its upstreams'
    return validation.manifest, seen


def fingerprints(seen: Seen) -> Iterator[tuple[str, str]]:
    """Each job's id and fingerprint: a shared state makes one value of them, which every
    runner of the manifest must match."""
    return ((job_id, job.fingerprint) for job_id, job in seen.items())


def check_selection(options: RunOptions, seen: Seen) -> None:
    """``--only`` that matches no job is a mistake: say so before anything is written."""
    if options.only and not any(options.selects(job_id) for job_id in seen):
        globs = " ".join(repr(glob) for glob in options.only)
        jobs = plural(len(seen), "job")
        raise ConfigError(
            f"--only {globs} matches none of the manifest's {jobs}: nothing to run "
            "(kbatch plan lists their ids)"
        )


def redone(options: RunOptions, manifest: Manifest, seen: Seen) -> frozenset[str]:
    """The jobs ``--redo`` makes again: those its globs match (ConfigError if none), with every
    job that takes from them, directly or not."""
    if not options.redo:
        return frozenset()
    chosen = [i for i in seen if any(fnmatch.fnmatchcase(i, glob) for glob in options.redo)]
    if not chosen:
        globs = " ".join(repr(glob) for glob in options.redo)
        raise ConfigError(
            f"--redo {globs} matches none of the manifest's {len(seen)} jobs: nothing to make "
            "again (kbatch plan lists their ids)"
        )
    return frozenset(chosen) | frozenset(manifest.graph.below(chosen))


def check_credentials(
    manifest: Manifest, options: RunOptions, seen: Seen, env: Mapping[str, str] | None = None
) -> None:
    """Jobs bound for Kling's new API need its API key (a JWT pair opens only the /v1 routes):
    ConfigError naming the variable to set, before anything is written or sent."""
    api = manifest.provider.api
    targets = (job.target(api) for job_id, job in seen.items() if options.selects(job_id))
    problem = key_problem(manifest.provider, targets, os.environ if env is None else env)
    if problem is not None:
        raise ConfigError(problem)


__all__ = [
    "Seen",
    "SeenJob",
    "check_credentials",
    "check_manifest",
    "check_selection",
    "fingerprints",
    "redone",
]
