"""The HTTP client for Kling and its gateways.

::

    async with Client(provider, auth=auth) as client:       # or kbatch.provider.connect
        task = await client.create(job.kind, job.request, external_task_id="kb-...")
        task = await client.get(job.kind, task.task_id)
        task = await client.find(job.kind, "kb-...")          # None if the provider has none
        tasks = await client.list(job.kind, page=1)            # up to 500 at once
        async with client.download(task.media[0].url) as body:
            async for chunk in body.chunks: ...

Every failure raises an :class:`~kbatch.errors.ApiError` whose class says what to do (retry later,
fail the job, stop the run, route not served, outcome unknown, task not found). Messages never hold
a credential: every text that came from the wire is scrubbed of the keys and tokens in use.
Downloads never carry the Authorization header: result URLs are on other hosts (CDNs).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

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
from kbatch.provider import bodies, exchange, faces, wire
from kbatch.provider.auth import Auth
from kbatch.provider.catalogue import (
    ENDPOINTS,
    IDENTIFY_FACE_ROUTE,
    PAGE_SIZE,
    SYNC_KINDS,
    WIRE_DEFAULTS,
    Dialect,
    Endpoint,
    JobKind,
    LookupForm,
    ProviderSpec,
)
from kbatch.provider.faces import FaceSession
from kbatch.provider.lookup import Finder
from kbatch.provider.protocol import Download, ModelPath, Page, Target
from kbatch.provider.transport import Timeouts, api_error
from kbatch.provider.wire import Task


class Client(exchange.Session):
    """One provider, one aiohttp session. Use as ``async with Client(...) as client``."""

    def __init__(
        self,
        provider: ProviderSpec,
        *,
        auth: Auth,
        base_url: str | None = None,
        prefix: str | None = None,
        dialect: Dialect | None = None,
        routes: Mapping[JobKind, str] | None = None,
        timeouts: Timeouts = Timeouts(),
        encode: Callable[[ImageInput], bytes] | None = None,
    ) -> None:
        self.provider = provider
        self.base = (base_url or provider.base_url).rstrip("/")
        self.prefix = "/" + (provider.prefix if prefix is None else prefix).strip("/")
        self.dialect = dialect or provider.dialect
        self._routes = dict(routes or {})
        super().__init__(auth, timeouts)
        self._encode = encode or images.Encoder()
        self._finder = Finder(
            get=lambda url, what: self._call("GET", url, what),
            url=self.url,
            page=lambda kind, page: self.list(kind, page=page),
            parse=self._task,
        )
        #: The query route that answered for a kind when its own did not.
        self._queries: dict[JobKind, str] = {}

    def status_batch(self, target: object) -> int:
        """Kling's /v1 routes and the gateways answer status one task (or list page) at a time."""
        return 0

    async def statuses(self, target: object, task_ids: Sequence[str]) -> list[Task]:
        """Not served on these routes (:meth:`status_batch` is 0): list pages and gets instead."""
        raise RouteNotServed(f"{self.provider.name} answers no status query for many task ids")

    @property
    def lookup(self) -> dict[JobKind, LookupForm]:
        """The lookup form that last answered, per kind."""
        return self._finder.lookup

    # -- the API -------------------------------------------------------------------------------

    def endpoint(self, kind: JobKind) -> Endpoint:
        endpoint = ENDPOINTS[kind, self.dialect]
        if kind in self._routes:
            return Endpoint(self._routes[kind].strip("/"), endpoint.renames)
        return endpoint

    def url(self, kind: JobKind, *tail: str) -> str:
        quoted = [quote(part, safe="") for part in tail]
        return "/".join([self.base + self.prefix, self.endpoint(kind).route, *quoted])

    def target(self, kind: JobKind, request: Mapping[str, Any]) -> Target:
        """Every job goes to its kind's route here."""
        return kind

    async def create(
        self, target: Target, request: Mapping[str, Any], *, external_task_id: str
    ) -> Task:
        """Submit one task. OutcomeUnknown when it may have been created but no answer came."""
        kind = self._kind(target)
        body = bodies.body_parts(
            request,
            self.endpoint(kind),
            # Kling answers a sync kind at once and takes no external id for it (tts)
            external_task_id=None if kind in SYNC_KINDS else external_task_id,
            encoded=self._encode,
            defaults=WIRE_DEFAULTS.get(kind, {}),
        )
        try:
            data = await self._call("POST", self.url(kind), f"create {kind}", body=body)
        except (JobRejected, TaskNotFound) as exc:
            if wire.external_id_taken(exc.message):
                raise ExternalIdTaken(
                    exc.message, status=exc.status, code=exc.code, request_id=exc.request_id
                ) from None
            raise
        task = self._task(data, f"create {kind}", creating=True)
        if task.external_task_id is None:
            task = replace(task, external_task_id=external_task_id)
        return task

    async def get(self, target: Target, task_id: str) -> Task:
        """One task by its task id. TaskNotFound if the provider knows none, on the kind's own
        route or on any route the catalogue says may answer for it (``query_fallbacks``); the
        route that answered is asked first from then on."""
        kind = self._kind(target)
        what = f"get {kind} task {task_id}"
        routes = self._query_routes(kind)
        for number, route in enumerate(routes):
            url = "/".join([self.base + self.prefix, route, quote(task_id, safe="")])
            try:
                data = await self._call("GET", url, what)
            except TaskNotFound:
                if number == len(routes) - 1:
                    raise
                continue
            if number:
                self._queries[kind] = route
            return self._task(data, what)
        raise AssertionError("unreachable: a kind has at least its own route")

    def _query_routes(self, kind: JobKind) -> list[str]:
        own = self.endpoint(kind).route
        routes = [own, *self.provider.query_fallbacks.get(kind, ())]
        known = self._queries.get(kind)
        return [known, *(r for r in routes if r != known)] if known else routes

    async def list(self, kind: JobKind, *, page: int = 1, page_size: int = PAGE_SIZE) -> list[Task]:
        """One page of this kind's tasks (up to 500), newest first."""
        return (await self.page(kind, page=page, page_size=page_size)).tasks

    async def page(
        self,
        kind: JobKind,
        *,
        page: int = 1,
        page_size: int = PAGE_SIZE,
        only: Container[str] | None = None,
    ) -> Page:
        """One page of this kind's tasks. With ``only``, just the tasks whose ids it contains
        are parsed and returned: a page of 500 where a few are wanted costs a few parses."""
        query = f"?pageNum={page}&pageSize={page_size}"
        data = await self._call("GET", self.url(kind) + query, f"list {kind} tasks")
        if not isinstance(data, list):
            raise RetryLater(self._scrub(f"list {kind} tasks: data is not a list of tasks"))
        items = data if only is None else [item for item in data if _task_id(item) in only]
        return Page([self._task(item, f"list {kind} tasks") for item in items], len(data))

    async def find(self, target: Target, external_task_id: str) -> Task | None:
        """The task created with this external task id, or None (:mod:`kbatch.provider.lookup`
        says which forms are tried)."""
        return await self._finder.find(self._kind(target), external_task_id)

    async def identify_face(self, request: Mapping[str, Any]) -> FaceSession:
        """Lip-sync's first step (slice faces), answered at once: no task, no external id to
        look a lost answer up by (OutcomeUnknown then: the caller must not send it again)."""
        what = "identify the faces of lip_sync's video"
        body = bodies.json_parts(faces.identify_request(request), self._encode)
        url = "/".join([self.base + self.prefix, IDENTIFY_FACE_ROUTE])
        data = await self._call("POST", url, what, body=body)
        try:
            return faces.parse_session(data)
        except ValueError as exc:
            message = f"{what}: the answer is not a session: {exc}"
            raise OutcomeUnknown(self._scrub(message)) from None

    async def ask(self, route: str, query: Mapping[str, str | int], what: str) -> Any:
        """One GET of a /v1 route that is no kind's (the presets lists: :mod:`presets`): the
        envelope's data."""
        url = f"{self.base + self.prefix}/{route}?{urlencode(query)}"
        return await self._call("GET", url, what)

    # -- plumbing ------------------------------------------------------------------------------

    def _kind(self, target: Target) -> JobKind:
        if isinstance(target, ModelPath):
            raise RouteNotServed(f"{self.provider.name} does not serve {target} (Kling's new API)")
        return target

    async def _call(
        self, method: str, url: str, what: str, *, body: Sequence[bytes] | None = None
    ) -> Any:
        """Send one request; the envelope's data on success, else the right ApiError."""
        creating = method == "POST"
        renewed = False
        while True:
            reply, headers = await self._send(method, url, what, body, creating=creating)
            if reply.ok:
                return reply.data
            if reply.code in wire.RESIGN_CODES and not renewed and self._auth.renew():
                renewed = True  # the token expired or is not valid yet: sign afresh, once
                continue
            raise api_error(
                reply,
                headers,
                what,
                creating=creating,
                served_at=self.base + self.prefix,
                scrub=self._scrub,
            )

    def _task(self, data: Any, what: str, *, creating: bool = False) -> Task:
        try:
            return wire.parse_task(data)
        except ValueError as exc:
            cls = OutcomeUnknown if creating else RetryLater
            raise cls(self._scrub(f"{what}: the answer is not a task: {exc}")) from None


def _task_id(item: Any) -> str | None:
    task_id = item.get("task_id") if isinstance(item, dict) else None
    return None if task_id is None else str(task_id)


__all__ = [
    "Client",
    "Download",
    "Page",
    "Timeouts",
]
