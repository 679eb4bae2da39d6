"""The new path-addressed API at the host's root, beside ``/v1`` and ``/kling/v1``:

- ``POST /{capability}/{model}``: creates (:mod:`products` lists the models; an unknown one is
  404, code 1203), checked by :mod:`pathrules`;
- ``GET /tasks?task_ids=a,b`` or ``?external_task_ids=``: many tasks at once (at most
  ``SimulatorConfig.task_ids_limit`` ids; unknown ids are left out of ``data[]``);
- ``POST /tasks``: a listing by cursor (``start_time``, ``end_time``, ``cursor``, ``limit``,
  ``filters``), newest first;
- ``GET /account/costs``: the resource packs and what is left of them (one request a second).

Only the API key is accepted here (a JWT is refused); the tasks share the account's slots,
external ids, faults, callbacks and journal with the old routes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from kbatch.provider.catalogue import PACK, JobKind
from kbatch.simulator import pathrules, views
from kbatch.simulator.answers import Refused, envelope, envelope_error, origin
from kbatch.simulator.callbacks import CallbackSender
from kbatch.simulator.config import SimulatorConfig
from kbatch.simulator.faults import Injected, Op
from kbatch.simulator.journal import TaskJournal
from kbatch.simulator.products import CAPABILITIES, PRODUCTS
from kbatch.simulator.rules import Request
from kbatch.simulator.tasks import UNSAFE, SimTask, TaskStore

DAY_MS = 24 * 3600 * 1000
STATUSES = ("submitted", "processing", "succeeded", "failed")
PRODUCT_TYPES = ("video", "image", "try_on")
Act = Callable[[Injected | None], Awaitable[web.StreamResponse]]


class Host(Protocol):
    """What the new API needs of the simulator (:class:`kbatch.simulator.server.Simulator`)."""

    config: SimulatorConfig
    store: TaskStore
    journal: TaskJournal | None
    callbacks: CallbackSender
    creates: Counter[str]
    requests: Counter[str]

    async def serve(
        self, request: web.Request, op: Op, kind: JobKind | None, act: Act, *, fresh: bool
    ) -> web.StreamResponse: ...


def accept(host: Host, checked: Request, *, taken: str) -> SimTask | web.Response:
    """A checked create taken as Kling takes it, on either API: refused for an unsafe prompt
    (1301), an external id in use (1201: ``taken``, with ``{external}`` and ``{task}``, in the
    route's words) or full slots (1303); else the task, followed by callbacks, on file before
    the answer, and counted by its external id."""
    if UNSAFE in str(checked.fields.get("prompt", "")):
        return envelope_error(1301)
    external = checked.fields.get("external_task_id")
    if external and external in host.store.by_external:
        used = host.store.by_external[external]
        return envelope_error(1201, taken.format(external=external, task=used))
    if not host.store.has_room(checked):
        return envelope_error(1303)
    task = host.store.add(checked)
    host.callbacks.follow(task)
    if host.journal is not None:
        host.journal.add(task)  # on file before the answer, as at Kling
    if external:
        host.creates[external] += 1
    return task


class PathApi:
    """The new API's handlers over one simulator."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._costs_seen: float | None = None
        self._opened_ms = int(time.time() * 1000)

    def install(self, app: web.Application) -> None:
        for capability in CAPABILITIES:
            app.router.add_post(f"/{capability}/{{model}}", self._creating(capability))
        app.router.add_get("/tasks", self._handler("GET /tasks", Op.GET, self._batch))
        app.router.add_post("/tasks", self._handler("POST /tasks", Op.LIST, self._listing))
        app.router.add_get(
            "/account/costs", self._handler("GET /account/costs", Op.ANY, self._costs)
        )

    def _handler(
        self, label: str, op: Op, answer: Callable[[web.Request], Awaitable[web.Response]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.host.requests[label] += 1

            async def act(fault: Injected | None) -> web.StreamResponse:
                return await answer(request)

            return await self.host.serve(request, op, None, act, fresh=True)

        return handle

    def _creating(self, capability: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            path = f"{capability}/{request.match_info['model']}"
            self.host.requests[f"POST /{path}"] += 1
            kind = JobKind.TEXT2VIDEO if capability == "text-to-video" else JobKind.IMAGE2VIDEO

            async def act(fault: Injected | None) -> web.StreamResponse:
                return await self._create(request, path)

            return await self.host.serve(request, Op.CREATE, kind, act, fresh=True)

        return handle

    async def _create(self, request: web.Request, path: str) -> web.Response:
        product = PRODUCTS.get(path)
        if product is None:
            return envelope_error(1203, f"Requested resource does not exist: model {path}")
        try:
            body = await request.json()
        except ValueError:
            return envelope_error(1200, "Invalid request parameters: the body is not JSON")
        try:
            checked = await pathrules.check(product, body, strict=self.host.config.strict)
        except Refused as refused:
            return envelope_error(refused.code, refused.message)
        task = accept(self.host, checked, taken="external_task_id {external} already exists")
        return task if isinstance(task, web.Response) else envelope(views.created(task))

    async def _batch(self, request: web.Request) -> web.Response:
        query = request.query
        asked = [name for name in ("task_ids", "external_task_ids") if query.get(name)]
        if len(asked) != 1:
            return envelope_error(1201, "Invalid parameters: give task_ids or external_task_ids")
        ids = [key.strip() for key in query[asked[0]].split(",") if key.strip()]
        limit = self.host.config.task_ids_limit
        if len(ids) > limit:
            message = f"Invalid parameter {asked[0]}: {len(ids)} ids; at most {limit} a request"
            return envelope_error(1201, message)
        store, now = self.host.store, self.host.store.clock()
        by_external = asked[0] == "external_task_ids"
        found = [_new_task(store, key, by_external=by_external) for key in ids]
        tasks = [task for task in found if task is not None]
        store.shown(tasks, now)
        return envelope([views.task_json(task, now, origin(request)) for task in tasks])

    async def _listing(self, request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.can_read_body else {}
            query = _listing_query(body, self.host.store.wall_ms())
        except ValueError:
            return envelope_error(1200, "Invalid request parameters: the body is not JSON")
        except Refused as refused:
            return envelope_error(refused.code, refused.message)
        start, end, cursor, limit, filters = query
        store, now = self.host.store, self.host.store.clock()
        chosen = []
        for task in sorted(_new_tasks(store), key=_order, reverse=True):
            if cursor is not None and _order(task) >= cursor:
                continue
            if cursor is None and not start <= task.started_ms <= end:
                continue
            if _passes(task, filters, now):
                chosen.append(task)
                if len(chosen) > limit:
                    break
        page, more = chosen[:limit], len(chosen) > limit
        store.shown(page, now)
        data = {
            "result": [views.task_json(task, now, origin(request)) for task in page],
            "count": len(page),
            "next_cursor": f"{page[-1].started_ms}:{page[-1].task_id}" if more else "",
            "has_more": more,
        }
        return envelope(data)

    async def _costs(self, request: web.Request) -> web.Response:
        for name in ("start_time", "end_time"):
            if not request.query.get(name, "").isdigit():
                return envelope_error(1201, f"Invalid parameter {name}: a time in ms is required")
        host, now = self.host, self.host.store.clock()
        if self._costs_seen is not None and now - self._costs_seen < host.config.costs_interval:
            too_fast = envelope_error(1302, "The API request is too fast: at most 1 a second")
            too_fast.headers["Retry-After"] = f"{host.config.costs_interval:g}"
            return too_fast
        self._costs_seen = now
        charged: dict[str, float] = {}
        for task in host.store.tasks.values():
            if task.status(now).finished:
                pack = PACK[task.kind].value
                units = task.payment.parts(float(task.units()))[0]  # cash leaves packs be
                charged[pack] = charged.get(pack, 0.0) + units
        return envelope(
            {"code": 0, "msg": "", "resource_pack_subscribe_infos": self._packs(charged)}
        )

    def _packs(self, charged: dict[str, float]) -> list[dict[str, Any]]:
        packs = []
        for name, total in self.host.config.pack_units.items():
            left = max(0.0, total - charged.get(name, 0.0))
            packs.append(
                {
                    "resource_pack_name": f"{name.title()} Generation - simulator",
                    "resource_pack_id": f"sim-{name}-pack",
                    "resource_pack_type": "decreasing_total",
                    "total_quantity": total,
                    "remaining_quantity": round(left, 4),
                    "purchase_time": self._opened_ms,
                    "effective_time": self._opened_ms,
                    "invalid_time": self._opened_ms + 365 * DAY_MS,
                    "status": "online" if left > 0 else "runOut",
                }
            )
        return packs


def _new_tasks(store: TaskStore) -> list[SimTask]:
    return [task for task in store.tasks.values() if task.path is not None]


def _new_task(store: TaskStore, key: str, *, by_external: bool) -> SimTask | None:
    task = store.tasks.get(store.by_external.get(key, "") if by_external else key)
    return task if task is not None and task.path is not None else None


def _order(task: SimTask) -> tuple[int, int]:
    return task.started_ms, int(task.task_id)


def _passes(task: SimTask, filters: dict[str, set[str]], now: float) -> bool:
    statuses = filters.get("status")
    if statuses is not None and views.status_of(task, now) not in statuses:
        return False
    types = filters.get("product_type")
    return types is None or "video" in types


def _listing_query(
    body: Any, now_ms: int
) -> tuple[int, int, tuple[int, int] | None, int, dict[str, set[str]]]:
    """start, end, the cursor's position, limit and filters of a ``POST /tasks``."""
    if not isinstance(body, dict):
        raise Refused(1200, "Invalid request parameters: the body must be a JSON object")
    end = _ms(body, "end_time", now_ms)
    start = _ms(body, "start_time", end - 30 * DAY_MS)
    if start >= end:
        raise Refused(1201, "Invalid parameter start_time: must be earlier than end_time")
    limit = body.get("limit", 100)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 500:
        raise Refused(1201, "Invalid parameter limit: 1 to 500")
    cursor = None
    if body.get("cursor"):
        ms, _, task_id = str(body["cursor"]).partition(":")
        if not ms.isdigit() or not task_id.isdigit():
            raise Refused(1201, "Invalid parameter cursor: use the next_cursor of a listing")
        cursor = (int(ms), int(task_id))
    return start, end, cursor, limit, _filters(body.get("filters", []))


def _ms(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():  # a string on most pages, a long on one
        return int(value)
    raise Refused(1201, f"Invalid parameter {name}: a Unix time in ms")


def _filters(filters: Any) -> dict[str, set[str]]:
    allowed = {"status": STATUSES, "product_type": PRODUCT_TYPES}
    if not isinstance(filters, list):
        raise Refused(1201, "Invalid parameter filters: a list of {key, values}")
    chosen: dict[str, set[str]] = {}
    for item in filters:
        key = item.get("key") if isinstance(item, dict) else None
        values = item.get("values") if isinstance(item, dict) else None
        if (
            key not in allowed
            or not isinstance(values, list)
            or not all(isinstance(value, str) for value in values)
        ):
            raise Refused(1201, "Invalid parameter filters: keys status or product_type")
        wrong = [value for value in values if value not in allowed[key]]
        if wrong:
            raise Refused(1201, f"Invalid parameter filters: {key} takes {', '.join(allowed[key])}")
        chosen.setdefault(key, set()).update(values)
    return chosen


__all__ = ["Host", "PathApi"]
