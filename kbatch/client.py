"""The HTTP client for Kling and its gateways.

::

    async with connect(manifest.provider) as client:        # starts the simulator if asked
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

import enum
import io
import json
import os
import time
import warnings
from collections.abc import AsyncIterator, Callable, Container, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlencode

import aiohttp
import jwt
from jwt.warnings import InsecureKeyLengthWarning

from kbatch import __version__, images, wire
from kbatch.errors import (
    API_ERRORS,
    ApiError,
    ConfigError,
    JobRejected,
    Outcome,
    OutcomeUnknown,
    RetryLater,
    TaskNotFound,
)
from kbatch.images import ImageInput
from kbatch.kling import ENDPOINTS, Dialect, Endpoint, JobKind, LookupForm, Provider, ProviderName
from kbatch.wire import Task

if TYPE_CHECKING:
    from kbatch.manifest import ProviderConfig
    from kbatch.simulator import SimulatorConfig

#: A JWT lives this long (Kling's documented example) and is signed afresh this early.
JWT_TTL = 1800.0
JWT_RENEW_BEFORE = 300.0
PAGE_SIZE = 500
#: How many list pages a lookup by external id may scan when no direct form answers.
LOOKUP_PAGES = 4
_CHUNK = 256 * 1024
#: Request bodies larger than this (base64 images) are streamed; smaller ones go out with their
#: headers in one write.
_STREAMED = 64 * 1024


class _Unsupported(enum.Enum):
    """A lookup form that cannot tell whether a task exists."""

    UNSUPPORTED = "unsupported"


_UNSUPPORTED = _Unsupported.UNSUPPORTED


class Auth(Protocol):
    """Makes the Authorization header; knows which strings must never be shown."""

    def header(self) -> str: ...

    def renew(self) -> bool:
        """Make a fresh credential after 1003/1004; False if there is nothing to renew."""
        ...

    def secrets(self) -> tuple[str, ...]: ...


@dataclass(slots=True)
class BearerKey:
    """A static key sent as ``Bearer <key>`` (CometAPI, AnyAPI, Kling's newer API keys)."""

    key: str = field(repr=False)

    def header(self) -> str:
        return f"Bearer {self.key}"

    def renew(self) -> bool:
        return False

    def secrets(self) -> tuple[str, ...]:
        return (self.key,)


@dataclass(slots=True)
class KlingJwt:
    """Kling's access-key/secret-key pair: an HS256 JWT with ``iss``, ``exp`` (now+1800 s) and
    ``nbf`` (now-5 s), signed afresh when less than five minutes remain or when asked."""

    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    clock: Callable[[], float] = time.time
    _token: str = field(default="", repr=False)
    _expires: float = 0.0

    def header(self) -> str:
        if not self._token or self.clock() >= self._expires - JWT_RENEW_BEFORE:
            self._sign()
        return f"Bearer {self._token}"

    def renew(self) -> bool:
        self._sign()
        return True

    def _sign(self) -> None:
        now = int(self.clock())
        claims = {"iss": self.access_key, "exp": now + int(JWT_TTL), "nbf": now - 5}
        headers = {"alg": "HS256", "typ": "JWT"}
        with warnings.catch_warnings():  # the provider chose the key's length, not the user
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            token = jwt.encode(claims, self.secret_key, algorithm="HS256", headers=headers)
        self._token = token
        self._expires = now + JWT_TTL

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.access_key, self.secret_key, self._token) if s)


