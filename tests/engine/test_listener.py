"""The callback listener under abuse: slow requests dropped at their deadline, connections held
under a cap, headers and bodies that cannot be read answered 4xx and counted, and the webhook
secret the manifest names used by ``--listen``.

Raw clients are asyncio streams on 127.0.0.1 (a half-sent request is what they are for); times
are the event loop's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kbatch.engine.callbacks import Receiver
from kbatch.engine.scheduler import Scheduler
from kbatch.engine.signatures import WebhookSecret
from kbatch.errors import ExitCode
from kbatch.provider.config import Listen
from kbatch.simulator import running
from tests.engine.test_polling import DEFAULTS, listening, run, simulator
from tests.project import Project, on, video

SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
OTHER = "whsec_b3RoZXJhY2NvdW50c3NlY3JldA=="  # another account's secret
STAMP = 1781080794
TASK = json.dumps({"task_id": "t-1", "task_status": "succeed", "task_result": {}}).encode()


@pytest.fixture
async def receiver(request: pytest.FixtureRequest) -> AsyncIterator[Receiver]:
    """A receiver with a 0.5 s deadline and room for 4 connections (``secret`` if marked)."""
    secret = getattr(request, "param", None)
    found = Receiver(
        listening(),
        hint=lambda task_id: True,
        secret=WebhookSecret.parse(secret) if secret else None,
        now=lambda: STAMP,
        request_timeout=0.5,
        connections=4,
    )
    await found.start()
    yield found
    await found.close()
    for writer in WRITERS:
        writer.close()
    WRITERS.clear()


#: The writers of every raw connection, held (a writer collected closes its connection).
WRITERS: list[asyncio.StreamWriter] = []


async def connect(receiver: Receiver, sent: bytes) -> asyncio.StreamReader:
    reader, writer = await asyncio.open_connection(receiver.listen.host, receiver.listen.port)
    writer.write(sent)
    await writer.drain()
    WRITERS.append(writer)
    return reader


async def closed_after(reader: asyncio.StreamReader) -> float:
    """Seconds (by the loop's clock) until the listener closes this connection."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        while await reader.read(1024):
            pass
    except ConnectionError:
        pass  # an abort: a reset
    return loop.time() - began


def post(receiver: Receiver, headers: str, body: bytes = TASK) -> bytes:
    path = receiver.callback_url.removeprefix(receiver.listen.public_url)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    return head.encode("latin-1") + body


async def answer(receiver: Receiver, sent: bytes) -> int:
    """The status the listener answers a raw request with."""
    reader = await connect(receiver, sent)
    status_line = await asyncio.wait_for(reader.readline(), 5.0)
    return int(status_line.split()[1])


async def test_slow_headers_and_slow_bodies_are_dropped_at_the_deadline(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    slow_header = await connect(receiver, b"POST /kbatch/callback/x HTTP/1.1\r\nHost: x\r\n")
    slow_body = await connect(receiver, post(receiver, "")[:-10])  # 10 bytes short
    idle = await connect(receiver, b"")
    times = await asyncio.gather(*(closed_after(each) for each in (slow_header, slow_body, idle)))
    assert all(0.4 < took < 2.0 for took in times), times
    assert receiver.doorman is not None and receiver.doorman.counts["slow"] == 3
    assert await answer(receiver, post(receiver, "")) == 200  # a whole request still is
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


async def test_at_the_cap_the_oldest_waiting_connection_makes_room(receiver: Receiver) -> None:
    held = [await connect(receiver, b"POST /a HTTP/1.1\r\n") for _ in range(6)]
    assert receiver.doorman is not None
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await answer(receiver, post(receiver, "")) == 200  # the 7th: one more dropped
    dropped = await asyncio.gather(*(closed_after(each) for each in held[:3]))
    assert loop.time() - began < 0.4 and max(dropped) < 0.4  # long before any deadline
    assert receiver.doorman.counts["dropped"] == 3 and receiver.doorman.peak == 4
    assert receiver.counts["hinted"] == 1


async def test_kept_alive_connections_make_room_too(receiver: Receiver) -> None:
    """Four clients each answered once and then idle (HTTP/1.1 keeps the connection): a fifth
    is let in, the longest idle dropped, none refused."""
    for _ in range(4):
        kept = await connect(receiver, post(receiver, ""))
        assert b" 200 " in await asyncio.wait_for(kept.readline(), 5.0)
    assert await answer(receiver, post(receiver, "")) == 200
    assert receiver.doorman is not None
    assert receiver.doorman.counts["dropped"] == 1 and receiver.doorman.counts["refused"] == 0
    assert receiver.counts["hinted"] == 5


@pytest.mark.parametrize("receiver", [SECRET], indirect=True)
async def test_headers_that_cannot_be_read_are_4xx_and_counted(receiver: Receiver) -> None:
    secret = WebhookSecret.parse(SECRET)
    good = secret.sign("m1", STAMP, TASK)
    cases = {
        "400 digits": f"webhook-id: m1\r\nwebhook-timestamp: {'9' * 400}\r\n"
        f"webhook-signature: {good}\r\n",
        "+000 prefix": f"webhook-id: m1\r\nwebhook-timestamp: +000{STAMP}\r\n"
        f"webhook-signature: {good}\r\n",
        "not UTF-8": f"webhook-id: m1\r\nwebhook-timestamp: {STAMP}\r\n"
        "webhook-signature: v1,\xff\xfe\r\n",
    }
    statuses = {name: await answer(receiver, post(receiver, sent)) for name, sent in cases.items()}
    assert statuses == dict.fromkeys(cases, 401)
    assert receiver.counts == {"malformed": 3}
    ok = f"webhook-id: m1\r\nwebhook-timestamp: {STAMP}\r\nwebhook-signature: {good}\r\n"
    assert await answer(receiver, post(receiver, ok)) == 200


async def test_a_body_that_is_no_task_is_400_and_counted_without_a_secret(
    receiver: Receiver,
) -> None:
    infinite = b'{"id": "t-2", "status": "succeeded", "create_time": 1e999}'
    odd = b'{"task_id": "t-3", "task_status": "succeed", "created_at": 1e999, "task_result": 7}'
    statuses = [await answer(receiver, post(receiver, "", body)) for body in (infinite, odd)]
    assert statuses == [400, 400] and receiver.counts == {"refused": 2}


def test_the_signature_covers_the_timestamp_header_as_sent() -> None:
    """Standard Webhooks signs ``{id}.{timestamp header}.{body}``: a header rewritten to the
    same number (``+000...``) no longer verifies with the signature of the plain one."""
    secret = WebhookSecret.parse(SECRET)
    plain = {"webhook-id": "m", "webhook-timestamp": str(STAMP)}
    signed = {**plain, "webhook-signature": secret.sign("m", STAMP, TASK)}
    assert secret.check(signed, TASK, now=STAMP) is None
    assert secret.sign("m", str(STAMP), TASK) == secret.sign("m", STAMP, TASK)
    for stamp in (f"+000{STAMP}", f" {STAMP}", f"{STAMP}.0", "9" * 400):
        found = secret.check({**signed, "webhook-timestamp": stamp}, TASK, now=STAMP)
        assert found == "malformed", stamp


async def test_listen_uses_the_manifests_secret_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``callbacks.secret_env: OUR_SECRET`` in the manifest and ``--listen`` on the command line
    (no ``--webhook-secret-env``): the secret is read from OUR_SECRET, not from
    KLING_WEBHOOK_SECRET (which here holds another account's)."""
    monkeypatch.setenv("OUR_SECRET", SECRET)
    monkeypatch.setenv("KLING_WEBHOOK_SECRET", OTHER)
    clock, config = simulator(task_seconds=50.0, webhook_secret=SECRET)
    async with running(config) as sim:
        jobs = [video(f"v{i}", prompt=f"p{i}", **on("new")) for i in range(2)]
        project = Project(tmp_path, sim, jobs, limits=dict(DEFAULTS))
        project.extra = {"callbacks": {"listen": "127.0.0.1:1", "secret_env": "OUR_SECRET"}}
        project.save()
        forged: list[int] = []
        created = asyncio.Event()  # the receiver listens before anything is sent
        sim.arrivals.append(lambda op: created.set())

        async def forge(engine: Scheduler) -> None:
            await created.wait()
            assert engine.receiver is not None
            lie = json.dumps({"id": "nope", "status": "succeeded"}).encode()
            stamp = str(int(clock.time()))
            headers: dict[str, Any] = {"webhook-id": "x", "webhook-timestamp": stamp}
            headers["webhook-signature"] = WebhookSecret.parse(OTHER).sign("x", stamp, lie)
            async with (
                aiohttp.ClientSession() as session,
                session.post(engine.receiver.callback_url, data=lie, headers=headers) as got,
            ):
                forged.append(got.status)
            engines.append(engine)

        engines: list[Scheduler] = []
        result = await run(project, clock, forge, listen=listening())  # as --listen makes it
    assert result.exit_code == ExitCode.OK and forged == [401]
    receiver = engines[0].receiver
    assert receiver is not None
    assert receiver.counts["forged"] == 1 and receiver.counts["hinted"] >= 1


def test_the_command_line_names_another_variable() -> None:
    ours = Listen("127.0.0.1", 8099, "http://127.0.0.1:8099", "OUR_SECRET")
    given = Listen("0.0.0.0", 9000, "https://hooks.example", "THEIRS")
    assert Listen.chosen(given, ours) == given
    assert Listen.chosen(None, ours) == ours


def test_the_secret_option_needs_listen(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kbatch.cli.app import cli
    from tests.conftest import REPO

    demo = str(REPO / "manifests" / "demo.yaml")
    result = CliRunner().invoke(cli, ["run", demo, "--webhook-secret-env", "OUR_SECRET"])
    assert result.exit_code == 2
    assert "--webhook-secret-env needs --listen HOST:PORT" in result.output
