"""The new API's client against a stand-in that answers as the vendor's pages show: creates by
model path, status of many tasks in one request, lookups by external id, charges, errors."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from kbatch.errors import ExternalIdTaken, JobRejected, OutcomeUnknown, RouteNotServed, RunFatal
from kbatch.images import ImageInput, ImageSource
from kbatch.provider.auth import BearerKey, KlingJwt, api_key, missing_key
from kbatch.provider.catalogue import PROVIDERS, JobKind, ProviderName
from kbatch.provider.config import Api, ProviderConfig
from kbatch.provider.connect import connect
from kbatch.provider.paths import STATUS_BATCH, PathClient
from kbatch.provider.protocol import ModelPath
from kbatch.provider.surfaces import Surfaces
from kbatch.provider.transport import Timeouts
from kbatch.provider.wire import Charge, ChargeType, MediaKind, TaskStatus
from tests.provider.newapi import API_KEY, CASH, NewApi, serving

TURBO_T2V = ModelPath(JobKind.TEXT2VIDEO, "text-to-video/kling-3.0-turbo")
V3_I2V = ModelPath(JobKind.IMAGE2VIDEO, "image-to-video/kling-3.0")
KLING = PROVIDERS[ProviderName.KLING]


@pytest.fixture
async def api() -> AsyncIterator[NewApi]:
    async with serving() as api:
        yield api


@pytest.fixture
async def paths(api: NewApi) -> AsyncIterator[PathClient]:
    async with PathClient(base_url=api.url, auth=BearerKey(API_KEY, "KLING_API_KEY")) as client:
        yield client


async def test_a_turbo_job_is_created_by_its_path_with_bearer_only(
    api: NewApi, paths: PathClient
) -> None:
    request = {"model_name": "kling-3.0-turbo", "prompt": "a girl on a train", "duration": "3"}
    task = await paths.create(TURBO_T2V, request, external_task_id="kb-1")
    assert (task.status, task.external_task_id, task.created_at) == (
        TaskStatus.SUBMITTED,
        "kb-1",
        1781080778802,
    )
    assert api.bodies == [
        (
            "text-to-video/kling-3.0-turbo",
            {
                "prompt": "a girl on a train",
                "settings": {"duration": 3},
                "options": {"external_task_id": "kb-1"},
            },
        )
    ]
    assert api.auth == [f"Bearer {API_KEY}"]


async def test_an_image_goes_as_a_first_frame_in_contents(api: NewApi, paths: PathClient) -> None:
    request = {
        "model_name": "kling-3.0",
        "prompt": "she waves",
        "image": ImageInput(ImageSource.BASE64, "iVBORw0KGgo="),
        "image_tail": ImageInput(ImageSource.URL, "https://cdn.example/last.png"),
        "mode": "pro",
    }
    await paths.create(V3_I2V, request, external_task_id="kb-2")
    assert api.bodies[0][1] == {
        "contents": [
            {"type": "prompt", "text": "she waves"},
            {"type": "first_frame", "url": "iVBORw0KGgo="},
            {"type": "last_frame", "url": "https://cdn.example/last.png"},
        ],
        "settings": {"resolution": "1080p", "multi_shot": False},
        "options": {"external_task_id": "kb-2"},
    }


async def test_a_local_image_goes_as_raw_base64(
    api: NewApi, paths: PathClient, ok_png: Path
) -> None:
    image = ImageInput(ImageSource.FILE, str(ok_png))
    await paths.create(
        ModelPath(JobKind.IMAGE2VIDEO, "image-to-video/kling-3.0-turbo"),
        {"model_name": "kling-3.0-turbo", "image": image},
        external_task_id="kb-f",
    )
    first_frame = api.bodies[0][1]["contents"][0]
    assert first_frame == {
        "type": "first_frame",
        "url": base64.b64encode(ok_png.read_bytes()).decode(),
    }


async def test_a_result_is_downloaded_without_the_key(api: NewApi, paths: PathClient) -> None:
    async with paths.download(f"{api.url}/media/v.mp4") as body:
        data = b"".join([chunk async for chunk in body.chunks])
    assert data[4:8] == b"ftyp" and api.auth == [None]


async def test_a_field_without_a_place_is_refused_before_anything_is_sent(
    api: NewApi, paths: PathClient
) -> None:
    request = {"model_name": "kling-3.0-turbo", "prompt": "p", "negative_prompt": "blur"}
    with pytest.raises(JobRejected, match="no place for negative_prompt"):
        await paths.create(TURBO_T2V, request, external_task_id="kb-3")
    assert api.bodies == []


async def test_a_taken_external_id_is_external_id_taken(paths: PathClient) -> None:
    request = {"model_name": "kling-3.0-turbo", "prompt": "p"}
    await paths.create(TURBO_T2V, request, external_task_id="kb-1")
    with pytest.raises(ExternalIdTaken, match="already exists"):
        await paths.create(TURBO_T2V, request, external_task_id="kb-1")


async def test_a_lost_answer_is_outcome_unknown_and_the_task_is_found(api: NewApi) -> None:
    api.script.append("hold")
    auth = BearerKey(API_KEY, "KLING_API_KEY")
    async with PathClient(base_url=api.url, auth=auth, timeouts=Timeouts(read=0.3)) as client:
        with pytest.raises(OutcomeUnknown, match="look it up"):
            await client.create(TURBO_T2V, {"prompt": "p"}, external_task_id="kb-lost")
        found = await client.find(TURBO_T2V, "kb-lost")
        assert found is not None and found.status is TaskStatus.SUBMITTED
        assert await client.find(TURBO_T2V, "kb-never") is None
    assert api.queries[-2:] == ["external_task_ids=kb-lost", "external_task_ids=kb-never"]


async def test_statuses_of_many_tasks_come_in_one_request(api: NewApi, paths: PathClient) -> None:
    ids = [
        (await paths.create(TURBO_T2V, {"prompt": "p"}, external_task_id=f"kb-{n}")).task_id
        for n in range(3)
    ]
    api.finish(ids[0])
    api.finish(ids[1], billing=CASH)
    tasks = {t.task_id: t for t in await paths.statuses(TURBO_T2V, [*ids, "unknown"])}
    assert api.queries == [f"task_ids={','.join([*ids, 'unknown'])}"]
    assert set(tasks) == set(ids)
    unit, cash, running = (tasks[i] for i in ids)
    assert unit.status is TaskStatus.SUCCEED and unit.units == 4.0
    assert unit.charges == (Charge(ChargeType.UNIT, "4", package_type="video"),)
    assert unit.media[0].kind is MediaKind.VIDEO
    assert unit.media[0].watermark_url == "https://cdn.example/v-wm.mp4"
    assert cash.units is None and cash.charges == (
        Charge(ChargeType.CASH, "0.56", currency="USD", cash_type="balance", list_price="0.70"),
    )
    assert (
        running.status is TaskStatus.SUBMITTED and (await paths.get(TURBO_T2V, ids[2])) == running
    )


async def test_a_batch_over_the_limit_is_refused_whole_and_halving_helps(
    api: NewApi, paths: PathClient
) -> None:
    api.limit = 2
    ids = [
        (await paths.create(TURBO_T2V, {"prompt": "p"}, external_task_id=f"kb-{n}")).task_id
        for n in range(4)
    ]
    assert paths.status_batch(TURBO_T2V) == STATUS_BATCH == 50
    with pytest.raises(JobRejected, match="at most 2 ids"):
        await paths.statuses(TURBO_T2V, ids)
    paths.batch = 2
    halves = [await paths.statuses(TURBO_T2V, ids[:2]), await paths.statuses(TURBO_T2V, ids[2:])]
    assert [len(half) for half in halves] == [2, 2]


async def test_the_account_s_tasks_are_listed_by_cursor(api: NewApi, paths: PathClient) -> None:
    for n in range(3):
        await paths.create(TURBO_T2V, {"prompt": "p"}, external_task_id=f"kb-{n}")
    first = await paths.listing(limit=2)
    assert [t.external_task_id for t in first.tasks] == ["kb-2", "kb-1"] and first.has_more
    rest = await paths.listing(cursor=first.next_cursor, limit=2)
    assert [t.external_task_id for t in rest.tasks] == ["kb-0"] and not rest.has_more
    assert api.bodies[-2:] == [("tasks", {"limit": 2}), ("tasks", {"limit": 2, "cursor": "2"})]
    done = await paths.listing(statuses=["succeeded"])
    assert done.tasks == [] and api.bodies[-1][1]["filters"] == [
        {"key": "status", "values": ["succeeded"]}
    ]


async def test_a_refused_key_is_fatal_and_never_shown(api: NewApi) -> None:
    async with PathClient(base_url=api.url, auth=BearerKey("sk-wrong-key-987")) as client:
        with pytest.raises(RunFatal) as caught:
            await client.create(TURBO_T2V, {"prompt": "p"}, external_task_id="kb-1")
    assert "sk-wrong-key-987" not in str(caught.value) and "***" in str(caught.value)


# -- one provider over both APIs --------------------------------------------------------------


async def test_surfaces_send_each_target_where_it_goes(api: NewApi) -> None:
    new = PathClient(base_url=api.url, auth=BearerKey(API_KEY, "KLING_API_KEY"))
    surfaces = Surfaces(KLING, auth=KlingJwt("ak", "sk-secret"), base_url=api.url, paths=new)
    async with surfaces:  # opens and closes both clients
        turbo = {"model_name": "kling-3.0-turbo", "prompt": "p"}
        target = surfaces.target(JobKind.TEXT2VIDEO, turbo)
        assert target == TURBO_T2V and surfaces.status_batch(target) == 50
        v3 = surfaces.target(JobKind.TEXT2VIDEO, {"model_name": "kling-v3"})
        assert v3 is JobKind.TEXT2VIDEO and surfaces.status_batch(v3) == 0
        task = await surfaces.create(target, turbo, external_task_id="kb-s")
        assert (await surfaces.find(target, "kb-s")) == task
        assert (await surfaces.statuses(target, [task.task_id]))[0].task_id == task.task_id
    assert surfaces.credential_hint == (
        "KLING_ACCESS_KEY/KLING_SECRET_KEY (the /v1 routes) or KLING_API_KEY (Kling's new API)"
    )


async def test_without_the_key_a_new_api_job_is_not_served() -> None:
    async with Surfaces(KLING, auth=KlingJwt("ak", "sk-secret")) as surfaces:
        with pytest.raises(RouteNotServed, match="KLING_API_KEY"):
            await surfaces.create(TURBO_T2V, {"prompt": "p"}, external_task_id="kb-1")


async def test_connect_yields_both_apis_when_the_key_is_set(api: NewApi) -> None:
    config = ProviderConfig(ProviderName.KLING, base_url=api.url, api=Api.NEW)
    async with connect(config, env={"KLING_API_KEY": API_KEY}) as provider:
        assert provider.paths is not None and provider.paths.base == api.url
        target = provider.target(JobKind.TEXT2VIDEO, {"model_name": "kling-2.6", "prompt": "p"})
        assert target == ModelPath(JobKind.TEXT2VIDEO, "text-to-video/kling-2.6")
        await provider.create(target, {"prompt": "p"}, external_task_id="kb-c")
    assert api.bodies[0][0] == "text-to-video/kling-2.6"
    env = {"KLING_ACCESS_KEY": "ak", "KLING_SECRET_KEY": "sk"}
    async with connect(ProviderConfig(ProviderName.KLING, base_url=api.url), env=env) as provider:
        assert provider.paths is None
    async with connect(ProviderConfig(ProviderName.COMETAPI), env={"COMETAPI_KEY": "k"}) as p:
        assert p.paths is None


TURBO_JOB = (JobKind.TEXT2VIDEO, {"model_name": "kling-3.0-turbo", "prompt": "p"})
V3_JOB = (JobKind.TEXT2VIDEO, {"model_name": "kling-v3", "prompt": "p"})


def test_the_missing_key_is_named_before_anything_is_sent() -> None:
    jwt_only = {"KLING_ACCESS_KEY": "ak", "KLING_SECRET_KEY": "sk-value"}
    kling = ProviderConfig(ProviderName.KLING)
    message = missing_key(kling, [V3_JOB, TURBO_JOB], jwt_only)
    assert message is not None and "set KLING_API_KEY" in message and "kling-3.0-turbo" in message
    assert "sk-value" not in message
    assert missing_key(kling, [V3_JOB], jwt_only) is None
    assert missing_key(ProviderConfig(ProviderName.KLING, api=Api.NEW), [V3_JOB], jwt_only)
    assert missing_key(kling, [TURBO_JOB], {"KLING_API_KEY": "k"}) is None
    own = ProviderConfig(ProviderName.KLING, api_key_env="MY_KEY")
    assert "set MY_KEY" in (missing_key(own, [TURBO_JOB], jwt_only) or "")
    comet = missing_key(ProviderConfig(ProviderName.COMETAPI), [TURBO_JOB], {"COMETAPI_KEY": "k"})
    assert comet is not None and "cometapi does not serve" in comet
    assert missing_key(ProviderConfig(ProviderName.SIMULATOR), [TURBO_JOB], {}) is None


def test_the_api_key_opens_the_new_api_the_jwt_does_not() -> None:
    assert api_key(KLING, {"KLING_ACCESS_KEY": "a", "KLING_SECRET_KEY": "s"}) is None
    key = api_key(KLING, {"KLING_API_KEY": "k1"})
    assert key is not None and (key.header(), key.source) == ("Bearer k1", "KLING_API_KEY")


async def test_a_v1_job_named_the_new_way_is_sent_with_its_v1_name() -> None:
    """kling-3.0 with provider.api legacy goes to /v1/videos/text2video as kling-v3; any other
    request goes out exactly as before."""
    seen: list[dict[str, Any]] = []

    async def create(request: web.Request) -> web.Response:
        seen.append(await request.json())
        data = {"task_id": "t1", "task_status": "submitted", "task_info": {}}
        return web.json_response({"code": 0, "message": "", "data": data})

    app = web.Application()
    app.router.add_post("/v1/videos/text2video", create)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with Surfaces(KLING, auth=BearerKey(API_KEY), base_url=url) as surfaces:
            for name in ("kling-3.0", "kling-v3"):
                request = {"model_name": name, "prompt": "p", "duration": "5"}
                target = surfaces.target(JobKind.TEXT2VIDEO, request)
                await surfaces.create(target, request, external_task_id=f"kb-{name}")
    finally:
        await runner.cleanup()
    assert [body["model_name"] for body in seen] == ["kling-v3", "kling-v3"]
    assert seen[1] == {
        "model_name": "kling-v3",
        "prompt": "p",
        "duration": "5",
        "external_task_id": "kb-kling-v3",
    }
