"""Raw HTTP against the simulator: what a client of any quality would send."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from kbatch.simulator import ManualClock, Simulator, SimulatorConfig, running
from tests.conftest import IMAGES

B64 = base64.b64encode((IMAGES / "ok.png").read_bytes()).decode()
JPG = base64.b64encode((IMAGES / "ok.jpg").read_bytes()).decode()

EXPAND = {
    "image": B64,
    "up_expansion_ratio": 0.25,
    "down_expansion_ratio": 0.25,
    "left_expansion_ratio": 0.25,
    "right_expansion_ratio": 0.25,
}
MULTI = {"subject_image_list": [{"subject_image": B64}, {"subject_image": JPG}]}
VIDEO = {"image": B64, "duration": "5"}
ROUTES = {
    "expand": "/v1/images/editing/expand",
    "multi": "/v1/images/multi-image2image",
    "legacy": "/kling/v1/images/generations",
    "text2video": "/v1/videos/text2video",
    "text2image": "/v1/images/generations",
    "video": "/v1/videos/image2video",
}


class Raw:
    """Sends whatever it is given, with any Bearer token."""

    def __init__(self, sim: Simulator, session: aiohttp.ClientSession) -> None:
        self.sim, self.session = sim, session

    async def post(
        self, route: str, body: Any, *, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        sent = {"Authorization": "Bearer anything"} if headers is None else headers
        sent = {**sent, "Content-Type": "application/json"}
        data = io.BytesIO(json.dumps(body).encode())
        async with self.session.post(
            self.sim.url + ROUTES.get(route, route), data=data, headers=sent
        ) as response:
            return response.status, await response.json(content_type=None)

    async def get(self, path: str) -> tuple[int, Any]:
        headers = {"Authorization": "Bearer anything"}
        async with self.session.get(self.sim.url + path, headers=headers) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.read()


@pytest.fixture
async def raw(sim: Simulator) -> AsyncIterator[Raw]:
    async with aiohttp.ClientSession() as session:
        yield Raw(sim, session)


@pytest.fixture
async def strict(clock: ManualClock) -> AsyncIterator[Raw]:
    """Raw HTTP against a simulator that keeps the strict refusals (``kbatch simulator
    --strict``): unknown fields and empty optional strings are refused."""
    config = SimulatorConfig(task_seconds=10, clock=clock, strict=True)
    async with running(config) as sim, aiohttp.ClientSession() as session:
        yield Raw(sim, session)
