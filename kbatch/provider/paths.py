"""The client for Kling's path-addressed API: the model in the path, tasks asked for in batches.

::

    async with PathClient(base_url="https://api-singapore.klingai.com", auth=BearerKey(key)) as c:
        target = ModelPath(JobKind.TEXT2VIDEO, "text-to-video/kling-3.0-turbo")
        task = await c.create(target, job.request, external_task_id="kb-...")  # ExternalIdTaken
        tasks = await c.statuses(target, ["t1", "t2"])       # GET /tasks?task_ids=t1,t2
        task = await c.find(target, "kb-...")                 # GET /tasks?external_task_ids=kb-...

It implements :class:`~kbatch.provider.protocol.Provider` for :class:`ModelPath` targets, with the
``/v1`` client's error taxonomy (:func:`~kbatch.provider.transport.api_error`), its downloads and
its scrubbing (:mod:`kbatch.provider.exchange`). Only a Bearer API key opens this API: a JWT of an
access/secret pair is valid on the ``/v1`` routes only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from kbatch import images
from kbatch.errors import (
    ExternalIdTaken,
    JobRejected,
    OutcomeUnknown,
    RetryLater,
    RouteNotServed,
    TaskNotFound,
)
from kbatch.images import ImageInput
from kbatch.provider import bodies, contents, exchange, models, wire
from kbatch.provider.auth import Auth
from kbatch.provider.catalogue import PAGE_SIZE, JobKind
from kbatch.provider.config import Api
from kbatch.provider.outputs import parse_new_task
from kbatch.provider.protocol import ModelPath, Page, Target
from kbatch.provider.transport import Timeouts, api_error
from kbatch.provider.wire import Task
from kbatch.videos import SAMPLE_SCHEME


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of ``POST /tasks``: its tasks, the cursor of the next page, whether there is one."""

    tasks: list[Task]
    next_cursor: str | None
    has_more: bool


#: The most tasks one ``POST /tasks`` page holds (the pages: limit 100 by default, at most 500).
LISTING_LIMIT = 500
#: Task ids one ``GET /tasks`` takes. The pages state no limit: 50 keeps the URL short; a batch
#: the API refuses as a whole raises JobRejected and the caller halves it.
STATUS_BATCH = 50


