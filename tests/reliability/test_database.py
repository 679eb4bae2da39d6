"""The shared state's database lost in the middle of a run (every connection cut, new ones
refused, through a relay the test controls): the run stops cleanly with a clear message that
never shows the password, and once the database is back the next run finishes every job, none
paid for twice."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from kbatch.engine.events import Event
from kbatch.engine.options import RunOptions, StopReason
from kbatch.provider.transport import Timeouts
from kbatch.run import execute, prepare
from kbatch.simulator import SimulatorConfig, running
from tests.project import FAST, Project, video
from tests.reliability.checks import exactly_once, settle, totals_agree
from tests.reliability.conftest import FIGURES

#: A lease short enough for the next run to take over soon (creates fit in it: 2 s).
LEASE = 3.0
QUICK = Timeouts(connect=1.0, read=1.0, download_read=1.0)


class Relay:
    """A TCP relay on loopback to the database, which can be cut (every connection dropped,
    new ones refused) and restored on the same port. It runs on its own event loop in a
    thread: kbatch opens the state with blocking calls, which must not stop the relay."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def start(self) -> None:
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result()

    def cut(self) -> None:
        asyncio.run_coroutine_threadsafe(self._cut(), self._loop).result()

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._pipes):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._pipes |= {writer, up_writer}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._pipes -= {writer, up_writer}


def through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:{parts.password}@127.0.0.1:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


async def test_a_database_lost_mid_run_stops_it_cleanly_and_the_next_run_finishes(
    tmp_path: Path, pg_state: str
) -> None:
    parts = urlsplit(pg_state)
    relay = Relay(parts.hostname or "127.0.0.1", parts.port or 5432)
    relay.start()
    url = through(pg_state, relay.port)
    config = SimulatorConfig(task_seconds=0.3, seed=7, videos=False)
    try:
        async with running(config) as sim:
            jobs = [video(f"v{i}", f"p {i}") for i in range(12)]
            project = Project(tmp_path, sim, jobs, state=url)

            def on_event(event: Event) -> None:
                project.events.append(event)
                if event.name == "submitted" and len(project.named("submitted")) == 3:
                    relay.cut()  # every connection dropped, no new one taken

            options = RunOptions(pacing=FAST, state_path=url, lease=LEASE, timeouts=QUICK)
            plan = await asyncio.to_thread(prepare, project.manifest, options)
            with plan:
                result = await execute(plan, on_event=on_event)

            assert result.stop is StopReason.STATE and result.exit_code == 1
            assert result.message is not None and "state database" in result.message
            assert parts.password and parts.password not in result.message
            assert ":***@" in result.message
            assert result.report_error is not None  # the reports need the database too

            relay.start()  # the database is back, on the same address
            runs, _ = await settle(project, lease=LEASE, timeouts=QUICK)
            FIGURES["database lost mid-run: runs to finish after"] += runs

            exactly_once(project, sim, files=12)
            totals_agree(pg_state, project.name)
    finally:
        relay.close()
