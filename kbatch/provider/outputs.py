"""The new API's task objects as :class:`~kbatch.provider.wire.Task`: one record for both APIs.

A new-API task is ``{id, status, message, create_time, update_time, external_id, outputs[],
billing[]}`` (the vendor's pages): ``succeeded`` is ``TaskStatus.SUCCEED``, video and image
``outputs`` are :class:`~kbatch.provider.wire.Media` (with ``watermark_url``), ``billing[]`` is
the task's :class:`~kbatch.provider.wire.Charge` list. Times are ms since the epoch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kbatch.provider.wire import (
    Charge,
    ChargeType,
    Media,
    MediaKind,
    Task,
    TaskStatus,
    int_or_none,
    parse_task,
    text_or_none,
)

#: The new API spells success ``succeeded``; the /v1 routes ``succeed``.
STATUSES: Mapping[str, TaskStatus] = {
    "submitted": TaskStatus.SUBMITTED,
    "processing": TaskStatus.PROCESSING,
    "succeeded": TaskStatus.SUCCEED,
    "failed": TaskStatus.FAILED,
}
#: Output types that are files of a job's result; audio, voice and element outputs are not.
_FILES = {"video": MediaKind.VIDEO, "image": MediaKind.IMAGE}


def parse_new_task(obj: Any) -> Task:
    """A Task from a new-API task object; ValueError when it is not one.

    >>> task = parse_new_task({"id": "8936", "status": "succeeded", "external_id": "kb-1",
    ...     "outputs": [{"type": "video", "id": "v1", "url": "https://cdn/v.mp4",
    ...                  "watermark_url": "https://cdn/w.mp4", "duration": "5.1"}],
    ...     "billing": [{"charge_type": "unit", "amount": "4", "package_type": "video"}]})
    >>> task.status, task.external_task_id, task.media[0].watermark_url, task.units
    (<TaskStatus.SUCCEED: 'succeed'>, 'kb-1', 'https://cdn/w.mp4', 4.0)
    """
    if not isinstance(obj, Mapping):
        raise ValueError(f"a task must be an object, not {type(obj).__name__}")
    task_id = obj.get("id")
    if not isinstance(task_id, str | int) or isinstance(task_id, bool) or task_id == "":
        raise ValueError("the task has no id")
    status = STATUSES.get(str(obj.get("status", "")).lower())
    if status is None:
        raise ValueError(f"unknown status {obj.get('status')!r}")
    return Task(
        task_id=str(task_id),
        status=status,
        status_msg=str(obj.get("message") or ""),
        external_task_id=text_or_none(obj.get("external_id")),
        created_at=int_or_none(obj.get("create_time")),
        updated_at=int_or_none(obj.get("update_time")),
        media=_media(obj.get("outputs")),
        charges=_charges(status, obj.get("billing")),
    )


def _charges(status: TaskStatus, billing: Any) -> tuple[Charge, ...]:
    """A task's charges. A failed task's empty ``billing: []`` says it was not charged: 0
    units, as the ``/v1`` routes say ``final_unit_deduction: "0"`` of the same failure (Kling
    deducts for what it generated; a failed task generated nothing). An absent ``billing``, or
    an empty one of a task not failed, says nothing (the estimate then counts).

    >>> _charges(TaskStatus.FAILED, [])[0].units, _charges(TaskStatus.FAILED, None)
    (0.0, ())
    >>> _charges(TaskStatus.SUCCEED, [])
    ()
    """
    if status is TaskStatus.FAILED and isinstance(billing, list) and not billing:
        return (Charge(ChargeType.UNIT, "0"),)
    return parse_billing(billing)


def parse_either(obj: Any) -> Task:
    """A Task from either API's task object (a callback's body, say): ``task_id`` is the /v1
    shape, ``id`` the new one. ValueError when it is neither.

    >>> parse_either({"task_id": "1", "task_status": "succeed"}).status
    <TaskStatus.SUCCEED: 'succeed'>
    >>> parse_either({"id": "2", "status": "succeeded"}).status
    <TaskStatus.SUCCEED: 'succeed'>
    """
    if isinstance(obj, Mapping) and "task_id" in obj:
        return parse_task(obj)
    return parse_new_task(obj)


def _media(outputs: Any) -> tuple[Media, ...]:
    media: list[Media] = []
    for position, item in enumerate(outputs if isinstance(outputs, list) else ()):
        kind = _FILES.get(str(item.get("type"))) if isinstance(item, Mapping) else None
        if kind is None:
            continue
        if not isinstance(item.get("url"), str) or not item["url"]:
            raise ValueError(f"outputs[{position}] has no url")
        media.append(
            Media(
                kind=kind,
                index=len(media),
                url=item["url"],
                id=text_or_none(item.get("id")),
                duration=text_or_none(item.get("duration")),
                watermark_url=text_or_none(item.get("watermark_url")),
            )
        )
    return tuple(media)


def parse_billing(billing: Any) -> tuple[Charge, ...]:
    """``billing[]``: ``charge_type`` unit (with ``package_type``) or cash (with ``cash_type``,
    ``currency``, ``list_price``), ``amount`` a decimal string. An entry of a type kbatch does not
    know is skipped: a charge is a report, never a reason to fail a task."""
    charges = []
    for item in billing if isinstance(billing, list) else ():
        if not isinstance(item, Mapping) or item.get("amount") in (None, ""):
            continue
        try:
            kind = ChargeType(str(item.get("charge_type", "")).lower())
        except ValueError:
            continue
        charges.append(
            Charge(
                kind,
                str(item["amount"]),
                package_type=text_or_none(item.get("package_type")),
                currency=text_or_none(item.get("currency")),
                cash_type=text_or_none(item.get("cash_type")),
                list_price=text_or_none(item.get("list_price")),
            )
        )
    return tuple(charges)


__all__ = ["STATUSES", "parse_billing", "parse_either", "parse_new_task"]
