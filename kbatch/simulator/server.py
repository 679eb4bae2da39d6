"""The simulator's HTTP side: an aiohttp.web app that speaks the KLING_API.md contract.

::

    async with running(SimulatorConfig(task_seconds=0)) as sim:
        sim.url                              # http://127.0.0.1:<port>
        sim.faults.script(Op.CREATE, Fault.RESET_AFTER)
        sim.creates["kb-..."]                # tasks made for that external task id (0 or 1)

Every create, get and list route is served for the three kinds under ``/v1`` and ``/kling/v1``,
plus the legacy multi-image route ``images/generations`` (field ``scence_image``); Kling's new
path-addressed API is served at the root (:mod:`kbatch.simulator.paths`). Results are served
from ``/media/<task_id>/<index>.<ext>`` without authentication, as a CDN would.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

from aiohttp import web

from kbatch.errors import ConfigError
from kbatch.provider import catalogue
from kbatch.provider.catalogue import ENDPOINTS, PACK, Dialect, JobKind, LookupForm, PackType
from kbatch.provider.wire import TaskStatus
from kbatch.simulator import kinds, media, rules, samples
from kbatch.simulator.answers import (
    Answer,
    Dropped,
    Refused,
    authorize,
    authorize_key,
    coded,
    created,
    drop,
    envelope,
    envelope_error,
    html_page,
    origin,
    page_numbers,
    ranged,
    truncated,
)
from kbatch.simulator.blockroutes import BlockApi
from kbatch.simulator.callbacks import CallbackSender
from kbatch.simulator.config import GATEWAY_PREFIX, Exchange, SimulatorConfig
from kbatch.simulator.faults import Fault, Injected, Op
from kbatch.simulator.journal import TaskJournal
from kbatch.simulator.paths import PathApi, accept
from kbatch.simulator.tasks import Payment, TaskStore


class Simulator:
    """The simulator: its app, tasks, faults, request log and counters."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.store = TaskStore(
            clock=self.config.clock,
            task_seconds=self.config.task_seconds,
            duration_shape=self.config.duration_shape,
            duration_spread=self.config.duration_spread,
            parallel_limit=self.config.parallel_limit,
            fail_rate=self.config.fail_rate,
            charges=self.config.charges,
            payment=Payment(self.config.payment, self.config.currency, self.config.cash_type),
            seed=self.config.seed,
        )
        self.journal = TaskJournal(self.config.tasks_file) if self.config.tasks_file else None
        if self.journal is not None:
            for item in self.journal.load(self.store.clock):
                if isinstance(item, str):
                    self.store.forget(item)
                else:
                    self.store.restore(item)
        self.faults = self.config.faults
        self.callbacks = CallbackSender(self.store, lambda: self.url, self.config)
        self._latency = random.Random(self.config.seed)
        self.log: deque[Exchange] = deque(maxlen=self.config.log_size)
        #: Tasks created per external task id: exactly-once means every value is 1.
        self.creates: Counter[str] = Counter()
        #: Faults injected, by name (or Kling code), counted as they are drawn.
        self.injected: Counter[str] = Counter()
        #: Requests per "METHOD route", the route with ``{id}`` for a task id.
        self.requests: Counter[str] = Counter()
        #: Called with each API or media request's op as it arrives, before it is answered:
        #: tests use it to kill a client at an exact moment.
        self.arrivals: list[Callable[[Op], None]] = []
        self.url = ""
        self._media: OrderedDict[tuple[str, str], tuple[bytes, str]] = OrderedDict()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.blocks = BlockApi(self)  # elements, voices, speech, sound, avatar, lip-sync, ...
        self.app = self._build()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise ConfigError(f"the simulator cannot listen on {host}:{port}: {exc}") from None
        self.callbacks.start()
        bound = self._runner.addresses[0]
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        self.url = f"http://{shown}:{bound[1]}"
        return self.url

    async def close(self) -> None:
        self._closing.set()
        await self.callbacks.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.journal is not None:
            self.journal.close()
        self.blocks.close()

    def forget(self, task_id: str) -> None:
        """Know a task no more (expired, or lost by a gateway), in the journal too."""
        self.store.forget(task_id)
        if self.journal is not None:
            self.journal.forget(task_id)

    # -- routes --------------------------------------------------------------------------------

    def _build(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[_dropping])
        for prefix in self.config.prefixes:
            for (kind, dialect), endpoint in ENDPOINTS.items():
                same = dialect is Dialect.LEGACY and endpoint == ENDPOINTS[kind, Dialect.OFFICIAL]
                if same or kind is JobKind.TEXT2IMAGE or kind in catalogue.BLOCK_KINDS:
                    continue  # text2image: with legacy multi-image; blocks: self.blocks
                base = f"{prefix}/{endpoint.route}"
                legacy = dialect is Dialect.LEGACY
                app.router.add_post(base, self._route(Op.CREATE, kind, base, legacy))
                app.router.add_get(base, self._route(Op.LIST, kind, base, legacy))
                app.router.add_get(base + "/{task_id}", self._route(Op.GET, kind, base, legacy))
        app.router.add_get("/media/{task_id}/{name}", self._media_route)
        samples.install(app)
        PathApi(self).install(app)
        self.blocks.install(app)
        return app

    def _route(
        self, op: Op, kind: JobKind, base: str, legacy: bool
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        gateway = base.startswith(GATEWAY_PREFIX + "/")
        label = f"{'POST' if op is Op.CREATE else 'GET'} {base}" + ("/{id}" if op is Op.GET else "")

        async def handle(request: web.Request) -> web.StreamResponse:
            self.requests[label] += 1
            if op is Op.CREATE and kind in self.faults.not_served:
                return self._logged(request, op, kind, html_page(404), None)

            async def act(fault: Injected | None) -> web.StreamResponse:
                if op is Op.CREATE:
                    return await self._create(request, kind, legacy)
                if op is Op.GET:
                    return self._get(request, kind, gateway, legacy)
                return self._list(request, _served(kind, legacy))

            return await self.serve(request, op, kind, act, api=True)

        return handle

    async def serve(
        self,
        request: web.Request,
        op: Op,
        kind: JobKind | None,
        act: Callable[[Injected | None], Awaitable[web.StreamResponse]],
        *,
        api: bool = True,
        fresh: bool = False,
    ) -> web.StreamResponse:
        """Answer a request with faults, auth (``api``) and the log: ``fresh`` for the new
        path-addressed API (API key only), else the old routes (API key or JWT)."""
        for hook in self.arrivals:
            hook(op)
        fault = self.faults.draw(op, kind)
        if fault is not None:
            self.injected[str(fault)] += 1
        try:
            early = await self._before(request, fault)
            if early is None and api:
                early = _authorized(request, self.config, fresh=fresh) or coded(
                    fault, self.config.retry_after
                )
            if early is not None:
                return self._logged(request, op, kind, early, fault)
            response = await self._after(request, fault, await act(fault))
        except Dropped:
            self.log.append(Exchange(request.method, request.path, op, kind, None, None, fault))
            raise
        return self._logged(request, op, kind, response, fault)

    def _logged(
        self,
        request: web.Request,
        op: Op,
        kind: JobKind | None,
        response: web.StreamResponse,
        fault: Injected | None,
    ) -> web.StreamResponse:
        code = response.code if isinstance(response, Answer) else None
        self.log.append(
            Exchange(request.method, request.path, op, kind, response.status, code, fault)
        )
        return response

    async def _before(self, request: web.Request, fault: Injected | None) -> web.Response | None:
        low, high = self.config.latency
        if high > 0:
            await asyncio.sleep(self._latency.uniform(low, high))
        if fault is Fault.RESET_BEFORE:
            drop(request)
        if fault is Fault.SLOW:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.config.slow_seconds)
        if fault is Fault.HTML:
            return html_page(502)
        if fault is Fault.NOT_FOUND:
            return html_page(404)
        if fault is Fault.REDIRECT:
            return web.Response(status=301, headers={"Location": "/"}, text="Moved")
        return None

    async def _after(
        self, request: web.Request, fault: Injected | None, response: web.StreamResponse
    ) -> web.StreamResponse:
        if fault is Fault.RESET_AFTER:
            drop(request)
        if fault is Fault.TIMEOUT_AFTER_CREATE:
            return envelope_error(5002)
        if fault is Fault.GARBLED:
            return web.Response(
                status=200, content_type="application/json", text='{"code": 0, "data": {"task_'
            )
        return response

    # -- the API -------------------------------------------------------------------------------

    async def _create(self, request: web.Request, kind: JobKind, legacy: bool) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return envelope_error(1200, "Invalid request parameters: the body is not JSON")
        shared = legacy and kind is JobKind.MULTI_IMAGE2IMAGE and isinstance(body, dict)
        if shared and "subject_image_list" not in body:  # images/generations: text to image
            kind, legacy = JobKind.TEXT2IMAGE, False
        try:
            if kind in kinds.KINDS:  # omni image, video effects
                checked = kinds.check(kind, body, strict=self.config.strict)
            else:
                checked = rules.check(kind, body, legacy=legacy, strict=self.config.strict)
        except Refused as refused:
            return envelope_error(refused.code, refused.message)
        taken = "Invalid parameter external_task_id: already used by task {task}"
        task = accept(self, checked, taken=taken)
        if isinstance(task, web.Response):
            return task
        external = checked.fields.get("external_task_id")
        return created(task.task_id, external, task.started_ms)

    def _get(
        self, request: web.Request, kind: JobKind, gateway: bool, legacy: bool
    ) -> web.Response:
        key = request.match_info["task_id"]
        by_external = LookupForm.PATH in self.config.lookup_forms
        task = self.store.find(_served(kind, legacy), key, by_external=by_external)
        if gateway and self.config.gateway_image_queries and PACK[kind] is PackType.IMAGE:
            if legacy:  # images/generations answers for every image task
                kinds = [k for k in JobKind if PACK[k] is PackType.IMAGE]
                found = (self.store.find(k, key, by_external=by_external) for k in kinds)
                task = next((t for t in found if t is not None), None)
            else:
                task = None
        if task is None:
            if gateway:
                error = {
                    "code": "task_not_exist",
                    "message": "task_not_exist",
                    "type": "comet_api_error",
                }
                return Answer({"error": error}, status=400, code="task_not_exist")
            return envelope_error(1203, f"Requested resource does not exist: task {key}")
        now = self.store.clock()
        self.store.shown((task,), now)
        return envelope(task.to_json(now, origin(request)))

    def _list(self, request: web.Request, kind: JobKind | frozenset[JobKind]) -> web.Response:
        query = request.query
        external = query.get("external_task_id")
        now, base = self.store.clock(), origin(request)
        if external is not None and LookupForm.QUERY in self.config.lookup_forms:
            task = self.store.find(kind, external, by_external=True)
            found = [] if task is None or task.external_task_id != external else [task]
            self.store.shown(found, now)
            return envelope([t.to_json(now, base) for t in found])
        numbers = page_numbers(query)
        if isinstance(numbers, web.Response):
            return numbers
        tasks = self.store.page(kind, *numbers)
        self.store.shown(tasks, now)
        return envelope([t.to_json(now, base) for t in tasks])

    async def _media_route(self, request: web.Request) -> web.StreamResponse:
        task_id, name = request.match_info["task_id"], request.match_info["name"]
        self.requests["GET /media/{id}/{name}"] += 1
        task = self.store.tasks.get(task_id)
        kind = task.kind if task else None

        async def act(fault: Injected | None) -> web.StreamResponse:
            now = self.store.clock()
            finished = task is not None and task.status(now) is TaskStatus.SUCCEED
            if task is None or not finished or name not in task.media_names():
                return html_page(404)
            if now + self.config.age > task.started + task.seconds + self.config.results_kept:
                return html_page(404)  # cleared, as Kling clears results after 30 days
            data, content_type = self._render(task_id, name)
            if fault is Fault.TRUNCATE:
                return await truncated(request, data, content_type)
            return ranged(request, data, content_type)

        return await self.serve(request, Op.DOWNLOAD, kind, act, api=False)

    def _render(self, task_id: str, name: str) -> tuple[bytes, str]:
        key = (task_id, name)
        if key in self._media:
            self._media.move_to_end(key)
            return self._media[key]
        made = media.render(self.store.tasks[task_id], name, video_encoder=self.config.videos)
        self._media[key] = made
        if len(self._media) > 64:
            self._media.popitem(last=False)
        return made


