"""Callbacks: Kling (and the gateways) POST a task to its ``callback_url`` on each change of
status, in the shape of the API that made it (``task_id``/``task_status`` on /v1, ``id``/``status``
on the new API). kbatch can listen for them, so that a finished task is noticed at once without
polling densely around its expected end.

::

    receiver = Receiver(Listen("0.0.0.0", 8099, "https://me.example/hooks"), hint=poller.hint)
    await receiver.start()                 # ConfigError if the port cannot be taken
    receiver.callback_url                  # what each create sends: public URL + secret path
    await receiver.close()

A callback is a hint, never the truth: callbacks repeat, arrive out of order, and anyone who
can reach the port can send one. So a callback only makes its task due for a status request at
once (still within the provider's pace); what the provider then answers is what counts. The
path carries a random token, so that a body posted elsewhere is refused before it costs even a
lookup; a body that is not a task is refused (400). With a webhook secret (Kling's Standard
Webhooks signatures, :mod:`kbatch.engine.signatures`), a callback that does not verify, or whose
timestamp is outside the window, is dropped and counted before it is even read as a task; so is
one whose headers cannot be read (a timestamp of 400 digits, bytes that are not text): 401, never
a 500. Polling goes on as the safety net, sparse while callbacks arrive and dense again when
finished tasks are found without one.

The port is open to anyone, so its connections are held to a deadline and a cap
(:mod:`kbatch.engine.connections`): a request not in within ``request_timeout`` (10 s) is
dropped, and the listener never holds more connections than the file limit leaves it after the
run's own needs, so that no load on it can starve the run's requests to the provider.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable

from aiohttp import web

from kbatch.engine.connections import BACKLOG, REQUEST_TIMEOUT, Doorman, connection_cap
from kbatch.engine.signatures import WebhookSecret
from kbatch.errors import ConfigError
from kbatch.provider.config import Listen
from kbatch.provider.outputs import parse_either

#: The largest callback body read (a task object is a few kilobytes).
MAX_BODY = 1024 * 1024


class Receiver:
    """A small aiohttp server that turns callbacks into hints."""

    def __init__(
        self,
        listen: Listen,
        *,
        hint: Callable[[str], bool],
        secret: WebhookSecret | None = None,
        now: Callable[[], float] = time.time,
        request_timeout: float = REQUEST_TIMEOUT,
        connections: int | None = None,
        routes: Callable[[web.Application], None] | None = None,
    ) -> None:
        self.listen = listen
        self._routes = routes  # more routes on the same listener (media: {serve: true})
        self._timeout = request_timeout
        self._cap = connections if connections is not None else connection_cap()
        #: The listener's connections (its counts: opened, slow, dropped, refused).
        self.doorman: Doorman | None = None
        self._server: asyncio.Server | None = None
        self._hint = hint
        self._secret = secret
        self._now = now
        self._path = f"/kbatch/callback/{secrets.token_urlsafe(18)}"
        self._runner: web.AppRunner | None = None
        #: Callbacks by what became of them: hinted (the end of a watched task), noted (a
        #: change short of the end), unwatched (a repeat, or not ours), refused (not a task);
        #: with a secret, dropped unread: unsigned, stale (outside the window) or forged.
        self.counts: Counter[str] = Counter()

    @property
    def callback_url(self) -> str:
        return self.listen.public_url + self._path

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(self._path, self._receive)
        if self._routes is not None:
            self._routes(app)
        # aiohttp's own idle timeout; a request slow to arrive is the doorman's
        self._runner = web.AppRunner(app, access_log=None, keepalive_timeout=self._timeout)
        await self._runner.setup()
        assert self._runner.server is not None
        self.doorman = Doorman(self._runner.server, timeout=self._timeout, cap=self._cap)
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                self.doorman, self.listen.host, self.listen.port, backlog=BACKLOG
            )
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            where = f"{self.listen.host}:{self.listen.port}"
            raise ConfigError(f"cannot listen for callbacks on {where}: {exc.strerror}") from None

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self.counts["refused"] += 1
            return web.json_response({"ok": False, "error": "too large"}, status=413)
        except ConnectionError:  # dropped before its body was in (the doorman's deadline)
            return web.Response(status=408)
        if self.doorman is not None:
            self.doorman.received(request.transport)
        if self._secret is not None:
            problem = self._secret.check(request.headers, body, now=self._now())
            if problem is not None:
                self.counts[problem] += 1
                return web.json_response({"ok": False, "error": "signature"}, status=401)
        try:
            task = parse_either(json.loads(body))  # either API's shape
        except (ValueError, TypeError, OverflowError, KeyError, web.HTTPException):
            self.counts["refused"] += 1
            return web.json_response({"ok": False, "error": "not a task object"}, status=400)
        if not task.status.finished:  # nothing to act on: no slot frees before the end
            self.counts["noted"] += 1
        elif self._hint(task.task_id):
            self.counts["hinted"] += 1
        else:
            self.counts["unwatched"] += 1  # a repeat, or a task of another run
        return web.json_response({"ok": True})


__all__ = ["MAX_BODY", "Receiver"]
