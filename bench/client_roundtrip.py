"""Benchmark: the client against the in-process simulator on loopback.

Sends N creates (a 400x300 PNG as raw base64, or an image URL), then N gets and one list page
per 500 tasks, with a bounded number in flight, and prints requests per second for each phase.
Both sides share one process and one core's event loop, so the figures are a floor for the
client's own overhead, not a forecast of a provider's speed. Not a test: it prints figures.

    python bench/client_roundtrip.py                     # 2,000 tasks, 32 in flight
    python bench/client_roundtrip.py --tasks 10000 --in-flight 64 --image url
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kbatch.images import ImageInput, ImageSource
from kbatch.provider.auth import BearerKey
from kbatch.provider.catalogue import PROVIDERS, JobKind, ProviderName
from kbatch.provider.client import Client
from kbatch.simulator import SimulatorConfig, running

REPO = Path(__file__).resolve().parent.parent
PNG = REPO / "tests" / "manifests" / "images" / "ok.png"
KIND = JobKind.IMAGE2VIDEO


async def bounded(count: int, limit: int, work: Callable[[int], Awaitable[Any]]) -> float:
    """Run work(0..count-1) with at most ``limit`` at once; return the seconds taken."""
    gate = asyncio.Semaphore(limit)

    async def one(number: int) -> None:
        async with gate:
            await work(number)

    started = time.perf_counter()
    await asyncio.gather(*(one(number) for number in range(count)))
    return time.perf_counter() - started


async def main(tasks: int, in_flight: int, image: str) -> None:
    if image == "url":
        picture = ImageInput(ImageSource.URL, "https://example.com/cat.png")  # never fetched
    else:
        picture = ImageInput(ImageSource.FILE, str(PNG))
    request = {"image": picture, "duration": "5"}
    config = SimulatorConfig(task_seconds=0, parallel_limit=tasks + 1, log_size=1000)
    async with running(config) as sim:
        provider = PROVIDERS[ProviderName.KLING]
        async with Client(provider, auth=BearerKey("bench"), base_url=sim.url) as client:
            ids: list[str] = [""] * tasks

            async def create(number: int) -> None:
                task = await client.create(KIND, request, external_task_id=f"kb-{number}")
                ids[number] = task.task_id

            async def get(number: int) -> None:
                await client.get(KIND, ids[number])

            async def page(number: int) -> None:
                await client.list(KIND, page=number + 1)

            pages = -(-tasks // 500)
            create_s = await bounded(tasks, in_flight, create)
            get_s = await bounded(tasks, in_flight, get)
            list_s = await bounded(pages, in_flight, page)
    assert all(count == 1 for count in sim.creates.values()) and len(sim.creates) == tasks
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"tasks {tasks}, {in_flight} in flight, image as {image}")
    print(f"  create  {tasks / create_s:8.0f} req/s  ({create_s:.2f} s)")
    print(f"  get     {tasks / get_s:8.0f} req/s  ({get_s:.2f} s)")
    print(f"  list    {pages / list_s:8.1f} pages/s of 500 tasks  ({list_s:.2f} s)")
    print(f"  peak RSS {peak:.0f} MB (client and simulator together)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--image", choices=["base64", "url"], default="base64")
    options = parser.parse_args()
    asyncio.run(main(options.tasks, options.in_flight, options.image))
