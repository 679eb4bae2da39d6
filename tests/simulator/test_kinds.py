"""The simulator's omni image and video effects: their routes under /v1 and /kling/v1, their
rules (lenient by default, refused under --strict), a series' images and slots, prices, and
callbacks."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web

from kbatch.simulator import ManualClock, SimulatorConfig, running
from tests.simulator.conftest import Files, Raw, resolve

OMNI = "/v1/images/omni-image"
EFFECTS = "/v1/videos/effects"
SERIES = {"model_name": "kling-v3-omni", "prompt": "a fox", "result_type": "series"}


def omni(files: Files, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = resolve(
        {"prompt": "a fox", "image_list": [{"image": "{files}/ok.png"}], **fields}, files
    )
    return body


async def finished(raw: Raw, clock: ManualClock, route: str, body: dict[str, Any]) -> Any:
    status, answer = await raw.post(route, body)
    assert (status, answer["code"]) == (200, 0), answer
    clock.advance(10)
    _, got = await raw.get(f"{route}/{answer['data']['task_id']}")
    assert got["data"]["task_status"] == "succeed"
    return got["data"]


async def test_single_images_and_a_series_come_back_where_the_page_puts_them(
    raw: Raw, clock: ManualClock, files: Files
) -> None:
    single = await finished(raw, clock, OMNI, omni(files, n=2))
    result = single["task_result"]
    assert result["result_type"] == "single" and len(result["images"]) == 2
    assert result["series_images"] == [] and single["final_unit_deduction"] == "16"

    series = await finished(raw, clock, OMNI, omni(files, **SERIES, series_amount=3))
    result = series["task_result"]
    assert result["result_type"] == "series" and result["images"] == []
    assert [item["index"] for item in result["series_images"]] == [0, 1, 2]
    assert series["final_unit_deduction"] == "24"

    uhd = await finished(raw, clock, OMNI, omni(files, **SERIES, series_amount=2, resolution="4k"))
    assert uhd["final_unit_deduction"] == "32"  # 16 an image at 4k on kling-v3-omni


async def test_an_auto_series_makes_2_to_9_images_and_holds_a_slot_for_each(
    clock: ManualClock, files: Files
) -> None:
    config = SimulatorConfig(parallel_limit=9, task_seconds=10, clock=clock)
    async with running(config) as sim, aiohttp.ClientSession() as session:
        raw = Raw(sim, session)
        status, answer = await raw.post(OMNI, omni(files, **SERIES, series_amount="auto"))
        assert status == 200
        made = sim.store.tasks[answer["data"]["task_id"]].slots
        assert 2 <= made <= 9
        status, full = await raw.post(OMNI, omni(files, n=9 - made + 1))  # one slot too many
        assert (status, full["code"]) == (429, 1303)
        if made < 9:  # the slots left fit (a series of 9 leaves none: n=0 is no request)
            assert (await raw.post(OMNI, omni(files, n=9 - made)))[0] == 200
        clock.advance(10)
        _, got = await raw.get(f"{OMNI}/{answer['data']['task_id']}")
        assert len(got["data"]["task_result"]["series_images"]) == made
        assert got["data"]["final_unit_deduction"] == str(8 * made)


async def test_effects_take_one_image_or_two_as_the_scene_says(
    raw: Raw, clock: ManualClock, files: Files
) -> None:
    one = resolve({"effect_scene": "pet_lion_pro", "input": {"image": "{files}/ok.png"}}, files)
    done = await finished(raw, clock, EFFECTS, one)
    [video] = done["task_result"]["videos"]
    assert video["url"].endswith("/0.mp4") and done["final_unit_deduction"] == "3.5"
    pair = {"images": ["{files}/ok.png", "{files}/ok.jpg"]}
    for scene, given in (("hug_pro", {"image": "{files}/ok.png"}), ("pet_lion_pro", pair)):
        body = resolve({"effect_scene": scene, "input": given}, files)
        status, answer = await raw.post(EFFECTS, body)
        assert (status, answer["code"]) == (400, 1201) and "input" in answer["message"]
    status, answer = await raw.post(EFFECTS, {"effect_scene": "no_such", "input": one["input"]})
    assert (status, answer["code"]) == (400, 1201) and "effect_scene" in answer["message"]


async def test_both_routes_answer_on_the_gateway_prefix_and_list(
    raw: Raw, clock: ManualClock, files: Files
) -> None:
    body = resolve({"effect_scene": "hug_pro", "input": {"images": ["{files}/ok.png"] * 2}}, files)
    status, answer = await raw.post("/kling" + EFFECTS, {**body, "external_task_id": "kb-e"})
    assert status == 200
    _, by_external = await raw.get("/kling" + EFFECTS + "/kb-e")
    assert by_external["data"]["task_id"] == answer["data"]["task_id"]
    await raw.post("/kling" + OMNI, omni(files, external_task_id="kb-o"))
    _, page = await raw.get(OMNI + "?pageNum=1&pageSize=30")
    assert [t["task_info"]["external_task_id"] for t in page["data"]] == ["kb-o"]


async def test_strict_refuses_what_the_pages_do_not_list(strict: Raw, files: Files) -> None:
    for route, body, field in (
        (OMNI, omni(files, negative_prompt="blur"), "negative_prompt"),
        (OMNI, omni(files, **SERIES, n=2), "n"),
        (OMNI, omni(files, resolution="4k"), "resolution"),
        (EFFECTS, {"effect_scene": "hug_pro", "input": {}, "watermark_info": {}}, "watermark"),
        (OMNI, omni(files, callback_url=""), "callback_url"),
    ):
        status, answer = await strict.post(route, body)
        assert (status, answer["code"]) == (400, 1201) and field in answer["message"], body


async def test_a_callback_follows_an_effect_task(clock: ManualClock, files: Files) -> None:
    arrived = asyncio.Event()
    bodies: list[bytes] = []

    async def receive(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        arrived.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    body = resolve({"effect_scene": "pet_lion_pro", "input": {"image": "{files}/ok.png"}}, files)
    try:
        config = SimulatorConfig(task_seconds=10, clock=clock)
        async with running(config) as sim, aiohttp.ClientSession() as session:
            await Raw(sim, session).post(EFFECTS, {**body, "callback_url": hook})
            await asyncio.wait_for(arrived.wait(), 5)
    finally:
        await runner.cleanup()
    assert b'"task_status": "submitted"' in bodies[0]
