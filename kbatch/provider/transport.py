"""aiohttp's failures as kbatch's errors, in one place (as httpx maps httpcore's).

::

    with mapped(f"create {kind}", scrub, creating=True):
        async with session.post(url, ...) as response: ...

- nothing was sent (cannot connect): :class:`RetryLater`, safe to send again, create or not;
- a create whose answer was lost (reset, timeout): :class:`OutcomeUnknown`, look it up first;
- anything else: :class:`RetryLater`.

The message is scrubbed of every secret in use. The aiohttp error is kept as the cause (for a
bug's traceback) only when it cannot carry one: a response error holds the request's headers,
the Authorization header among them, so it is never chained.
"""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp

from kbatch.errors import API_ERRORS, ApiError, Outcome, OutcomeUnknown, RetryLater
from kbatch.provider import envelope, wire

Scrub = Callable[[str], str]
_SAFE_CAUSES = (
    TimeoutError,
    aiohttp.ClientConnectorError,
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientPayloadError,
)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. ``read`` bounds the wait for an answer; a create that passes it is 'unknown'."""

    connect: float = 10.0
    read: float = 60.0
    download_read: float = 60.0


class mapped:
    """Map the aiohttp errors raised inside to ApiErrors. ``what`` names the request (a
    callable is asked only when an error happens: "broke off after N bytes"). A class, not a
    generator-based context manager: it wraps every request, and costs a third as much."""

    __slots__ = ("creating", "scrub", "what")

    def __init__(
        self, what: str | Callable[[], str], scrub: Scrub, *, creating: bool = False
    ) -> None:
        self.what, self.scrub, self.creating = what, scrub, creating

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if exc is None or not isinstance(exc, aiohttp.ClientError | TimeoutError):
            return
        scrub = self.scrub
        if isinstance(exc, aiohttp.ClientConnectorError):
            message = f"{_what(self.what)}: cannot connect: {describe(exc)}"
            raise RetryLater(scrub(message)) from _cause(exc)
        message = f"{_what(self.what)}: {describe(exc)}"
        if self.creating:
            message += (
                "; the task may have been created: look it up by its external task id before "
                "sending it again"
            )
            raise OutcomeUnknown(scrub(message)) from _cause(exc)
        raise RetryLater(scrub(message)) from _cause(exc)


def api_error(
    reply: envelope.Reply,
    headers: Mapping[str, str],
    what: str,
    *,
    creating: bool,
    served_at: str,
    scrub: Scrub,
) -> ApiError:
    """The error an answer that is not a success means, by Kling's code and the HTTP status."""
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
            f" ({served_at} does not serve this route; check provider.base_url, "
            "provider.routes and provider.dialect)"
        )
    elif outcome is Outcome.UNKNOWN:
        message += "; the task may have been created: look it up before sending it again"
    if reply.request_id:
        message += f" (request_id {reply.request_id})"
    return API_ERRORS[outcome](
        scrub(message),
        status=reply.status,
        code=code,
        request_id=reply.request_id,
        retry_after=retry_after(headers.get("Retry-After")),
    )


def _what(what: str | Callable[[], str]) -> str:
    return what if isinstance(what, str) else what()


def _cause(exc: BaseException) -> BaseException | None:
    return exc if isinstance(exc, _SAFE_CAUSES) else None


def describe(exc: BaseException) -> str:
    """A failure in words.

    >>> describe(TimeoutError())
    'no answer in time'
    """
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer broke off"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def short(url: str, limit: int = 80) -> str:
    """A URL for a message: no query (signed URLs carry tokens there), at most ``limit`` long.

    >>> short("https://cdn.example/a.mp4?sig=secret")
    'https://cdn.example/a.mp4'
    """
    text = url.split("?", 1)[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def content_range(header: str) -> tuple[int, int | None]:
    """(first byte, total size or None) from a Content-Range header; (-1, None) if unreadable.

    >>> content_range("bytes 100-199/200")
    (100, 200)
    """
    unit, _, spec = header.partition(" ")
    span, _, size = spec.partition("/")
    first = span.partition("-")[0]
    if unit != "bytes" or not first.isdigit():
        return -1, None
    return int(first), int(size) if size.isdigit() else None


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    with contextlib.suppress(ValueError):
        return max(0.0, float(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


__all__ = [
    "Timeouts",
    "api_error",
    "content_range",
    "describe",
    "mapped",
    "retry_after",
    "short",
]
