"""A slow-loris attack on the callback listener of a real ``kbatch run --listen`` (a child
process whose file limit is 256): 300 half-sent requests. The listener closes every one of them
within a minute (at its real 10 s deadline, or sooner to make room at its cap), answers a real
callback sent 2 s into the attack at once, and the run's own requests to the provider never
meet "Too many open files": the run completes."""

from __future__ import annotations

import asyncio
import resource
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from kbatch.engine.connections import REQUEST_TIMEOUT
from kbatch.simulator import Simulator, SimulatorConfig, running
from tests.engine.test_polling import free_port
from tests.project import Project, video
from tests.reliability.conftest import FIGURES

ATTACKERS = 300
FILE_LIMIT = 256


def file_limit() -> None:
    """For the child: at most FILE_LIMIT open files."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with running(SimulatorConfig(task_seconds=8.0, videos=False)) as simulator:
        yield simulator


async def half_sent(host: str, port: int, number: int) -> asyncio.StreamReader:
    """A connection that sends part of a request and then nothing: half of them stop within
    the headers, half within the body."""
    reader, writer = await asyncio.open_connection(host, port)
    if number % 2:
        writer.write(b"POST /kbatch/callback/guess HTTP/1.1\r\nHost: x\r\nContent-")
    else:
        writer.write(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n{")
    await writer.drain()
    HELD.append(writer)
    return reader


HELD: list[asyncio.StreamWriter] = []


async def closed(reader: asyncio.StreamReader) -> float:
    """When (by the loop's clock) the listener closed this connection."""
    try:
        while await reader.read(1024):
            pass
    except ConnectionError:
        pass
    return asyncio.get_running_loop().time()


async def test_300_half_open_connections_neither_hold_the_listener_nor_stop_the_run(
    tmp_path: Path, sim: Simulator
) -> None:
    project = Project(tmp_path, sim, [video(f"v{i}", f"prompt {i}") for i in range(6)])
    created = asyncio.Event()
    sim.arrivals.append(lambda op: created.set() if sim.store.tasks else None)
    port = free_port()
    child = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "kbatch", "run", str(project.manifest), "--no-progress"),
        *("--listen", f"127.0.0.1:{port}"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        preexec_fn=file_limit,
    )
    output = asyncio.create_task(child.communicate())
    await asyncio.wait_for(created.wait(), 30.0)
    task = next(iter(sim.store.tasks.values()))
    callback_url = str(task.callback_url)
    loop = asyncio.get_running_loop()

    began = loop.time()
    opened_at: list[float] = []
    closing = []
    for number in range(ATTACKERS):
        reader = await half_sent("127.0.0.1", port, number)
        opened_at.append(loop.time())
        closing.append(asyncio.create_task(closed(reader)))
    opened = loop.time() - began
    await asyncio.sleep(max(0.0, 2.0 - opened))  # the attack's own pace: 2 s in, a real one

    sent = loop.time()
    body = {"task_id": task.task_id, "task_status": "processing", "task_result": {}}
    async with (
        aiohttp.ClientSession() as session,
        session.post(callback_url, json=body, timeout=aiohttp.ClientTimeout(10.0)) as answer,
    ):
        status = answer.status
    answered = loop.time() - sent

    ends = await asyncio.wait_for(asyncio.gather(*closing), 60.0)
    running_still = child.returncode is None  # closed by the listener, not by the run's end
    out, _ = await asyncio.wait_for(output, 120.0)
    for writer in HELD:
        writer.close()
    HELD.clear()
    text = out.decode()

    all_closed = max(ends) - began
    held = [end - start for start, end in zip(opened_at, ends, strict=True)]
    at_once = sum(1 for each in held if each < REQUEST_TIMEOUT / 2)  # dropped at the cap
    assert running_still and 0 < at_once < ATTACKERS
    assert status == 200 and answered < 10.0, answered
    assert all_closed < REQUEST_TIMEOUT + 10.0, all_closed  # well within a minute
    assert child.returncode == 0, text
    assert "Too many open files" not in text and "Traceback" not in text
    assert urlsplit(callback_url).port == port
    FIGURES["hostile callbacks: half-open connections closed"] += len(ends)
    FIGURES["hostile callbacks: dropped at the cap at once"] += at_once
    FIGURES["hostile callbacks: seconds until all closed"] += round(all_closed)
    FIGURES["hostile callbacks: ms to answer the real callback"] += round(answered * 1000)
