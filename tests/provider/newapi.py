"""A small stand-in for Kling's path-addressed API on loopback, answering in the exact shapes of
the vendor's pages (the 2026-09 snapshot of kling-3.0-turbo-t2v.md and its siblings): what the
client sends is recorded, what it gets back is the pages' examples with their values filled in.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

API_KEY = "sk-new-api-key-0123456789"

#: The create answer of every create page ("Response Example"), its values filled in.
CREATED: dict[str, Any] = {
    "code": 0,
    "message": "SUCCEED",
    "request_id": "req-create-1",
    "data": {
        "id": "893605946402811985",
        "status": "submitted",
        "create_time": 1781080778802,
        "update_time": 1781080794151,
        "external_id": "kb-1",
    },
}
#: A finished task as ``GET /tasks`` gives it (the pages' example: a video output and billing).
SUCCEEDED = {
    "id": "893605946402811985",
    "status": "succeeded",
    "message": "",
    "create_time": 1781080778802,
    "update_time": 1781080794151,
    "external_id": "kb-1",
    "outputs": [
        {
            "type": "video",
            "id": "v-1",
            "url": "https://cdn.example/v.mp4",
            "watermark_url": "https://cdn.example/v-wm.mp4",
            "duration": "5.1",
        }
    ],
    "billing": [{"charge_type": "unit", "amount": "4", "package_type": "video"}],
}
#: The cash shape of ``billing[]`` (charge_type cash: cash_type, currency, list_price).
CASH = [
    {
        "charge_type": "cash",
        "cash_type": "balance",
        "amount": "0.56",
        "currency": "USD",
        "list_price": "0.70",
    }
]


@dataclass
class NewApi:
    """The server's state: tasks by id, every request seen, and the answers it is told to give."""

    url: str = ""
    limit: int = 50
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    bodies: list[tuple[str, Any]] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)
    #: Create answers to give instead of the task: "hold" keeps the answer back (it is lost).
    script: list[str] = field(default_factory=list)
    held: asyncio.Event = field(default_factory=asyncio.Event)

    def finish(self, task_id: str, billing: list[dict[str, Any]] | None = None) -> None:
        task = self.tasks[task_id]
        done = {**SUCCEEDED, **{k: task[k] for k in ("id", "external_id", "create_time")}}
        self.tasks[task_id] = done if billing is None else {**done, "billing": billing}

    async def create(self, request: web.Request) -> web.Response:
        self.auth.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return _error(
                401, 1000, f"Authorization failed for {request.headers.get('Authorization')}"
            )
        body = await request.json()
        self.bodies.append((request.match_info["route"] + "/" + request.match_info["model"], body))
        external = body["options"]["external_task_id"]
        if any(t["external_id"] == external for t in self.tasks.values()):
            return _error(400, 1201, "external_task_id already exists")
        task_id = str(893605946402811985 + len(self.tasks))
        task = {**CREATED["data"], "id": task_id, "external_id": external}
        self.tasks[task_id] = {**task, "message": "", "outputs": [], "billing": []}
        if self.script and self.script.pop(0) == "hold":
            await self.held.wait()  # the task is made; its answer never comes
        return web.json_response({**CREATED, "data": task})

    async def query(self, request: web.Request) -> web.Response:
        self.auth.append(request.headers.get("Authorization"))
        self.queries.append(request.query_string)
        ids, external = request.query.get("task_ids"), request.query.get("external_task_ids")
        if (ids is None) == (external is None):
            return _error(400, 1201, "task_ids and external_task_ids cannot be used together")
        wanted = (ids or external or "").split(",")
        if len(wanted) > self.limit:
            return _error(400, 1201, f"at most {self.limit} ids a query")
        key = "id" if ids is not None else "external_id"
        found = [t for t in self.tasks.values() if t[key] in wanted]
        return web.json_response(
            {"code": 0, "message": "SUCCEED", "request_id": "req-q", "data": found}
        )

    async def media(self, request: web.Request) -> web.Response:
        """A result file, as a CDN serves it (the key must never reach it)."""
        self.auth.append(request.headers.get("Authorization"))
        return web.Response(body=b"\x00\x00\x00\x18ftypmp42" + b"x" * 100)

    async def listing(self, request: web.Request) -> web.Response:
        """``POST /tasks``: pages of ``limit`` tasks, newest first, the cursor an offset."""
        self.auth.append(request.headers.get("Authorization"))
        query = await request.json()
        self.bodies.append(("tasks", query))
        tasks = sorted(self.tasks.values(), key=lambda t: str(t["id"]), reverse=True)
        for wanted in query.get("filters", []):
            tasks = [t for t in tasks if t[wanted["key"]] in wanted["values"]]
        start, limit = int(query.get("cursor") or 0), int(query.get("limit", 100))
        page, more = tasks[start : start + limit], start + limit < len(tasks)
        data = {
            "result": page,
            "count": len(page),
            "next_cursor": str(start + limit) if more else "",
            "has_more": more,
        }
        return web.json_response({"code": 0, "message": "SUCCEED", "request_id": "r", "data": data})


def _error(status: int, code: int, message: str) -> web.Response:
    body = {"code": code, "message": message, "request_id": "req-error"}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


@asynccontextmanager
async def serving(api: NewApi | None = None) -> AsyncIterator[NewApi]:
    """The stand-in on a free loopback port, stopped afterwards."""
    api = api or NewApi()
    app = web.Application()
    app.router.add_post("/{route}/{model}", api.create)
    app.router.add_get("/tasks", api.query)
    app.router.add_post("/tasks", api.listing)
    app.router.add_get("/media/{name}", api.media)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield api
    finally:
        api.held.set()
        await runner.cleanup()
