"""``media: {serve: true}``: the listener serves only the manifest's files, each at a signed
path that expires; anything else is 404, an expired path 403; ranges are answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from kbatch.engine.callbacks import Receiver
from kbatch.engine.mediaserve import PREFIX, Served
from kbatch.media import media_file
from kbatch.provider.config import Listen
from tests.clips import clip


class Now:
    def __init__(self) -> None:
        self.time = 1_000_000.0

    def __call__(self) -> float:
        return self.time


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Served, Now, str, Path]]:
    """A Served on a real aiohttp server on 127.0.0.1, one file allowed and one not."""
    now = Now()
    (tmp_path / "clip.mp4").write_bytes(clip(6))
    (tmp_path / "other.mp4").write_bytes(clip(7))
    app = web.Application()
    serving = Served("", expires=3600, now=now)
    serving.install(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    base = serving.public_url = str(server.make_url("")).rstrip("/")
    serving.allow(media_file(str(tmp_path / "clip.mp4")))
    try:
        yield serving, now, base, tmp_path
    finally:
        await server.close()


async def get(url: str, **headers: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as answer:
        return answer.status, await answer.read()


async def test_a_signed_path_serves_the_file_with_ranges_until_it_expires(
    served: tuple[Served, Now, str, Path],
) -> None:
    serving, now, _, folder = served
    data = (folder / "clip.mp4").read_bytes()
    url = serving.url(media_file(str(folder / "clip.mp4")))
    assert await get(url) == (200, data)
    assert await get(url, Range="bytes=4-11") == (206, data[4:12])
    now.time += 3601
    assert (await get(url))[0] == 403
    assert serving.counts == {"served": 2, "unknown": 0, "forged": 0, "expired": 1}


async def test_anything_else_is_not_found(served: tuple[Served, Now, str, Path]) -> None:
    serving, _, base, folder = served
    good = serving.url(media_file(str(folder / "clip.mp4")))
    token, name = good.split("/")[-2:]
    until, mac = token.split(".")
    other = media_file(str(folder / "other.mp4")).name  # a real file the manifest does not name
    forged_mac = f"{until}.{'0' * len(mac)}"
    later = f"{int(until) + 3600}.{mac}"  # a longer life under the old signature
    for url in (
        f"{base}{PREFIX}/{token}/{other}",
        f"{base}{PREFIX}/{forged_mac}/{name}",
        f"{base}{PREFIX}/{later}/{name}",
        f"{base}{PREFIX}/{token}/../{name}",
        f"{base}/kbatch/media/{name}",
    ):
        assert (await get(url))[0] == 404, url
    assert serving.counts["served"] == 0


async def test_the_listener_takes_the_route_beside_its_callbacks(tmp_path: Path) -> None:
    """Receiver's routes hook: the media route lives on the callback listener, and dies with
    it (a fresh key per run: an old URL never opens a later run's file)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    public = f"http://127.0.0.1:{port}"
    (tmp_path / "clip.mp4").write_bytes(clip(6))
    file = media_file(str(tmp_path / "clip.mp4"))
    serving = Served(public, expires=60)
    serving.allow(file)
    receiver = Receiver(
        Listen("127.0.0.1", port, public), hint=lambda _: True, routes=serving.install
    )
    await receiver.start()
    try:
        url = serving.url(file)
        assert (await get(url))[0] == 200
    finally:
        await receiver.close()
    again = Served(public, expires=60)
    again.allow(file)
    receiver = Receiver(
        Listen("127.0.0.1", port, public), hint=lambda _: True, routes=again.install
    )
    await receiver.start()
    try:
        assert (await get(url))[0] == 404  # the earlier run's URL
    finally:
        await receiver.close()
