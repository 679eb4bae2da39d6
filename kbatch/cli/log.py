"""The run's log: one line per event, as plain text for people and cron, or JSON for machines.

::

    12:04:31 submitted   cat-yawn: task 860000000000000001 (attempt 1)
    {"time": "2026-11-21T12:04:31.120Z", "event": "submitted", "job": "cat-yawn", "message": "..."}

Messages come from the engine, which never puts a credential in one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from kbatch.engine.events import Event

Format = Callable[[Event], str]


def text(event: Event) -> str:
    clock = time.strftime("%H:%M:%S", time.localtime(event.time))
    subject = f"{event.job}: " if event.job else ""
    return f"{clock} {event.name:<11} {subject}{event.message}"


def stamp(seconds: float) -> str:
    """UTC to the millisecond: ``2026-11-21T12:04:31.120Z``."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{whole}.{int(seconds * 1000) % 1000:03d}Z"


def json_line(event: Event) -> str:
    record = {
        "time": stamp(event.time),
        "event": event.name,
        "job": event.job,
        "message": event.message,
        **event.data,
    }
    return json.dumps(record, ensure_ascii=False)


FORMATS: dict[str, Format] = {"text": text, "json": json_line}
