"""The HTTP both of Kling's APIs share: a session, one request and its answer, a streamed download.

::

    session = open_session(timeouts)
    reply, headers = await send(session, "POST", url, "create ...", parts, auth=auth,
                                scrub=scrub, creating=True)
    async with download(session, url, offset=0, timeouts=timeouts, scrub=scrub) as body: ...

The ``/v1`` client and the path-addressed client differ in their routes and shapes, never in how
bytes move: a request's body goes out as parts (shared image bytes are never copied into one
body), a download never carries the Authorization header (result URLs are on other hosts), and
every message is scrubbed of the secrets in use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Self

import aiohttp

from kbatch.errors import JobRejected, Outcome, RetryLater
from kbatch.provider import envelope, wire
from kbatch.provider.auth import Auth
from kbatch.provider.payload import PartsPayload
from kbatch.provider.protocol import Download
from kbatch.provider.transport import Scrub, Timeouts, content_range, mapped, short
from kbatch.version import __version__

_CHUNK = 256 * 1024
#: Request bodies larger than this (base64 images) are streamed; smaller ones go out with their
#: headers in one write.
STREAMED = 64 * 1024


def open_session(timeouts: Timeouts) -> aiohttp.ClientSession:
    """A session for one provider: 100 connections, the read timeout bounding each answer."""
    connector = aiohttp.TCPConnector(limit=100, enable_cleanup_closed=True)
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": f"kbatch/{__version__}"},
        timeout=aiohttp.ClientTimeout(
            total=None, connect=timeouts.connect, sock_read=timeouts.read
        ),
    )


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    what: str,
    body: Sequence[bytes] | None,
    *,
    auth: Auth,
    scrub: Scrub,
    creating: bool,
) -> tuple[envelope.Reply, Mapping[str, str]]:
    """One request, signed by ``auth``; the answer unwrapped (a redirect is an answer too: the
    API never redirects, so it means the wrong host)."""
    headers = {"Authorization": auth.header()}
    data: bytes | PartsPayload | None = None
    if body is not None:
        size = sum(len(part) for part in body)
        # Small bodies go out as bytes, with their headers in one write; large ones (images)
        # part by part, the shared image bytes never copied into one body.
        data = b"".join(body) if size <= STREAMED else PartsPayload(body)
        headers["Content-Type"] = "application/json"
    with mapped(what, scrub, creating=creating):
        async with session.request(
            method, url, data=data, headers=headers, allow_redirects=False
        ) as response:
            raw = await response.read()
            reply = envelope.read_reply(response.status, response.content_type, raw)
            if 300 <= response.status < 400:
                target = response.headers.get("Location", "elsewhere")
                reply = envelope.Reply(
                    response.status, None, f"redirected to {short(target)}", json=False
                )
            return reply, response.headers


@asynccontextmanager
async def download(
    session: aiohttp.ClientSession, url: str, *, offset: int, timeouts: Timeouts, scrub: Scrub
) -> AsyncIterator[Download]:
    """Stream a result file, from byte ``offset`` when the server honours a Range request
    (``Download.offset`` says where the body starts: 0 when it sent the whole file). RetryLater
    on a lost connection or a truncated body; JobRejected when the file is gone (the provider
    deletes results after 30 days). No Authorization header: the session sets none."""
    timeout = aiohttp.ClientTimeout(
        total=None, connect=timeouts.connect, sock_read=timeouts.download_read
    )
    what = f"download {short(url)}"
    headers = {"Range": f"bytes={offset}-"} if offset > 0 else {}
    with mapped(what, scrub):
        async with session.get(
            url, timeout=timeout, allow_redirects=True, headers=headers
        ) as response:
            if response.status == 416 and offset:  # the part is stale: start over
                response.release()
                async with download(
                    session, url, offset=0, timeouts=timeouts, scrub=scrub
                ) as whole:
                    yield whole
                return
            if response.status not in (200, 206):
                raw = await response.content.read(2048)
                reply = envelope.read_reply(response.status, response.content_type, raw)
                # A media host is no API: a busy one is retried, any other refusal (an
                # expired signed URL, a deleted file) fails the job, never the run.
                outcome = wire.classify(response.status, None, creating=False)
                cls = RetryLater if outcome is Outcome.RETRY else JobRejected
                raise cls(
                    scrub(f"{what}: HTTP {response.status}: {reply.message}"),
                    status=response.status,
                )
            start, total = 0, response.content_length
            if response.status == 206:
                start, total = content_range(response.headers.get("Content-Range", ""))
                if start != offset:
                    raise RetryLater(f"{what}: asked for byte {offset}, got byte {start}")
            yield Download(
                response.content_length,
                response.content_type,
                _chunks(response, what, scrub),
                offset=start,
                total=total,
            )


async def _chunks(
    response: aiohttp.ClientResponse, what: str, scrub: Scrub
) -> AsyncIterator[bytes]:
    received = 0
    with mapped(lambda: f"{what}: the download broke off after {received} bytes", scrub):
        async for chunk in response.content.iter_chunked(_CHUNK):
            received += len(chunk)
            yield chunk
    expected = response.content_length
    if expected is not None and received != expected:
        raise RetryLater(f"{what}: got {received} of {expected} bytes")


def scrubber(auth: Auth) -> Scrub:
    """Replace every secret ``auth`` holds (at least 4 characters long) with ``***``. Asked at
    each use: a JWT signed afresh is a new secret."""

    def scrub(text: str) -> str:
        for secret in auth.secrets():
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    return scrub


class Session:
    """What both of Kling's API clients share: one aiohttp session, opened by ``async with``,
    their credentials (never shown: every text from the wire is scrubbed of them), their
    timeouts, and the download of a result (no Authorization header)."""

    def __init__(self, auth: Auth, timeouts: Timeouts) -> None:
        self._auth = auth
        self._timeouts = timeouts
        self._scrubber = scrubber(auth)
        self._session: aiohttp.ClientSession | None = None

    @property
    def credential_hint(self) -> str:
        return self._auth.source

    async def __aenter__(self) -> Self:
        self._session = open_session(self._timeouts)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def download(self, url: str, *, offset: int = 0) -> AbstractAsyncContextManager[Download]:
        """Stream a result file from byte ``offset`` (:func:`download`: no Authorization header,
        RetryLater on a broken body, JobRejected when it is gone)."""
        return download(
            self._open(), url, offset=offset, timeouts=self._timeouts, scrub=self._scrub
        )

    async def _send(
        self, method: str, url: str, what: str, body: Sequence[bytes] | None, *, creating: bool
    ) -> tuple[envelope.Reply, Mapping[str, str]]:
        """One request with this client's credentials: :func:`send`."""
        session, auth, scrub = self._open(), self._auth, self._scrub
        return await send(
            session, method, url, what, body, auth=auth, scrub=scrub, creating=creating
        )

    def _scrub(self, text: str) -> str:
        return self._scrubber(text)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            name = type(self).__name__
            raise RuntimeError(f"use the client as 'async with {name}(...) as client'")
        return self._session


__all__ = [
    "STREAMED",
    "Session",
    "download",
    "open_session",
    "scrubber",
    "send",
]