def credentials(provider: Provider, env: Mapping[str, str], key_env: str | None = None) -> Auth:
    """The provider's credentials from the environment; ConfigError naming the variables (never
    their values) when they are not set."""
    if key_env:
        if env.get(key_env):
            return BearerKey(env[key_env])
        raise ConfigError(f"provider.api_key_env names {key_env}, which is not set or empty")
    if provider.jwt_envs:
        access, secret = (env.get(name, "") for name in provider.jwt_envs)
        if access and secret:
            return KlingJwt(access, secret)
    if provider.key_env and env.get(provider.key_env):
        return BearerKey(env[provider.key_env])
    if provider.name is ProviderName.SIMULATOR:
        return BearerKey("kbatch-simulator")
    wanted = [" and ".join(provider.jwt_envs)] if provider.jwt_envs else []
    wanted += [provider.key_env] if provider.key_env else []
    raise ConfigError(
        f"no credentials for {provider.name}: set {' or '.join(wanted)} in the environment "
        "(or name your own variable with provider.api_key_env)"
    )


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. ``read`` bounds the wait for an answer; a create that passes it is 'unknown'."""

    connect: float = 10.0
    read: float = 60.0
    download_read: float = 60.0


@dataclass(frozen=True, slots=True)
class Page:
    """A page of the list route: the tasks asked for, and how many the page held in all."""

    tasks: list[Task]
    size: int


@dataclass(frozen=True, slots=True)
class Download:
    """A streamed result: its body in chunks, from byte ``offset`` of a file of ``total`` bytes
    (None when the server did not say). ``length`` is what this answer declares it carries."""

    length: int | None
    content_type: str
    chunks: AsyncIterator[bytes]
    offset: int = 0
    total: int | None = None


class Client:
    """One provider, one aiohttp session. Use as ``async with Client(...) as client``."""

    def __init__(
        self,
        provider: Provider,
        *,
        auth: Auth,
        base_url: str | None = None,
        prefix: str | None = None,
        dialect: Dialect | None = None,
        routes: Mapping[JobKind, str] | None = None,
        timeouts: Timeouts = Timeouts(),
        encode: Callable[[ImageInput], str] | None = None,
    ) -> None:
        self.provider = provider
        self.base = (base_url or provider.base_url).rstrip("/")
        self.prefix = "/" + (provider.prefix if prefix is None else prefix).strip("/")
        self.dialect = dialect or provider.dialect
        self._routes = dict(routes or {})
        self._auth = auth
        self._timeouts = timeouts
        self._encode = encode or images.encode
        self._session: aiohttp.ClientSession | None = None
        #: The lookup form that last answered, per kind: tried first next time.
        self.lookup: dict[JobKind, LookupForm] = {}

    async def __aenter__(self) -> Client:
        connector = aiohttp.TCPConnector(limit=100, enable_cleanup_closed=True)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": f"kbatch/{__version__}"},
            timeout=aiohttp.ClientTimeout(
                total=None, connect=self._timeouts.connect, sock_read=self._timeouts.read
            ),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- the API -------------------------------------------------------------------------------

    def endpoint(self, kind: JobKind) -> Endpoint:
        endpoint = ENDPOINTS[kind, self.dialect]
        if kind in self._routes:
            return Endpoint(self._routes[kind].strip("/"), endpoint.renames)
        return endpoint

    def url(self, kind: JobKind, *tail: str) -> str:
        quoted = [quote(part, safe="") for part in tail]
        return "/".join([self.base + self.prefix, self.endpoint(kind).route, *quoted])

    async def create(
        self, kind: JobKind, request: Mapping[str, Any], *, external_task_id: str
    ) -> Task:
        """Submit one task. OutcomeUnknown when it may have been created but no answer came."""
        body = wire.build_body(
            request, self.endpoint(kind), external_task_id=external_task_id, encode=self._encode
        )
        data = await self._call("POST", self.url(kind), f"create {kind}", body=body)
        task = self._task(data, f"create {kind}", creating=True)
        if task.external_task_id is None:
            task = replace(task, external_task_id=external_task_id)
        return task

    async def get(self, kind: JobKind, task_id: str) -> Task:
        """One task by its task id. TaskNotFound if the provider knows none."""
        data = await self._call("GET", self.url(kind, task_id), f"get {kind} task {task_id}")
        return self._task(data, f"get {kind} task {task_id}")

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

    async def find(self, kind: JobKind, external_task_id: str) -> Task | None:
        """The task created with this external task id, or None.

        The forms that may answer (KLING_API.md leaves it open) are tried in turn, the one that
        answered last time first. Once a form has answered for this kind, its "not found" is
        believed; before that, every form must say not found.
        """
        known = self.lookup.get(kind)
        if known is not None:
            found = await self._find_by(known, kind, external_task_id)
            if found is not _UNSUPPORTED:
                return found
            del self.lookup[kind]  # it answered before, but not now: ask every form again
        for form in LookupForm:
            if form is known:
                continue
            found = await self._find_by(form, kind, external_task_id)
            if isinstance(found, Task):
                self.lookup[kind] = form
                return found
        return None

    @asynccontextmanager
    async def download(self, url: str, *, offset: int = 0) -> AsyncIterator[Download]:
        """Stream a result file, from byte ``offset`` when the server honours a Range request
        (``Download.offset`` says where the body starts: 0 when it sent the whole file). RetryLater
        on a lost connection or a truncated body; JobRejected when the file is gone (the provider
        deletes results after 30 days)."""
        session = self._open()
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self._timeouts.connect, sock_read=self._timeouts.download_read
        )
        what = f"download {_short(url)}"
        headers = {"Range": f"bytes={offset}-"} if offset > 0 else {}
        try:
            async with session.get(
                url, timeout=timeout, allow_redirects=True, headers=headers
            ) as response:
                if response.status == 416 and offset:  # the part is stale: start over
                    response.release()
                    async with self.download(url) as whole:
                        yield whole
                    return
                if response.status not in (200, 206):
                    raw = await response.content.read(2048)
                    reply = wire.read_reply(response.status, response.content_type, raw)
                    # A media host is no API: a busy one is retried, any other refusal (an
                    # expired signed URL, a deleted file) fails the job, never the run.
                    outcome = wire.classify(response.status, None, creating=False)
                    cls = RetryLater if outcome is Outcome.RETRY else JobRejected
                    raise cls(
                        self._scrub(f"{what}: HTTP {response.status}: {reply.message}"),
                        status=response.status,
                    )
                start, total = 0, response.content_length
                if response.status == 206:
                    start, total = _content_range(response.headers.get("Content-Range", ""))
                    if start != offset:
                        raise RetryLater(f"{what}: asked for byte {offset}, got byte {start}")
                yield Download(
                    response.content_length,
                    response.content_type,
                    self._chunks(response, what),
                    offset=start,
                    total=total,
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryLater(self._scrub(f"{what}: {_describe(exc)}")) from None

    async def _chunks(self, response: aiohttp.ClientResponse, what: str) -> AsyncIterator[bytes]:
        received = 0
        try:
            async for chunk in response.content.iter_chunked(_CHUNK):
                received += len(chunk)
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryLater(
                self._scrub(
                    f"{what}: the download broke off after {received} bytes ({_describe(exc)})"
                )
            ) from None
        expected = response.content_length
        if expected is not None and received != expected:
            raise RetryLater(f"{what}: got {received} of {expected} bytes")

    # -- plumbing ------------------------------------------------------------------------------

    async def _find_by(
        self, form: LookupForm, kind: JobKind, external_id: str
    ) -> Task | _Unsupported | None:
        """The task, None if this form says there is none, _UNSUPPORTED if it cannot tell."""
        what = f"find {kind} task {external_id}"
        if form is LookupForm.LIST:
            for page in range(1, LOOKUP_PAGES + 1):
                tasks = await self.list(kind, page=page)
                found = next((t for t in tasks if t.external_task_id == external_id), None)
                if found is not None or len(tasks) < PAGE_SIZE:
                    return found
            return None
        if form is LookupForm.PATH:
            url = self.url(kind, external_id)
        else:
            url = self.url(kind) + "?" + urlencode({"external_task_id": external_id})
        try:
            data = await self._call("GET", url, what)
        except TaskNotFound:
            return None
        except ApiError as exc:
            if exc.outcome in (Outcome.FAIL_JOB, Outcome.NOT_SERVED):
                return _UNSUPPORTED  # e.g. 1201, or a 404 page: this form is not understood
            raise
        items = data if isinstance(data, list) else [data]
        tasks = [self._task(item, what) for item in items]
        matching = [t for t in tasks if t.external_task_id == external_id]
        if len(matching) != len(tasks):  # the filter was ignored: this form does not answer
            return _UNSUPPORTED
        return matching[0] if matching else None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use the client as 'async with Client(...) as client'")
        return self._session

    async def _call(
        self, method: str, url: str, what: str, *, body: dict[str, Any] | None = None
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
            raise self._error(reply, headers, what, creating=creating)

    async def _send(
        self, method: str, url: str, what: str, body: dict[str, Any] | None, *, creating: bool
    ) -> tuple[wire.Reply, Mapping[str, str]]:
        session = self._open()
        headers = {"Authorization": self._auth.header()}
        data: bytes | io.BytesIO | None = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            if len(data) > _STREAMED:  # a file-like body: aiohttp streams it, not copies it
                data = io.BytesIO(data)
            headers["Content-Type"] = "application/json"
        try:
            async with session.request(
                method, url, data=data, headers=headers, allow_redirects=False
            ) as response:
                raw = await response.read()
                reply = wire.read_reply(response.status, response.content_type, raw)
                if 300 <= response.status < 400:
                    target = response.headers.get("Location", "elsewhere")
                    reply = wire.Reply(
                        response.status, None, f"redirected to {_short(target)}", json=False
                    )
                return reply, response.headers
        except aiohttp.ClientConnectorError as exc:
            # Nothing was sent: safe to send again, create or not.
            raise RetryLater(self._scrub(f"{what}: cannot connect: {_describe(exc)}")) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            message = f"{what}: {_describe(exc)}"
            if creating:
                raise OutcomeUnknown(
                    self._scrub(
                        message + "; the task may have been created: look it up by its "
                        "external task id before sending it again"
                    )
                ) from None
            raise RetryLater(self._scrub(message)) from None

    def _error(
        self, reply: wire.Reply, headers: Mapping[str, str], what: str, *, creating: bool
    ) -> ApiError:
        code = reply.code
        outcome = wire.classify(reply.status, code, creating=creating)
        if reply.broken and 200 <= reply.status < 300:
            # The API answered and the answer was damaged on the way: a create may have made
            # the task (look it up), anything else can simply be asked again.
            outcome = Outcome.UNKNOWN if creating else Outcome.RETRY
        elif not reply.json and outcome is Outcome.FAIL_JOB:
            outcome = Outcome.NOT_SERVED  # a 200/400 HTML page is not the API speaking
        parts = [f"HTTP {reply.status}"]
        if code not in (None, 0):
            parts.append(f"code {code}")
        text = reply.message or wire.describe(code) or "no message"
        message = f"{what}: {', '.join(parts)}: {text}"
        if outcome is Outcome.NOT_SERVED:
            message += (
                f" ({self.base}{self.prefix} does not serve this route; check provider.base_url, "
                "provider.routes and provider.dialect)"
            )
        elif outcome is Outcome.UNKNOWN:
            message += "; the task may have been created: look it up before sending it again"
        if reply.request_id:
            message += f" (request_id {reply.request_id})"
        return API_ERRORS[outcome](
            self._scrub(message),
            status=reply.status,
            code=code,
            request_id=reply.request_id,
            retry_after=wire.retry_after(headers.get("Retry-After")),
        )

    def _task(self, data: Any, what: str, *, creating: bool = False) -> Task:
        try:
            return wire.parse_task(data)
        except ValueError as exc:
            cls = OutcomeUnknown if creating else RetryLater
            raise cls(self._scrub(f"{what}: the answer is not a task: {exc}")) from None

    def _scrub(self, text: str) -> str:
        for secret in self._auth.secrets():
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text


def _content_range(header: str) -> tuple[int, int | None]:
    """(first byte, total size or None) from ``bytes 100-199/200``; (-1, None) if unreadable."""
    unit, _, spec = header.partition(" ")
    span, _, size = spec.partition("/")
    first = span.partition("-")[0]
    if unit != "bytes" or not first.isdigit():
        return -1, None
    return int(first), int(size) if size.isdigit() else None


def _task_id(item: Any) -> str | None:
    task_id = item.get("task_id") if isinstance(item, dict) else None
    return None if task_id is None else str(task_id)


def _short(url: str, limit: int = 80) -> str:
    text = url.split("?", 1)[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer broke off"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


@asynccontextmanager
async def connect(
    config: ProviderConfig,
    *,
    env: Mapping[str, str] | None = None,
    timeouts: Timeouts = Timeouts(),
    simulator: SimulatorConfig | None = None,
) -> AsyncIterator[Client]:
    """A client for a manifest's provider.

    For ``provider: simulator`` the built-in simulator is started in this process on a loopback
    port (with ``simulator`` as its config, if given) and stopped afterwards.
    """
    provider = config.spec
    auth = credentials(provider, os.environ if env is None else env, config.api_key_env)
    async with AsyncExitStack() as stack:
        base_url = config.base_url
        if provider.name is ProviderName.SIMULATOR and not base_url:
            # Imported here: the simulator (aiohttp.web, PyAV) loads only when it is used.
            from kbatch.simulator import running

            base_url = (await stack.enter_async_context(running(simulator))).url
        client = Client(
            provider,
            auth=auth,
            base_url=base_url,
            prefix=config.prefix,
            dialect=config.dialect,
            routes=config.routes,
            timeouts=timeouts,
        )
        yield await stack.enter_async_context(client)


__all__ = [
    "Auth",
    "BearerKey",
    "Client",
    "Download",
    "KlingJwt",
    "Timeouts",
    "connect",
    "credentials",
]