class PathClient(exchange.Session):
    """Kling's new API, one aiohttp session. Use as ``async with PathClient(...) as client``."""

    def __init__(
        self,
        *,
        base_url: str,
        auth: Auth,
        timeouts: Timeouts = Timeouts(),
        encode: Callable[[ImageInput], bytes] | None = None,
        status_batch: int = STATUS_BATCH,
        samples: str | None = None,
    ) -> None:
        super().__init__(auth, timeouts)
        self.base = base_url.rstrip("/")
        #: Where ``simulator:samples/...`` videos are served: the simulator's own root (None for
        #: any other provider, where the manifest's checks refuse them).
        self._samples = samples
        self._encode = encode or images.Encoder()
        #: How many task ids one status request takes (settable: halve it after refusals).
        self.batch = status_batch

    # -- the Provider protocol -----------------------------------------------------------------

    def target(self, kind: JobKind, request: Mapping[str, Any]) -> Target:
        """The model's path where this API serves it for the kind, else the kind (not served
        here: :class:`~kbatch.provider.surfaces.Surfaces` sends it to the ``/v1`` routes)."""
        return models.choose(kind, request, Api.NEW)

    def status_batch(self, target: Target) -> int:
        return self.batch

    async def create(
        self, target: Target, request: Mapping[str, Any], *, external_task_id: str
    ) -> Task:
        """Submit one task. JobRejected (nothing sent) for a field this path has no place for;
        ExternalIdTaken when the API says the external id names a task already; OutcomeUnknown
        when it may have been created but its answer was lost."""
        path = self._path(target)
        body = contents.new_body(path, request, external_task_id=external_task_id)
        if self._samples is not None:
            body = _served(body, self._samples)
        parts = bodies.json_parts(body, self._encode)
        what = f"create {path}"
        try:
            data = await self._call("POST", f"{self.base}/{path.path}", what, body=parts)
        except (JobRejected, TaskNotFound) as exc:
            if wire.external_id_taken(exc.message):
                raise ExternalIdTaken(
                    exc.message, status=exc.status, code=exc.code, request_id=exc.request_id
                ) from None
            raise
        task = self._task(data, what, creating=True)
        if task.external_task_id is None:
            task = replace(task, external_task_id=external_task_id)
        return task

    async def get(self, target: Target, task_id: str) -> Task:
        """One task by its id (``GET /tasks?task_ids=<id>``); TaskNotFound if the API has none."""
        found = [t for t in await self.statuses(target, [task_id]) if t.task_id == task_id]
        if not found:
            raise TaskNotFound(self._scrub(f"get {target} task {task_id}: no such task"))
        return found[0]

    async def find(self, target: Target, external_task_id: str) -> Task | None:
        """The task created with this external id (``GET /tasks?external_task_ids=``), or None."""
        tasks = await self._tasks("external_task_ids", [external_task_id], f"find {target}")
        return next((t for t in tasks if t.external_task_id == external_task_id), None)

    async def statuses(self, target: Target, task_ids: Sequence[str]) -> list[Task]:
        """These tasks in one ``GET /tasks?task_ids=a,b`` (ids it does not know are absent).
        JobRejected when the API refuses the batch as a whole: the caller halves it."""
        return await self._tasks("task_ids", task_ids, f"status of {len(task_ids)} tasks")

    async def page(
        self,
        kind: JobKind,
        *,
        page: int = 1,
        page_size: int = PAGE_SIZE,
        only: Container[str] | None = None,
    ) -> Page:
        """Not served: this API lists by cursor (``POST /tasks``); status comes in batches."""
        raise RouteNotServed(f"Kling's new API has no {kind} list pages: ask for tasks by id")

    async def listing(
        self,
        *,
        cursor: str | None = None,
        limit: int = LISTING_LIMIT,
        statuses: Sequence[str] = (),
        start_time: int | None = None,
    ) -> Listing:
        """One page of the account's tasks, newest first (``POST /tasks``): from ``cursor`` (the
        last page's ``next_cursor``), else created since ``start_time`` (ms; the API's default
        is 30 days back); ``statuses`` in the API's spelling (``succeeded``, ...)."""
        query: dict[str, Any] = {"limit": limit}
        if cursor:
            query["cursor"] = cursor
        elif start_time is not None:
            query["start_time"] = start_time
        if statuses:
            query["filters"] = [{"key": "status", "values": list(statuses)}]
        body = [json.dumps(query).encode()]
        what = "list tasks"
        data = await self._call("POST", f"{self.base}/tasks", what, body=body, creating=False)
        result = data.get("result") if isinstance(data, Mapping) else None
        if not isinstance(result, list):
            raise RetryLater(self._scrub(f"{what}: data.result is not a list of tasks"))
        next_cursor = wire.text_or_none(data.get("next_cursor"))
        more = bool(data.get("has_more")) and next_cursor is not None
        return Listing([self._task(item, what) for item in result], next_cursor, more)

    # -- plumbing ------------------------------------------------------------------------------

    def _path(self, target: Target) -> ModelPath:
        if not isinstance(target, ModelPath):
            raise RouteNotServed(f"Kling's new API has no route for {target} without a model")
        return target

    async def _tasks(self, key: str, ids: Sequence[str], what: str) -> list[Task]:
        if not ids:
            return []
        query = ",".join(quote(str(i), safe="") for i in ids)
        try:
            data = await self._call("GET", f"{self.base}/tasks?{key}={query}", what)
        except TaskNotFound:
            return []
        if not isinstance(data, list):
            raise RetryLater(self._scrub(f"{what}: data is not a list of tasks"))
        return [self._task(item, what) for item in data]

    async def _call(
        self,
        method: str,
        url: str,
        what: str,
        *,
        body: Sequence[bytes] | None = None,
        creating: bool | None = None,
    ) -> Any:
        """One request; the envelope's data on success, else the right ApiError. A POST is a
        create unless told otherwise (``POST /tasks`` lists)."""
        creating = method == "POST" if creating is None else creating
        reply, headers = await self._send(method, url, what, body, creating=creating)
        if reply.ok:
            return reply.data
        raise api_error(
            reply, headers, what, creating=creating, served_at=self.base, scrub=self._scrub
        )

    def _task(self, data: Any, what: str, *, creating: bool = False) -> Task:
        try:
            return parse_new_task(data)
        except ValueError as exc:
            cls = OutcomeUnknown if creating else RetryLater
            raise cls(self._scrub(f"{what}: the answer is not a task: {exc}")) from None


def _served(value: Any, root: str) -> Any:
    """``value`` with every ``simulator:samples/...`` string (a reference video the simulator
    serves) written as its URL at ``root``."""
    if isinstance(value, str) and value.startswith(SAMPLE_SCHEME):
        return f"{root.rstrip('/')}/{value.removeprefix(SAMPLE_SCHEME)}"
    if isinstance(value, dict):
        return {key: _served(item, root) for key, item in value.items()}
    if isinstance(value, list):
        return [_served(item, root) for item in value]
    return value


__all__ = ["LISTING_LIMIT", "STATUS_BATCH", "Listing", "PathClient"]
