"""What the commands show of a pipeline (jobs that take from others, ``job:<id>``): ``plan``'s
stages (a job's depth in the graph: the jobs, slot-tasks and estimate per pack of each), and
``show``'s links (the jobs a job takes from, and those that take from it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from kbatch.engine.readiness import Standing, judge
from kbatch.manifest import Validation
from kbatch.pricing import show_units
from kbatch.store import JobRow, JobState


def stage_lines(validation: Validation) -> list[str]:
    """``plan``'s stages, when a job of the manifest takes from another (else nothing)."""
    manifest = validation.manifest
    if manifest is None or not manifest.graph.piped:
        return []
    lines = ["stages (a job's depth in the pipeline; stages overlap, no stage waits for another):"]
    total: dict[Any, float] = {}
    for depth, stage in manifest.graph.depths.items():
        slots = ", ".join(f"{pack.value} {n}" for pack, n in sorted(stage.slots.items()))
        units = stage.units(manifest.pricing)
        for pack, value in units.items():
            total[pack] = total.get(pack, 0.0) + value
        jobs = f"{stage.jobs} job" + ("s" if stage.jobs != 1 else "")
        lines.append(
            f"  stage {depth}: {jobs}, slot-tasks {slots}, estimate {show_units(units)} units"
        )
    lines.append(f"  whole pipeline: estimate {show_units(total)} units (one attempt per job)")
    return lines


def stages(validation: Validation) -> list[dict[str, Any]]:
    """``plan --format json``'s stages: per depth, the jobs, slot-tasks and estimate per pack
    (an empty list when no job of the manifest takes from another)."""
    manifest = validation.manifest
    if manifest is None or not manifest.graph.piped:
        return []
    return [
        {
            "depth": depth,
            "jobs": stage.jobs,
            "slot_tasks": {pack.value: n for pack, n in sorted(stage.slots.items())},
            "estimated_units": {
                pack.value: value for pack, value in sorted(stage.units(manifest.pricing).items())
            },
        }
        for depth, stage in manifest.graph.depths.items()
    ]


def waiting(validation: Validation, rows: Mapping[str, JobRow]) -> int:
    """Pending jobs of the state that wait for a job they take from (not yet done)."""
    manifest = validation.manifest
    if manifest is None or not manifest.graph.piped:
        return 0
    download = manifest.output.download
    count = 0
    for job_id, ups in manifest.graph.upstreams.items():
        row = rows.get(job_id)
        if row is None or row.state is not JobState.PENDING or not ups:
            continue
        found = {up: r for up in ups if (r := rows.get(up)) is not None}
        count += judge(ups, found, download=download).standing is Standing.WAITING
    return count


def links(validation: Validation, job_id: str) -> dict[str, list[str]]:
    """The jobs a job takes from, and those that take from it (directly)."""
    manifest = validation.manifest
    if manifest is None:
        return {"takes_from": [], "taken_by": []}
    graph = manifest.graph
    return {
        "takes_from": list(graph.upstreams.get(job_id, ())),
        "taken_by": list(graph.dependents.get(job_id, ())),
    }


def print_links(doc: dict[str, Any]) -> None:
    """``show``'s lines of a job in a pipeline."""
    if doc.get("takes_from"):
        click.echo(f"takes from: {', '.join(doc['takes_from'])}")
    if doc.get("taken_by"):
        click.echo(f"taken by: {', '.join(doc['taken_by'])}")


__all__ = ["links", "print_links", "stage_lines", "stages", "waiting"]
