"""The simulator's behaviour over time: task lives, slots, external ids, faults, logs, the CLI."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from typing import Any

import aiohttp
import pytest

from kbatch.provider.catalogue import JobKind
from kbatch.simulator import (
    FAIL,
    UNSAFE,
    Fault,
    FaultPlan,
    ManualClock,
    Op,
    Simulator,
    SimulatorConfig,
    running,
)
from tests.simulator.conftest import EXPAND, VIDEO, Raw


async def test_a_task_is_submitted_then_processing_then_succeed(
    raw: Raw, clock: ManualClock
) -> None:
    _, created = await raw.post("video", {**VIDEO, "external_task_id": "kb-1"})
    task_id = created["data"]["task_id"]
    seen = []
    for _ in range(3):
        _, answer = await raw.get(f"/v1/videos/image2video/{task_id}")
        seen.append(answer["data"]["task_status"])
        clock.advance(5)
    assert seen == ["submitted", "processing", "succeed"]
    data = answer["data"]
    assert data["final_unit_deduction"] == "1"
    assert data["updated_at"] - data["created_at"] == 10_000
    assert data["task_result"]["videos"][0]["duration"] == "5"


async def test_a_prompt_can_ask_for_a_failure(raw: Raw, clock: ManualClock) -> None:
    _, created = await raw.post("video", {**VIDEO, "prompt": f"a cat {FAIL}"})
    clock.advance(10)
    _, answer = await raw.get(f"/v1/videos/image2video/{created['data']['task_id']}")
    data = answer["data"]
    assert (data["task_status"], data["final_unit_deduction"]) == ("failed", "0")
    assert FAIL in data["task_status_msg"] and data["task_result"] == {}


async def test_a_prompt_can_trip_content_safety(raw: Raw, sim: Simulator) -> None:
    status, answer = await raw.post("video", {**VIDEO, "prompt": UNSAFE})
    assert (status, answer["code"]) == (400, 1301)
    assert not sim.store.tasks


async def test_a_reused_external_task_id_never_creates_a_second_task(
    raw: Raw, sim: Simulator
) -> None:
    first, _ = await raw.post("video", {**VIDEO, "external_task_id": "kb-same"})
    second, answer = await raw.post("video", {**VIDEO, "external_task_id": "kb-same"})
    assert (first, second, answer["code"]) == (200, 400, 1201)
    assert "external_task_id" in answer["message"]
    assert sim.creates == Counter({"kb-same": 1}) and len(sim.store.tasks) == 1


async def test_image_tasks_hold_n_slots_and_1303_comes_when_they_are_full(
    clock: ManualClock,
) -> None:
    config = SimulatorConfig(parallel_limit=4, task_seconds=10, clock=clock)
    async with running(config) as sim, aiohttp.ClientSession() as session:
        raw = Raw(sim, session)
        assert (await raw.post("expand", {**EXPAND, "n": 3}))[0] == 200
        assert (await raw.post("video", VIDEO))[0] == 200  # videos are another pack
        status, answer = await raw.post("expand", {**EXPAND, "n": 2})
        assert (status, answer["code"]) == (429, 1303)
        assert (await raw.post("expand", {**EXPAND, "n": 1}))[0] == 200
        clock.advance(10)  # the tasks end and give their slots back
        assert (await raw.post("expand", {**EXPAND, "n": 4}))[0] == 200


async def test_lists_are_paged_and_their_bounds_checked(raw: Raw) -> None:
    for number in range(3):
        await raw.post("video", {**VIDEO, "external_task_id": f"kb-{number}"})
    _, page = await raw.get("/v1/videos/image2video?pageNum=2&pageSize=2")
    assert [t["task_info"]["external_task_id"] for t in page["data"]] == ["kb-0"]
    for query in ("pageNum=0", "pageNum=1001", "pageSize=501", "pageSize=x"):
        status, answer = await raw.get(f"/v1/videos/image2video?{query}")
        assert (status, answer["code"]) == (400, 1201)


async def test_an_unknown_task_on_the_gateway_prefix_is_task_not_exist(raw: Raw) -> None:
    status, answer = await raw.get("/kling/v1/videos/image2video/123")
    assert status == 400
    assert answer == {
        "error": {"code": "task_not_exist", "message": "task_not_exist", "type": "comet_api_error"}
    }
    status, answer = await raw.get("/v1/videos/image2video/123")
    assert (status, answer["code"]) == (404, 1203)


async def test_a_task_is_not_found_under_another_kind(raw: Raw) -> None:
    _, created = await raw.post("video", VIDEO)
    status, _ = await raw.get(f"/v1/images/editing/expand/{created['data']['task_id']}")
    assert status == 404


async def test_only_the_configured_prefixes_are_served() -> None:
    config = SimulatorConfig(prefixes=("/kling/v1",))
    async with running(config) as sim, aiohttp.ClientSession() as session:
        raw = Raw(sim, session)
        assert (await raw.post("/kling/v1/videos/image2video", VIDEO))[0] == 200
        async with session.post(sim.url + "/v1/videos/image2video", json=VIDEO) as response:
            assert response.status == 404
            assert response.content_type != "application/json"


async def test_results_are_served_only_once_the_task_succeeded(
    raw: Raw, clock: ManualClock
) -> None:
    _, created = await raw.post("expand", {**EXPAND, "n": 2})
    task_id = created["data"]["task_id"]
    assert (await raw.get(f"/media/{task_id}/0.png"))[0] == 404
    clock.advance(10)
    assert (await raw.get(f"/media/{task_id}/1.png"))[0] == 200
    assert (await raw.get(f"/media/{task_id}/2.png"))[0] == 404  # n=2: indexes 0 and 1


async def test_the_log_and_counters_record_every_request(raw: Raw, sim: Simulator) -> None:
    sim.faults.script(Op.CREATE, Fault.RATE_LIMIT)
    await raw.post("video", {**VIDEO, "external_task_id": "kb-1"})
    await raw.post("video", {**VIDEO, "external_task_id": "kb-1"})
    await raw.get("/v1/videos/image2video/1")
    assert sim.requests == Counter(
        {"POST /v1/videos/image2video": 2, "GET /v1/videos/image2video/{id}": 1}
    )
    assert [(e.op, e.status, e.code, e.fault) for e in sim.log] == [
        (Op.CREATE, 429, 1302, Fault.RATE_LIMIT),
        (Op.CREATE, 200, 0, None),
        (Op.GET, 404, 1203, None),
    ]
    assert sim.creates == Counter({"kb-1": 1})


async def test_random_faults_follow_their_rates() -> None:
    plan = FaultPlan(rates={Fault.RATE_LIMIT: 0.3, Fault.SERVER_ERROR: 0.2}, seed=11)
    async with running(SimulatorConfig(faults=plan)) as sim, aiohttp.ClientSession() as session:
        raw = Raw(sim, session)
        codes = Counter([(await raw.get("/v1/videos/image2video"))[1]["code"] for _ in range(400)])
    assert codes[0] + codes[1302] + codes[5000] == 400
    assert 80 <= codes[1302] <= 160 and 40 <= codes[5000] <= 120


def test_fault_rates_over_one_are_refused() -> None:
    with pytest.raises(ValueError, match="at most 1"):
        FaultPlan(rates={Fault.RATE_LIMIT: 0.7, Fault.HTML: 0.5})


def test_a_scripted_fault_can_target_one_kind() -> None:
    plan = FaultPlan()
    plan.script(Op.CREATE, 1303, times=2, kind=JobKind.IMAGE_EXPAND)
    assert plan.draw(Op.CREATE, JobKind.IMAGE2VIDEO) is None
    assert plan.draw(Op.GET, JobKind.IMAGE_EXPAND) is None
    assert plan.draw(Op.CREATE, JobKind.IMAGE_EXPAND) == 1303
    assert plan.pending == 1


async def test_the_simulator_command_serves_until_stopped() -> None:
    """``kbatch simulator`` in its own process, as a user would start it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kbatch",
        "simulator",
        "--port",
        "0",
        "--task-seconds",
        "0",
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        assert url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": "Bearer x"}
            async with session.post(
                f"{url}/v1/videos/image2video", json=VIDEO, headers=headers
            ) as response:
                answer: dict[str, Any] = await response.json()
        assert answer["data"]["task_status"] == "submitted"
    finally:
        process.terminate()
        await process.wait()


async def test_the_simulator_command_refuses_an_unknown_fault() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kbatch",
        "simulator",
        "--fault",
        "meteor=0.5",
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode == 2
    assert b"meteor=0.5" in err and b"rate_limit" in err


async def test_tasks_sending_the_same_picture_share_its_bytes(raw: Raw, sim: Simulator) -> None:
    for _ in range(3):
        await raw.post("video", VIDEO)
    pictures = [task.request.pictures["image"].data for task in sim.store.tasks.values()]
    assert pictures[0] is not None and all(p is pictures[0] for p in pictures)
