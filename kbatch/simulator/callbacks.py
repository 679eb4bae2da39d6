"""Callbacks, as Kling sends them: the bare task object POSTed to the task's ``callback_url``
on each change of status (submitted, processing, then succeed or failed).

A task made on the new path-addressed API gets its own shape (:func:`views.task_json`). With a
``webhook_secret`` configured, every callback (both shapes) is signed as Standard Webhooks
sign (:mod:`signing`).

Gateways deliver some callbacks more than once (``SimulatorConfig.callback_duplicates`` is the
share sent twice), and a receiver that is down simply misses them: the simulator, like Kling,
does not try again. Only loopback addresses are ever called; any other callback_url is counted
in ``refused`` and never contacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from kbatch.provider.wire import TaskStatus
from kbatch.simulator import signing, views
from kbatch.simulator.config import SimulatorConfig
from kbatch.simulator.tasks import SimTask, TaskStore


class Followed(Protocol):
    """A task callbacks are posted for: a :class:`SimTask`, or a building block's task."""

    task_id: str
    callback_url: str | None

    def status(self, now: float) -> TaskStatus: ...

    def to_json(self, now: float, base_url: str) -> dict[str, Any]: ...


def loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address (an IPv6 zone, ``::1%lo``, allowed)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def loopback(url: str) -> bool:
    return loopback_host(urlsplit(url).hostname or "")


class CallbackSender:
    """Watches the tasks that asked for callbacks and posts each change of status."""

    def __init__(
        self, store: TaskStore, base_url: Callable[[], str], config: SimulatorConfig
    ) -> None:
        self.store = store
        self.base_url = base_url
        self.duplicates = config.callback_duplicates
        self.secret = config.webhook_secret
        self.every = 0.01
        self._random = random.Random(config.seed)
        self._running: asyncio.Task[None] | None = None
        self._told: dict[str, TaskStatus] = {}  # the last status posted, per task
        self._waiting: dict[str, Followed] = {}  # tasks whose end is not posted yet
        #: Callbacks posted and answered with 2xx, failed (refused, no answer), and not sent
        #: because the address was not loopback.
        self.counts: Counter[str] = Counter()

    def start(self) -> None:
        self._running = asyncio.create_task(self.run())

    async def stop(self) -> None:
        if self._running is not None:
            self._running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._running
            self._running = None

    def follow(self, task: Followed) -> None:
        if task.callback_url:
            self._waiting[task.task_id] = task

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                await asyncio.sleep(self.every)
                now = self.store.clock()
                for task in list(self._waiting.values()):
                    status = task.status(now)
                    if self._told.get(task.task_id) is status:
                        continue
                    self._told[task.task_id] = status
                    if status.finished:
                        del self._waiting[task.task_id]
                    times = 2 if self._random.random() < self.duplicates else 1
                    for _ in range(times):
                        await self._post(session, task, now)

    async def _post(self, session: aiohttp.ClientSession, task: Followed, now: float) -> None:
        url = task.callback_url or ""
        if not loopback(url):
            self.counts["refused"] += 1
            return
        base = self.base_url()
        if isinstance(task, SimTask) and task.path is not None:
            shown = views.task_json(task, now, base)
        else:
            shown = task.to_json(now, base)
        body = json.dumps(shown).encode()
        headers = {"Content-Type": "application/json"}
        if self.secret:
            headers |= signing.headers(self.secret, uuid.uuid4().hex, int(time.time()), body)
        try:
            async with session.post(url, data=body, headers=headers) as answer:
                self.counts["delivered" if answer.status < 300 else "rejected"] += 1
        except (aiohttp.ClientError, TimeoutError, OSError):
            self.counts["failed"] += 1


__all__ = ["CallbackSender", "loopback", "loopback_host"]
