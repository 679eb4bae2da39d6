"""Tasks as the new path-addressed API shows them (``kling-3.0-turbo-t2v.md``): the create
answer's ``data``, and the task object of ``GET /tasks``, ``POST /tasks`` and callbacks, with
``outputs[]`` and ``billing[]``. Statuses are ``submitted``, ``processing``, ``succeeded`` and
``failed`` (the old routes say ``succeed``).
"""

from __future__ import annotations

from typing import Any

from kbatch.provider.wire import TaskStatus
from kbatch.simulator.tasks import EMPTY_URL, SimTask

STATUS = {
    TaskStatus.SUBMITTED: "submitted",
    TaskStatus.PROCESSING: "processing",
    TaskStatus.SUCCEED: "succeeded",
    TaskStatus.FAILED: "failed",
}


def created(task: SimTask) -> dict[str, Any]:
    """The ``data`` of a create's answer."""
    return {
        "id": task.task_id,
        "status": "submitted",
        "create_time": task.started_ms,
        "update_time": task.started_ms,
        "external_id": task.external_task_id or "",
    }


def status_of(task: SimTask, now: float) -> str:
    return STATUS[task.status(now)]


def task_json(task: SimTask, now: float, base_url: str) -> dict[str, Any]:
    """The task object: id, status, message, times, external id, outputs, billing."""
    status = task.status(now)
    elapsed = max(min(now - task.started, task.seconds), 0)
    out: dict[str, Any] = {
        "id": task.task_id,
        "status": STATUS[status],
        "message": (task.fail_message or "") if status is TaskStatus.FAILED else "",
        "create_time": task.started_ms,
        "update_time": task.started_ms + int(elapsed * 1000),
        "external_id": task.external_task_id or "",
        "outputs": [],
        "billing": [],
    }
    if status is TaskStatus.SUCCEED:
        out["outputs"] = [_video(task, base_url)]
    if status.finished:
        out["billing"] = task.billing()
    return out


def _video(task: SimTask, base_url: str) -> dict[str, Any]:
    empty = EMPTY_URL in str(task.request.fields.get("prompt", ""))
    url = "" if empty else f"{base_url}/media/{task.task_id}/0.mp4"
    marked = f"{base_url}/media/{task.task_id}/0.watermark.mp4" if task.watermarked else ""
    return {
        "type": "video",
        "id": f"{task.task_id}-v0",
        "url": url,
        "watermark_url": marked,
        "duration": str(task.request.fields.get("duration", "5")),
    }


__all__ = ["STATUS", "created", "status_of", "task_json"]
