"""The simulator's memory across processes: its tasks, kept in a file, as Kling keeps them.

The in-process simulator (``provider: simulator``) lives only as long as a ``kbatch run``. Kling
does not forget a task when a client stops, so neither does the simulator: each task is appended
to a JSON-lines file (beside the state) before its create is answered, and a later simulator
reads the file back. Tasks go on "running" by the wall clock meanwhile, keep their slots and
answer lookups by external id, so an interrupted run resumes exactly as against Kling.

Input images are not kept (only their sizes): a task read back renders its results from a
gradient of the same size, as for an image given by URL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from kbatch.provider.catalogue import JobKind
from kbatch.simulator.rules import Picture, Request
from kbatch.simulator.tasks import SimTask

_IMAGE_PLACEHOLDER = "<image>"


class TaskJournal:
    """Appends tasks to a file and reads them back. Lines are flushed to the OS as written,
    so a killed process loses none that was answered."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def load(self, clock: Callable[[], float]) -> Iterator[SimTask | str]:
        """The tasks written so far (and the ids of tasks since forgotten), oldest first, with
        their start on ``clock``'s scale (the wall clock is what persists)."""
        if not self.path.exists():
            return
        offset = time.time() - clock()
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash: that create was never answered
                if "forget" in record:
                    yield str(record["forget"])
                else:
                    yield _task(record, offset)

    def add(self, task: SimTask) -> None:
        self._write(_record(task))

    def forget(self, task_id: str) -> None:
        self._write({"forget": task_id})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()


def _record(task: SimTask) -> dict[str, Any]:
    pictures = task.request.pictures
    fields = {
        name: _IMAGE_PLACEHOLDER if name in pictures else value
        for name, value in task.request.fields.items()
    }
    return {
        "task_id": task.task_id,
        "kind": task.kind.value,
        "fields": fields,
        "pictures": {name: [p.width, p.height] for name, p in pictures.items()},
        "external_task_id": task.external_task_id,
        "started_ms": task.started_ms,
        "seconds": task.seconds,
        "fail_message": task.fail_message,
    }


def _task(record: dict[str, Any], offset: float) -> SimTask:
    kind = JobKind(record["kind"])
    pictures = {name: Picture(None, int(w), int(h)) for name, (w, h) in record["pictures"].items()}
    return SimTask(
        task_id=str(record["task_id"]),
        kind=kind,
        request=Request(kind, record["fields"], pictures),
        external_task_id=record.get("external_task_id"),
        started=record["started_ms"] / 1000 - offset,
        started_ms=int(record["started_ms"]),
        seconds=float(record["seconds"]),
        fail_message=record.get("fail_message"),
    )


__all__ = ["TaskJournal"]
