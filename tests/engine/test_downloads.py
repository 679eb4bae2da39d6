"""Result files: names that cannot escape the output folder, whole files only, resumes."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from kbatch.engine import downloads
from kbatch.errors import JobRejected
from kbatch.provider.catalogue import JobKind
from kbatch.provider.client import Client
from kbatch.simulator import Simulator
from tests.conftest import request_of


@pytest.mark.parametrize(
    "job_id", ["../escape", "/etc/passwd", "a\x00b", "..", ".", ".hidden", "x" * 300, "a/../../b"]
)
def test_a_job_id_never_leads_out_of_the_output_folder(tmp_path: Path, job_id: str) -> None:
    path = downloads.target(tmp_path / "out", job_id, index=0, extension="png")
    assert path.resolve().parent.parent == (tmp_path / "out").resolve()
    assert not path.parent.name.startswith(".") and len(path.parent.name) <= 128


def test_an_unknown_extension_is_saved_as_bin(tmp_path: Path) -> None:
    assert downloads.target(tmp_path, "j", index=2, extension="exe/../x").name == "2.bin"


async def finished_media_url(client: Client, sim: Simulator) -> str:
    task = await client.create(
        JobKind.IMAGE2VIDEO, request_of(JobKind.IMAGE2VIDEO), external_task_id="kb-d"
    )
    sim.store.clock.advance(10)  # type: ignore[attr-defined]
    return (await client.get(JobKind.IMAGE2VIDEO, task.task_id)).media[0].url


async def test_a_result_is_saved_whole_with_its_sha256(
    tmp_path: Path, client: Client, sim: Simulator
) -> None:
    url = await finished_media_url(client, sim)
    saved = await downloads.fetch(client, url, tmp_path / "j" / "0.mp4")
    data = saved.path.read_bytes()
    assert saved.size == len(data) and saved.sha256 == hashlib.sha256(data).hexdigest()
    assert not downloads.partial(saved.path).exists()


async def test_a_stale_part_longer_than_the_file_is_started_over(
    tmp_path: Path, client: Client, sim: Simulator
) -> None:
    url = await finished_media_url(client, sim)
    target = tmp_path / "j" / "0.mp4"
    target.parent.mkdir()
    downloads.partial(target).write_bytes(b"\0" * 10_000_000)  # the server answers 416

    saved = await downloads.fetch(client, url, target)

    whole = (await downloads.fetch(client, url, tmp_path / "again.mp4")).path.read_bytes()
    assert saved.path.read_bytes() == whole


async def test_a_missing_result_fails_the_job_and_leaves_no_file(
    tmp_path: Path, client: Client, sim: Simulator
) -> None:
    target = tmp_path / "j" / "0.png"
    with pytest.raises(JobRejected, match="HTTP 404"):
        await downloads.fetch(client, f"{sim.url}/media/nope/0.png", target)
    assert not target.exists()


async def test_downloads_flushed_together_share_one_sync(
    sim: Simulator, client: Client, tmp_path: Path
) -> None:
    kind = JobKind.IMAGE_EXPAND
    task = await client.create(kind, request_of(kind, n=4), external_task_id="kb-s")
    sim.store.clock.advance(10)  # type: ignore[attr-defined]
    done = await client.get(kind, task.task_id)
    syncer = downloads.Syncer(tmp_path)

    async def save(index: int) -> downloads.Saved:
        path = downloads.target(tmp_path, "job", index=index, extension="png")
        saved = await downloads.fetch(client, done.media[index].url, path, durable=False)
        await syncer.sync()
        return saved

    saved = await asyncio.gather(*(save(i) for i in range(4)))

    assert [s.path.is_file() for s in saved] == [True] * 4
    assert 1 <= syncer.syncs < 4  # the four shared flushes
    assert not list((tmp_path / "job").glob(".*.part"))
