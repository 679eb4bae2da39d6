"""Kling's new path-addressed API on the simulator: tasks in the new shape, batch and cursor
queries, the API key only, shared slots and external ids, faults, the journal, callbacks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web

from kbatch.simulator import Fault, ManualClock, Op, SimulatorConfig, running
from kbatch.simulator.signing import signature
from tests.simulator.conftest import VIDEO, Raw

TURBO = "/text-to-video/kling-3.0-turbo"
SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="


async def create(raw: Raw, body: dict[str, Any] | None = None, path: str = TURBO) -> str:
    status, answer = await raw.post(path, body or {"prompt": "a cat"})
    assert (status, answer["code"]) == (200, 0), answer
    return str(answer["data"]["id"])


async def query(raw: Raw, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = await raw.post("/tasks", body)
    assert status == 200, answer
    return dict(answer["data"])


async def test_a_task_goes_submitted_processing_succeeded_with_outputs_and_billing(
    raw: Raw, clock: ManualClock
) -> None:
    body = {
        "prompt": "a cat",
        "settings": {"resolution": "1080p", "duration": 10},
        "options": {"external_task_id": "kb-1", "watermark_info": {"enabled": True}},
    }
    task_id = await create(raw, body)
    seen = []
    for _ in range(3):
        _, answer = await raw.get(f"/tasks?task_ids={task_id}")
        seen.append(answer["data"][0]["status"])
        clock.advance(5)
    assert seen == ["submitted", "processing", "succeeded"]
    task = answer["data"][0]
    assert task["id"] == task_id and task["external_id"] == "kb-1" and task["message"] == ""
    assert task["update_time"] - task["create_time"] == 10_000
    [video] = task["outputs"]
    assert video["type"] == "video" and video["duration"] == "10"
    assert video["url"].endswith(f"/media/{task_id}/0.mp4") and video["watermark_url"]
    assert task["billing"] == [{"charge_type": "unit", "amount": "10", "package_type": "video"}]
    status, data = await raw.get(video["url"].removeprefix(raw.sim.url))
    assert status == 200 and data[4:8] == b"ftyp"


async def test_a_result_the_simulator_made_can_be_the_next_tasks_first_frame(
    raw: Raw, clock: ManualClock
) -> None:
    _, made = await raw.post("text2image", {"prompt": "a cat", "aspect_ratio": "1:1"})
    clock.advance(10)
    _, answer = await raw.get(f"/v1/images/generations/{made['data']['task_id']}")
    url = answer["data"]["task_result"]["images"][0]["url"]
    first = {"type": "first_frame", "url": url}
    task_id = await create(raw, {"contents": [first]}, "/image-to-video/kling-3.0")
    assert raw.sim.store.tasks[task_id].request.pictures["image"].width == 1024


async def test_an_unknown_model_in_the_path_is_404_with_1203(raw: Raw) -> None:
    status, answer = await raw.post("/text-to-video/kling-9", {"prompt": "a"})
    assert (status, answer["code"]) == (404, 1203)
    assert "kling-9" in answer["message"]
    status, answer = await raw.post("/omni-video/kling-3.0", {"contents": []})
    assert (status, answer["code"]) == (404, 1203)


async def test_the_new_api_takes_the_api_key_and_refuses_a_jwt(clock: ManualClock) -> None:
    config = SimulatorConfig(api_key="the-key", access_key="ak", secret_key="sk" * 16)
    now = int(time.time())
    token = jwt.encode({"iss": "ak", "exp": now + 1800, "nbf": now - 5}, "sk" * 16)
    async with running(config) as sim, aiohttp.ClientSession() as session:
        raw = Raw(sim, session)

        async def post(path: str, body: Any, token: str) -> tuple[int, Any]:
            return await raw.post(path, body, headers={"Authorization": f"Bearer {token}"})

        status, answer = await post(TURBO, {"prompt": "a"}, token)
        assert (status, answer["code"]) == (401, 1002) and "legacy" in answer["message"]
        assert (await post(TURBO, {"prompt": "a"}, "the-key"))[0] == 200
        assert (await post(TURBO, {"prompt": "a"}, "another-key"))[1]["code"] == 1002
        assert (await post("video", VIDEO, token))[0] == 200  # the old routes: both
        assert (await post("video", VIDEO, "the-key"))[0] == 200
        status, answer = await raw.post(TURBO, {"prompt": "a"}, headers={})
        assert (status, answer["code"]) == (401, 1001)


async def test_get_tasks_takes_one_kind_of_ids_and_leaves_unknown_ones_out(raw: Raw) -> None:
    first = await create(raw, {"prompt": "a", "options": {"external_task_id": "kb-a"}})
    second = await create(raw, {"prompt": "b", "options": {"external_task_id": "kb-b"}})
    _, answer = await raw.get(f"/tasks?task_ids={second},404,{first}")
    assert [task["id"] for task in answer["data"]] == [second, first]
    _, answer = await raw.get("/tasks?external_task_ids=kb-a,kb-zzz")
    assert [task["id"] for task in answer["data"]] == [first]
    for asked in ("", f"?task_ids={first}&external_task_ids=kb-a"):
        status, answer = await raw.get(f"/tasks{asked}")
        assert (status, answer["code"]) == (400, 1201)


async def test_get_tasks_refuses_more_ids_than_its_limit(clock: ManualClock) -> None:
    async with running(SimulatorConfig(task_ids_limit=3)) as sim, aiohttp.ClientSession() as s:
        raw = Raw(sim, s)
        assert (await raw.get("/tasks?task_ids=1,2,3"))[0] == 200
        status, answer = await raw.get("/tasks?task_ids=1,2,3,4")
        assert (status, answer["code"]) == (400, 1201) and "at most 3" in answer["message"]


async def test_old_route_tasks_are_not_on_the_new_queries_nor_new_ones_on_the_old(
    raw: Raw,
) -> None:
    _, old = await raw.post("video", VIDEO)
    old_id = old["data"]["task_id"]
    new_id = await create(raw)
    assert (await raw.get(f"/tasks?task_ids={old_id}"))[1]["data"] == []
    status, answer = await raw.get(f"/v1/videos/text2video/{new_id}")
    assert (status, answer["code"]) == (404, 1203)


async def test_post_tasks_pages_by_cursor_newest_first_with_filters(
    raw: Raw, clock: ManualClock
) -> None:
    made = []
    for number in range(5):
        made.append(await create(raw, {"prompt": f"sim:fail {number}" if number == 2 else "a"}))
        clock.advance(1)
    seen, cursor, pages = [], "", 0
    while True:
        data = await query(raw, {"limit": 2, "cursor": cursor})
        seen += [task["id"] for task in data["result"]]
        pages += 1
        assert data["count"] == len(data["result"])
        if not data["has_more"]:
            assert data["next_cursor"] == ""
            break
        cursor = data["next_cursor"]
    assert seen == made[::-1] and pages == 3
    clock.advance(20)
    filters = [
        {"key": "status", "values": ["failed"]},
        {"key": "product_type", "values": ["video"]},
    ]
    data = await query(raw, {"filters": filters})
    assert [task["id"] for task in data["result"]] == [made[2]]
    data = await query(raw, {"start_time": "1", "end_time": "2"})  # a window long ago
    assert data["result"] == [] and data["has_more"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 501},
        {"limit": 0},
        {"start_time": 5, "end_time": 4},
        {"filters": [{"key": "model", "values": ["x"]}]},
        {"filters": [{"key": "status", "values": ["succeed"]}]},
        {"filters": [{"key": "status", "values": [["failed"]]}]},
        {"cursor": "not-a-cursor"},
    ],
)
async def test_post_tasks_refuses_a_bad_query_with_1201(raw: Raw, body: dict[str, Any]) -> None:
    status, answer = await raw.post("/tasks", body)
    assert (status, answer["code"]) == (400, 1201)


async def test_an_external_id_is_taken_once_across_both_apis(raw: Raw) -> None:
    await create(raw, {"prompt": "a", "options": {"external_task_id": "kb-1"}})
    status, answer = await raw.post(TURBO, {"prompt": "b", "options": {"external_task_id": "kb-1"}})
    assert (status, answer["code"]) == (400, 1201)
    assert "kb-1 already exists" in answer["message"]
    status, answer = await raw.post("video", {**VIDEO, "external_task_id": "kb-1"})
    assert (status, answer["code"]) == (400, 1201)
    assert raw.sim.creates["kb-1"] == 1 and len(raw.sim.store.tasks) == 1


async def test_both_apis_share_the_accounts_slots(clock: ManualClock) -> None:
    config = SimulatorConfig(parallel_limit=2, task_seconds=10, clock=clock)
    async with running(config) as sim, aiohttp.ClientSession() as session:
        raw = Raw(sim, session)
        assert (await raw.post("video", VIDEO))[0] == 200
        await create(raw)
        status, answer = await raw.post(TURBO, {"prompt": "a"})
        assert (status, answer["code"]) == (429, 1303)
        clock.advance(10)
        await create(raw)


@pytest.mark.parametrize(
    ("op", "fault", "status", "code"),
    [
        (Op.CREATE, Fault.TIMEOUT_AFTER_CREATE, 504, 5002),
        (Op.CREATE, Fault.RATE_LIMIT, 429, 1302),
        (Op.GET, Fault.MAINTENANCE, 503, 5001),
        (Op.LIST, Fault.SERVER_ERROR, 500, 5000),
        (Op.CREATE, 1102, 429, 1102),
    ],
)
async def test_faults_reach_the_new_routes(
    raw: Raw, op: Op, fault: Fault | int, status: int, code: int
) -> None:
    raw.sim.faults.script(op, fault)
    if op is Op.CREATE:
        answer = await raw.post(TURBO, {"prompt": "a", "options": {"external_task_id": "kb-x"}})
    elif op is Op.GET:
        answer = await raw.get("/tasks?task_ids=1")
    else:
        answer = await raw.post("/tasks", {})
    assert (answer[0], answer[1]["code"]) == (status, code)
    made = fault is Fault.TIMEOUT_AFTER_CREATE
    assert raw.sim.creates["kb-x"] == (1 if made else 0)


async def test_a_dropped_connection_and_an_html_page_on_the_new_routes(raw: Raw) -> None:
    raw.sim.faults.script(Op.CREATE, Fault.RESET_AFTER)
    with pytest.raises(aiohttp.ClientError):
        await raw.post(TURBO, {"prompt": "a", "options": {"external_task_id": "kb-r"}})
    assert raw.sim.creates["kb-r"] == 1  # made, then the answer lost
    _, answer = await raw.get("/tasks?external_task_ids=kb-r")
    assert len(answer["data"]) == 1
    raw.sim.faults.script(Op.GET, Fault.HTML)
    status, page = await raw.get("/tasks?task_ids=1")
    assert status == 502 and b"<html>" in page


async def test_the_journal_keeps_new_api_tasks_across_simulators(tmp_path: Any) -> None:
    config = SimulatorConfig(task_seconds=0, tasks_file=tmp_path / "tasks.jsonl")
    async with running(config) as sim, aiohttp.ClientSession() as session:
        task_id = await create(
            Raw(sim, session), {"prompt": "a", "options": {"external_task_id": "kb-j"}}
        )
    config = SimulatorConfig(task_seconds=0, tasks_file=tmp_path / "tasks.jsonl")
    async with running(config) as sim, aiohttp.ClientSession() as session:
        _, answer = await Raw(sim, session).get("/tasks?external_task_ids=kb-j")
        [task] = answer["data"]
        assert task["id"] == task_id and task["status"] == "succeeded"
        assert task["billing"][0]["amount"] == "4"  # 5 s at 720p, 0.8 units a second


async def test_callbacks_carry_the_new_shape_signed_as_standard_webhooks(
    clock: ManualClock,
) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    arrived = asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        arrived.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    config = SimulatorConfig(task_seconds=10, clock=clock, webhook_secret=SECRET)
    try:
        async with running(config) as sim, aiohttp.ClientSession() as session:
            raw = Raw(sim, session)
            await create(raw, {"prompt": "a", "options": {"callback_url": hook}})
            await asyncio.wait_for(arrived.wait(), 5)
            arrived.clear()
            await raw.post("video", {**VIDEO, "callback_url": hook})
            await asyncio.wait_for(arrived.wait(), 5)
    finally:
        await runner.cleanup()
    (_, new_body), (_, old_body) = received[:2]
    assert b'"status": "submitted"' in new_body and b'"outputs"' in new_body
    assert b'"task_status": "submitted"' in old_body
    for headers, body in received[:2]:
        stamp = int(headers["webhook-timestamp"])
        assert abs(stamp - time.time()) < 60
        expected = signature(SECRET, headers["webhook-id"], stamp, body)
        assert headers["webhook-signature"] == expected