def _served(kind: JobKind, legacy: bool) -> JobKind | frozenset[JobKind]:
    """The kinds a route serves: images/generations serves text2image and the legacy
    multi-image dialect alike (the body of a create tells them apart)."""
    if legacy and kind is JobKind.MULTI_IMAGE2IMAGE:
        return frozenset({JobKind.MULTI_IMAGE2IMAGE, JobKind.TEXT2IMAGE})
    return kind


def _authorized(
    request: web.Request, config: SimulatorConfig, *, fresh: bool
) -> web.Response | None:
    """None if the credentials pass: the new API takes the API key only, the old routes the
    API key or Kling's JWT."""
    if fresh:
        return authorize_key(request, api_key=config.api_key)
    keys = {"access_key": config.access_key, "secret_key": config.secret_key}
    return authorize(request, api_key=config.api_key, **keys)


@web.middleware
async def _dropping(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A dropped connection is the fault asked for, not an error of the server."""
    try:
        return await handler(request)
    except Dropped:
        return web.Response(status=499)  # never sent: the transport is closed


@asynccontextmanager
async def running(
    config: SimulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[Simulator]:
    """A started simulator on a loopback port, closed on exit."""
    simulator = Simulator(config)
    await simulator.start(host, port)
    try:
        yield simulator
    finally:
        await simulator.close()
