"""The callback listener's connections, held to a deadline and a cap, so that whoever can reach
the port cannot hold the run's file descriptors (or the listener) hostage.

aiohttp's server times out only an idle connection (``keepalive_timeout``, an hour by default);
a client that sends half a request line, or headers and then a body a byte a minute, is waited
for without end, and every such connection holds a descriptor of the process: 300 of them under
a file limit of 256 left the run's own requests to Kling failing with "Too many open files".

:class:`Doorman` stands between the listening socket and aiohttp's protocol (its
``web.Server`` is a protocol factory; each connection gets a :class:`_Guarded` around it):

- a request must arrive in full (request line, headers and body) within ``timeout`` seconds of
  the connection opening or of the previous request's end; else the connection is closed (so
  is a kept-alive connection idle that long);
- at most ``cap`` connections are open at once: at the cap the one waiting longest (for its
  request, or idle) is closed to make room, and only when every connection is being answered
  is the new one refused;
- the cap derives from the process's file limit (:func:`connection_cap`), leaving the run what
  it needs for its own client connections, its state and its files.

::

    doorman = Doorman(runner.server, timeout=10.0, cap=connection_cap())
    server = await loop.create_server(doorman, host, port, backlog=BACKLOG)
    doorman.received(request.transport)          # from the handler, once the body is read
"""

from __future__ import annotations

import asyncio
import resource
from collections import Counter
from collections.abc import Callable
from typing import cast

#: Seconds a callback may take to arrive in full (a real one takes milliseconds).
REQUEST_TIMEOUT = 10.0
#: Connections taken from the kernel's queue at each wake-up (asyncio accepts up to the backlog
#: at once): the most the listener can hold past its cap, for a moment.
BACKLOG = 16
#: Descriptors the run keeps for itself: its client's pool (100 connections to the provider),
#: its state (SQLite and its WAL), log and result files, the interpreter's own.
RESERVED = 100 + 32
#: Connections at most, whatever the file limit.
MOST = 1024
#: Connections at least (a file limit too low for these leaves the listener this many).
LEAST = 8


def connection_cap(limit: int | None = None) -> int:
    """How many connections the listener holds at most under the file limit ``limit`` (default:
    this process's soft RLIMIT_NOFILE): half of what the run does not keep for itself
    (:data:`RESERVED`), between :data:`LEAST` and :data:`MOST`.

    >>> connection_cap(256), connection_cap(1024), connection_cap(1_048_576)
    (54, 438, 1024)
    """
    if limit is None:
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if limit == resource.RLIM_INFINITY:
            limit = 2 * MOST + RESERVED
    return max(LEAST, min(MOST, (limit - RESERVED - BACKLOG) // 2))


class Doorman:
    """A protocol factory over ``inner`` (aiohttp's ``web.Server``) that closes connections
    whose request is not in within ``timeout`` s, and holds at most ``cap`` at once."""

    def __init__(self, inner: Callable[[], asyncio.Protocol], *, timeout: float, cap: int) -> None:
        self._inner = inner
        self.timeout = timeout
        self.cap = cap
        #: Open connections, the one waiting longest for its request first.
        self._open: dict[_Guarded, None] = {}
        self._by_transport: dict[asyncio.BaseTransport, _Guarded] = {}
        #: What became of connections: opened, slow (its request not in within the timeout),
        #: idle (no next request within it), dropped (the oldest waiting, to make room at the
        #: cap), refused (at the cap, every one was being answered).
        self.counts: Counter[str] = Counter()
        self.peak = 0

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self, self._inner())

    @property
    def open(self) -> int:
        return len(self._open)

    def received(self, transport: asyncio.BaseTransport | None) -> None:
        """The handler read a whole request on ``transport``: it is being answered; its next
        request has ``timeout`` s from now."""
        guarded = self._by_transport.get(transport) if transport is not None else None
        if guarded is not None:
            guarded.answering = guarded.idle = True
            # The handler answers without waiting: its answer is written before the loop
            # runs what is scheduled next. An idle connection can make room at the cap.
            asyncio.get_running_loop().call_soon(guarded.answered)
            self._open.pop(guarded, None)
            self._open[guarded] = None  # the newest of those waiting again
            guarded.arm()

    def _opened(self, guarded: _Guarded, transport: asyncio.BaseTransport) -> bool:
        """Admit a new connection (False: refused, it is closed)."""
        self.counts["opened"] += 1
        if len(self._open) >= self.cap:
            oldest = next((each for each in self._open if not each.answering), None)
            if oldest is None:
                self.counts["refused"] += 1
                return False
            self.counts["dropped"] += 1
            oldest.close()
        self._open[guarded] = None
        self._by_transport[transport] = guarded
        self.peak = max(self.peak, len(self._open))
        return True

    def _closed(self, guarded: _Guarded) -> None:
        self._open.pop(guarded, None)
        if guarded.transport is not None:
            self._by_transport.pop(guarded.transport, None)


class _Guarded(asyncio.Protocol):
    """One connection: aiohttp's protocol inside, a deadline and the doorman's bookkeeping
    around it. Every call the transport makes is passed on."""

    def __init__(self, doorman: Doorman, inner: asyncio.Protocol) -> None:
        self._doorman = doorman
        self._inner = inner
        self.transport: asyncio.Transport | None = None
        self.answering = False  # a whole request is in; its answer is on its way
        self.idle = False  # a request was answered, and nothing sent since
        self._made = False  # aiohttp's protocol was told of the connection
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a TCP server's
        if not self._doorman._opened(self, transport):
            self.transport.abort()
            return
        self.arm()
        self._inner.connection_made(transport)
        self._made = True

    def data_received(self, data: bytes) -> None:
        self.answering = self.idle = False  # the next request has begun (its deadline runs)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._doorman._closed(self)
        if self._made:
            self._made = False
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def arm(self) -> None:
        """The request (or the next one) must be in within the doorman's timeout."""
        if self._deadline is not None:
            self._deadline.cancel()
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._doorman.timeout, self._expire)

    def answered(self) -> None:
        self.answering = False

    def _expire(self) -> None:
        self._doorman.counts["idle" if self.idle else "slow"] += 1
        self.close()

    def close(self) -> None:
        """Close at once: nothing is owed to a request that did not arrive."""
        if self._deadline is not None:
            self._deadline.cancel()
        self._doorman._closed(self)
        if self.transport is not None:
            self.transport.abort()


__all__ = ["BACKLOG", "REQUEST_TIMEOUT", "Doorman", "connection_cap"]
