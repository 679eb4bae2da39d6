"""The simulator keeps its tasks across processes, as Kling does: a later simulator on the same
file knows every task, lets it go on by the wall clock, and never reuses a task id."""

from __future__ import annotations

from pathlib import Path

from kbatch.provider.auth import BearerKey
from kbatch.provider.catalogue import PROVIDERS, JobKind, PackType, ProviderName
from kbatch.provider.client import Client
from kbatch.provider.wire import TaskStatus
from kbatch.simulator import SimulatorConfig, running
from tests.conftest import KEY, request_of

KLING = PROVIDERS[ProviderName.KLING]


async def test_a_later_simulator_knows_the_tasks_of_an_earlier_one(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    kind = JobKind.IMAGE2VIDEO
    config = SimulatorConfig(tasks_file=tasks, task_seconds=3600)
    async with (
        running(config) as first,
        Client(KLING, auth=BearerKey(KEY), base_url=first.url) as c,
    ):
        made = await c.create(kind, request_of(kind), external_task_id="kb-1")
        forgotten = await c.create(kind, request_of(kind), external_task_id="kb-2")
        first.forget(forgotten.task_id)

    async with (
        running(config) as second,
        Client(KLING, auth=BearerKey(KEY), base_url=second.url) as c,
    ):
        assert not (await c.get(kind, made.task_id)).status.finished  # it runs on
        assert (await c.find(kind, "kb-1")).task_id == made.task_id  # type: ignore[union-attr]
        assert await c.find(kind, "kb-2") is None  # forgotten stays forgotten
        assert second.store.slots_in_use(PackType.VIDEO) == 2  # both run on and hold slots
        again = await c.create(kind, request_of(kind), external_task_id="kb-3")
    assert again.task_id not in (made.task_id, forgotten.task_id)


async def test_tasks_run_on_by_the_wall_clock_between_simulators(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    kind = JobKind.IMAGE2VIDEO
    config = SimulatorConfig(tasks_file=tasks, task_seconds=0)
    async with (
        running(config) as first,
        Client(KLING, auth=BearerKey(KEY), base_url=first.url) as c,
    ):
        made = await c.create(kind, request_of(kind), external_task_id="kb-1")
    async with (
        running(config) as second,
        Client(KLING, auth=BearerKey(KEY), base_url=second.url) as c,
    ):
        done = await c.get(kind, made.task_id)
        assert done.status is TaskStatus.SUCCEED
        async with c.download(done.media[0].url) as body:  # rendered again, from a gradient
            assert len(b"".join([chunk async for chunk in body.chunks])) > 1000


async def test_two_simulators_never_hand_out_the_same_task_id(tmp_path: Path) -> None:
    kind = JobKind.IMAGE2VIDEO
    ids = set()
    for _ in range(2):
        async with running() as sim, Client(KLING, auth=BearerKey(KEY), base_url=sim.url) as c:
            ids.add((await c.create(kind, request_of(kind), external_task_id="kb-x")).task_id)
    assert len(ids) == 2
