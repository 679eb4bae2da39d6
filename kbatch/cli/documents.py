"""What ``--format json`` prints: the same facts as the text output, as one JSON document, for
scripts and CI. Units stay per pack (video and image units are different currencies)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kbatch.cli import pipelines
from kbatch.images import ImageInput
from kbatch.manifest import Validation
from kbatch.manifest.issues import Issue
from kbatch.manifest.jobs import Job
from kbatch.pricing import Units
from kbatch.provider.catalogue import PACK
from kbatch.reports.sources import given
from kbatch.reports.totals import Totals
from kbatch.store import AttemptRow, JobRow, MediaRow, StateStatus


def dump(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, default=str)


def issue(item: Issue) -> dict[str, Any]:
    where = item.location
    return {
        "file": where.file,
        "line": where.line,
        "column": where.column,
        "path": item.path,
        "message": item.message,
    }


def validation(result: Validation) -> dict[str, Any]:
    summary = result.summary
    return {
        "manifest": str(result.path),
        "valid": result.ok,
        "jobs": summary.total,
        "by_kind": {kind.value: count for kind, count in sorted(summary.by_kind.items())},
        "issues": [issue(item) for item in result.issues],
        **_media(result),
    }


def _media(result: Validation) -> dict[str, Any]:
    """The local files a run sends by URL (media:), when there are any: count, bytes, paths."""
    uploads = result.uploads
    if not uploads.count:
        return {}
    files = [{"path": path, "bytes": uploads.sizes[sha]} for sha, path in uploads.paths.items()]
    return {"media": {"files": uploads.count, "bytes": uploads.bytes, "paths": files}}


def plan(result: Validation, held: tuple[StateStatus, Totals] | None) -> dict[str, Any]:
    settings, summary = result.manifest, result.summary
    assert settings is not None
    units = summary.units_by_kind(settings.pricing)
    return {
        **validation(result),
        "provider": settings.provider.name.value,
        "output": str(settings.output.dir),
        "kinds": {
            kind.value: {
                "pack": PACK[kind].value,
                "jobs": count,
                "slot_tasks": summary.slots_by_kind[kind],
                "estimated_units": units[kind],
            }
            for kind, count in sorted(summary.by_kind.items())
        },
        "budget_units": _units(settings.limits.budget_units),
        "largest_task": summary.largest_task,
        "first": [job_line(job) for job in summary.first],
        "stages": pipelines.stages(result),
        "state": None if held is None else status(*held),
    }


def job_line(job: Job) -> dict[str, Any]:
    prompt = job.request.get("prompt")
    return {"id": job.id, "kind": job.kind.value, "slots": job.slots, "prompt": prompt}


def status(state: StateStatus, totals: Totals, waiting: int = 0) -> dict[str, Any]:
    holder = state.holder
    return {
        "counts": {job_state.value: count for job_state, count in state.counts.items()},
        "waiting": waiting,  # of the pending: waiting for a job they take from
        "removed": state.removed,
        "in_flight_slots": state.in_flight_slots,
        "totals": totals.record(),
        "running": None
        if holder is None
        else {"pid": holder.pid, "host": holder.host, "since": holder.since},
        "last_error": None
        if state.last_error is None
        else {"job": state.last_error[0], "message": state.last_error[1]},
        "account": None
        if state.account is None
        else {
            "name": state.account,
            "slots": {
                s.pack.value: {"in_use": s.in_use, "target": s.target, "limit": s.limit}
                for s in state.slots
            },
            "runners": [
                {
                    "manifest": r.manifest,
                    "host": r.host,
                    "pid": r.pid,
                    "role": r.role,
                    "heartbeat_age": round(r.heartbeat_age, 3),
                    "held": r.held,
                    "alive": r.alive,
                }
                for r in state.runners
            ],
        },
    }


def job(
    row: JobRow,
    attempts: list[AttemptRow],
    media: list[MediaRow],
    request: dict[str, Any] | None,
    output_dir: Path,
) -> dict[str, Any]:
    """One job: its state, every attempt (a joblog), its request as sent, files and error."""
    return {
        "id": row.id,
        "kind": row.kind.value,
        "pack": PACK[row.kind].value,
        "state": row.state.value,
        "task_id": row.task_id,
        "external_task_id": row.external_task_id,
        "units": row.units,
        "charged": row.charged,
        "charged_units": row.charged_units,
        "charged_amount": row.charged_amount,
        "charged_currency": row.charged_currency,
        "error": None
        if row.error_reason is None
        else {"reason": row.error_reason, "code": row.error_code, "message": row.error_message},
        "attempts": [_attempt(a, row.fingerprint) for a in attempts],
        "versions": versions(attempts, row.fingerprint),
        "files": [
            {
                "index": m.index,
                "variant": m.variant or None,
                "path": str(output_dir / m.path) if m.path else None,
                "size": m.size,
                "sha256": m.sha256,
                "url": m.url,
            }
            for m in media
        ],
        "request": request,
    }


def _attempt(a: AttemptRow, current: str) -> dict[str, Any]:
    return {
        "attempt": a.attempt,
        "version": a.fingerprint or None,
        "current_version": a.fingerprint == current,
        "sent_to": a.target,
        "external_task_id": a.external_task_id,
        "task_id": a.task_id,
        "started": a.started_at,
        "ended": a.ended_at,
        "outcome": a.outcome,
        "units": a.units,
        "charged": a.charged,
        "charged_units": a.charged_units,
        "charged_pack": a.charged_pack,
        "charged_amount": a.charged_amount,
        "charged_currency": a.charged_currency,
        "charged_cash_type": a.charged_cash_type,
        "message": a.message,
    }


def versions(attempts: list[AttemptRow], current: str) -> list[dict[str, Any]]:
    """A job's attempts grouped by the version of the job (its fingerprint) they were sent for,
    in the order given (the store's: oldest version first); a version not recorded (attempts
    an older kbatch kept) is ``None``.

    >>> tried = [AttemptRow("a", 1, "kb-1", fingerprint="old"), AttemptRow("a", 1, "kb-2")]
    >>> [(v["version"], v["current"], len(v["attempts"])) for v in versions(tried, "new")]
    [('old', False, 1), (None, False, 1)]
    """
    out: list[dict[str, Any]] = []
    for a in attempts:
        version = a.fingerprint or None
        if not out or out[-1]["version"] != version:
            out.append({"version": version, "current": a.fingerprint == current, "attempts": []})
        out[-1]["attempts"].append(_attempt(a, current))
    return out


def request_echo(request: Mapping[str, Any], base_dir: Path) -> dict[str, Any]:
    """A job's request as it goes out, its images as the manifest gave them (a file relative
    to the manifest's folder ``base_dir``, a URL as written, base64 as its length)."""

    def echo(value: Any) -> Any:
        if isinstance(value, ImageInput):
            return given(value, base_dir)
        if isinstance(value, Mapping):
            return {key: echo(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [echo(item) for item in value]
        return value

    return {name: echo(value) for name, value in request.items()}


def _units(units: Units) -> dict[str, float]:
    return {pack.value: amount for pack, amount in sorted(units.items())}


__all__ = ["dump", "issue", "job", "plan", "request_echo", "status", "validation"]
