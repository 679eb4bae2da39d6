"""The client against the real simulator on loopback: every route, auth scheme, error and fault."""

from __future__ import annotations

import io
import json
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from PIL import Image

from kbatch.blockprices import FACE_KINDS
from kbatch.errors import (
    ApiError,
    ConfigError,
    JobRejected,
    OutcomeUnknown,
    RetryLater,
    RouteNotServed,
    RunFatal,
    TaskNotFound,
)
from kbatch.images import ImageInput, ImageSource
from kbatch.manifest.loader import ProviderConfig, load_manifest
from kbatch.manifest.records import element_number
from kbatch.manifest.references import (
    TAKES,
    Form,
    OutputType,
    Reference,
    field_name,
    found_in,
    replaced,
)
from kbatch.provider import made
from kbatch.provider.auth import Auth, BearerKey, KlingJwt, credentials
from kbatch.provider.catalogue import (
    NEW_API_KINDS,
    PROVIDERS,
    SYNC_KINDS,
    Dialect,
    JobKind,
    LookupForm,
    ProviderName,
    ProviderSpec,
)
from kbatch.provider.client import Client
from kbatch.provider.connect import connect
from kbatch.provider.protocol import Target
from kbatch.provider.surfaces import Surfaces
from kbatch.provider.transport import Timeouts
from kbatch.provider.wire import MediaKind, Task, TaskStatus
from kbatch.simulator import Fault, ManualClock, Op, Simulator, SimulatorConfig, running
from kbatch.simulator.answers import CODE_ANSWERS
from tests.conftest import KEY, REPO, SAMPLE, SPEAKING, SPEAKING_VIDEO, image, request_of

KLING = PROVIDERS[ProviderName.KLING]
COMET = PROVIDERS[ProviderName.COMETAPI]


async def fetch(client: Client, url: str) -> bytes:
    async with client.download(url) as body:
        return b"".join([chunk async for chunk in body.chunks])


# -- every route, both prefixes --------------------------------------------------------------------


@pytest.mark.parametrize("kind", [k for k in JobKind if k not in NEW_API_KINDS | SYNC_KINDS])
@pytest.mark.parametrize("provider", [KLING, COMET], ids=["v1", "kling-v1"])
async def test_a_task_goes_from_create_to_downloaded_file(
    sim: Simulator, clock: ManualClock, kind: JobKind, provider: ProviderSpec
) -> None:
    request = request_of(kind)
    if request.get("video_url") == SAMPLE:  # slice audio: a video the simulator serves
        request["video_url"] = f"{sim.url}/samples/dance.mp4"
    async with Client(provider, auth=BearerKey(KEY), base_url=sim.url) as client:
        if kind is JobKind.LIP_SYNC:  # its first step: the faces of a video made before
            request["session_id"] = await face_session(client, clock)
        if request.get("video_id") == SPEAKING_VIDEO:  # slice records: a voice of a made video
            request["video_id"] = await speaking_video(client, clock)
        created = await client.create(kind, request, external_task_id="kb-a")
        assert (created.status, created.external_task_id) == (TaskStatus.SUBMITTED, "kb-a")

        clock.advance(5)
        assert (await client.get(kind, created.task_id)).status is TaskStatus.PROCESSING
        clock.advance(5)
        done = await client.get(kind, created.task_id)
        assert done.status is TaskStatus.SUCCEED and done.units is not None
        assert done.units > 0 or kind is JobKind.ELEMENT  # no price stated: the simulator's 0

        assert [t.task_id for t in await client.list(kind)] == [created.task_id]
        assert (await client.find(kind, "kb-a")) == done
        record = made.record_bytes(done.media[0].url)  # slice records: an element, a voice
        data = record if record is not None else await fetch(client, done.media[0].url)
    if record is not None:
        assert json.loads(record)[f"{kind}_id"] == done.media[0].id
    elif kind in (JobKind.IMAGE2VIDEO, JobKind.TEXT2VIDEO, JobKind.VIDEO_EFFECTS, *FACE_KINDS):
        assert done.media[0].kind is MediaKind.VIDEO and data[4:8] == b"ftyp"
    elif kind is JobKind.VIDEO2AUDIO:  # slice audio: the video with sound, then its sound
        assert [m.kind for m in done.media] == [MediaKind.VIDEO] + [MediaKind.AUDIO] * 2
        assert data[4:8] == b"ftyp" and [m.variant for m in done.media[1:]] == ["", "wav"]
    elif kind is JobKind.TEXT2AUDIO:
        assert [m.extension for m in done.media] == ["mp3", "wav"] and data[:2] == b"\xff\xfb"
    else:
        assert Image.open(io.BytesIO(data)).format == "PNG"
    prefix = client.prefix
    assert any(key.startswith(f"POST {prefix}/") for key in sim.requests)


async def face_session(client: Client, clock: ManualClock) -> str:
    """A session of identify-face over an image2video made first (slice faces)."""
    made = await client.create(
        JobKind.IMAGE2VIDEO, request_of(JobKind.IMAGE2VIDEO), external_task_id="kb-clip"
    )
    clock.advance(10)
    video = (await client.get(JobKind.IMAGE2VIDEO, made.task_id)).media[0].id
    assert video is not None
    session = await client.identify_face({"video_id": video})
    assert [face.face_id for face in session.faces] == ["0"] and session.units == "0.05"
    return session.session_id


async def speaking_video(client: Client, clock: ManualClock) -> str:
    """slice records: the id of a kling-v2-6 video with sound, made for a voice to take."""
    request = request_of(JobKind.IMAGE2VIDEO, **SPEAKING)
    task = await client.create(JobKind.IMAGE2VIDEO, request, external_task_id="kb-speaks")
    clock.advance(10)
    done = await client.get(JobKind.IMAGE2VIDEO, task.task_id)
    assert done.media[0].id is not None
    return done.media[0].id


async def test_every_job_of_the_demo_manifest_is_accepted(clock: ManualClock) -> None:
    """The loader's requests pass the simulator's strict checks, on the API each job goes to:
    no field the API would refuse or ignore, no empty optional string."""
    manifest = load_manifest(REPO / "manifests" / "demo.yaml")
    # A lip-sync's two steps are tests/cli/test_face_kinds.py's.
    jobs = [job for job in manifest.jobs() if job.kind is not JobKind.LIP_SYNC]
    strict = SimulatorConfig(task_seconds=10, clock=clock, strict=True)
    async with running(strict) as sim:
        config = ProviderConfig(ProviderName.SIMULATOR, base_url=sim.url)
        async with connect(config, env={}) as provider:
            made: dict[str, tuple[Target, str] | Task] = {}  # a sync call's: its answer
            for number, job in enumerate(jobs):
                # A job that takes another's image (job:<id>) is sent an image in its place;
                # one that takes an id (element_id, voice_id, video_id) the id its upstream made.
                values = {
                    ref: await _taken(provider, clock, made[ref.job_id], ref, field_name(path))
                    for path, ref in found_in(job.request)
                }
                request = replaced(job.request, values)
                target = provider.target(job.kind, request)
                task = await provider.create(target, request, external_task_id=f"kb-{number}")
                answered = TaskStatus.SUCCEED if job.kind in SYNC_KINDS else TaskStatus.SUBMITTED
                assert task.status is answered
                made[job.id] = task if job.kind in SYNC_KINDS else (target, task.task_id)
    assert len(sim.creates) == sum(job.kind not in SYNC_KINDS for job in jobs) >= 5  # tts: no id
    assert any(route.startswith("POST /text-to-video/") for route in sim.requests)


async def _taken(
    provider: Surfaces,
    clock: ManualClock,
    upstream: tuple[Target, str] | Task,
    ref: Reference,
    name: str,
) -> Any:
    """What a demo job is sent for a reference: an image, or the id its upstream made (a
    speech's from its answer: it has no task to ask for)."""
    taking = TAKES[name]
    if taking.form is not Form.ID:
        return image()
    clock.advance(10)  # the upstream ends
    done = upstream if isinstance(upstream, Task) else await provider.get(*upstream)
    results = [m for m in done.media if m.kind.value == taking.output.value and not m.variant]
    made_id = results[ref.position].id
    return element_number(made_id) if taking.output is OutputType.ELEMENT else made_id


async def test_the_legacy_dialect_uses_images_generations(sim: Simulator) -> None:
    request = request_of(
        JobKind.MULTI_IMAGE2IMAGE, scene_image=request_of(JobKind.IMAGE2VIDEO)["image"]
    )
    async with Client(COMET, auth=BearerKey(KEY), base_url=sim.url, dialect=Dialect.LEGACY) as c:
        task = await c.create(JobKind.MULTI_IMAGE2IMAGE, request, external_task_id="kb-l")
        assert (await c.get(JobKind.MULTI_IMAGE2IMAGE, task.task_id)).task_id == task.task_id
    assert sim.requests["POST /kling/v1/images/generations"] == 1
    assert sim.requests["GET /kling/v1/images/generations/{id}"] == 1


async def test_a_route_override_is_used_and_its_404_is_route_not_served(sim: Simulator) -> None:
    routes = {JobKind.IMAGE_EXPAND: "images/outpaint"}
    async with Client(KLING, auth=BearerKey(KEY), base_url=sim.url, routes=routes) as client:
        with pytest.raises(RouteNotServed, match="does not serve this route"):
            await client.create(
                JobKind.IMAGE_EXPAND, request_of(JobKind.IMAGE_EXPAND), external_task_id="kb-r"
            )
    assert not sim.creates


async def test_list_pages_are_newest_first(sim: Simulator, client: Client) -> None:
    kind = JobKind.IMAGE2VIDEO
    ids = [
        (await client.create(kind, request_of(kind), external_task_id=f"kb-{i}")).task_id
        for i in range(3)
    ]
    first = await client.list(kind, page=1, page_size=2)
    second = await client.list(kind, page=2, page_size=2)
    assert [t.task_id for t in first + second] == ids[::-1]


@pytest.mark.parametrize("provider", [KLING, COMET], ids=["v1", "kling-v1"])
async def test_an_unknown_task_id_is_task_not_found(sim: Simulator, provider: ProviderSpec) -> None:
    async with Client(provider, auth=BearerKey(KEY), base_url=sim.url) as client:
        with pytest.raises(TaskNotFound):
            await client.get(JobKind.IMAGE2VIDEO, "999")


# -- finding a task by its external id -------------------------------------------------------------


@pytest.mark.parametrize(
    ("forms", "answers"),
    [
        ({LookupForm.PATH, LookupForm.QUERY}, LookupForm.PATH),
        ({LookupForm.QUERY}, LookupForm.QUERY),
        (set(), LookupForm.LIST),
    ],
)
async def test_find_tries_each_form_and_remembers_the_one_that_answers(
    forms: set[LookupForm], answers: LookupForm
) -> None:
    kind = JobKind.IMAGE_EXPAND
    config = SimulatorConfig(lookup_forms=frozenset(forms))
    async with running(config) as sim, Client(KLING, auth=BearerKey(KEY), base_url=sim.url) as c:
        await c.create(kind, request_of(kind), external_task_id="kb-other")
        created = await c.create(kind, request_of(kind), external_task_id="kb-x")
        assert (await c.find(kind, "kb-x")).task_id == created.task_id  # type: ignore[union-attr]
        assert c.lookup[kind] is answers
        before = sum(sim.requests.values())
        assert await c.find(kind, "kb-missing") is None
        assert await c.find(kind, "kb-other") is not None
        if answers is not LookupForm.LIST:
            assert sum(sim.requests.values()) - before == 2  # one request each, the known form


async def test_find_says_none_only_when_every_form_says_so(sim: Simulator, client: Client) -> None:
    assert await client.find(JobKind.IMAGE2VIDEO, "kb-never-sent") is None
    assert JobKind.IMAGE2VIDEO not in client.lookup
    assert sim.requests["GET /v1/videos/image2video"] == 2  # the query form, then one list page


async def test_a_form_that_stops_answering_is_forgotten() -> None:
    """A server that ignores ?external_task_id= looked right while it held one task."""
    kind = JobKind.IMAGE2VIDEO
    config = SimulatorConfig(lookup_forms=frozenset())
    async with running(config) as sim, Client(KLING, auth=BearerKey(KEY), base_url=sim.url) as c:
        await c.create(kind, request_of(kind), external_task_id="kb-1")
        assert await c.find(kind, "kb-1") is not None
        assert c.lookup[kind] is LookupForm.QUERY
        await c.create(kind, request_of(kind), external_task_id="kb-2")
        assert (await c.find(kind, "kb-1")).external_task_id == "kb-1"  # type: ignore[union-attr]
        assert c.lookup[kind] is LookupForm.LIST


# -- auth ------------------------------------------------------------------------------------------

ACCESS, SECRET = "AK-test-access", "SK-test-secret-0123456789"


@pytest.fixture
async def jwt_sim() -> AsyncIterator[Simulator]:
    async with running(SimulatorConfig(access_key=ACCESS, secret_key=SECRET)) as simulator:
        yield simulator


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # our own decode
def test_the_jwt_carries_kling_s_claims() -> None:
    auth = KlingJwt(ACCESS, SECRET, clock=lambda: 1_700_000_000.0)
    token = auth.header().removeprefix("Bearer ")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(
        token,
        SECRET,
        algorithms=["HS256"],
        options={"verify_exp": False, "verify_nbf": False},
    )
    assert claims == {"iss": ACCESS, "exp": 1_700_001_800, "nbf": 1_699_999_995}
    assert ACCESS not in repr(auth) and SECRET not in repr(auth)


def test_the_jwt_is_signed_afresh_before_it_expires() -> None:
    now = [1_700_000_000.0]
    auth = KlingJwt(ACCESS, SECRET, clock=lambda: now[0])
    first = auth.header()
    now[0] += 1000
    assert auth.header() == first
    now[0] += 600  # less than five minutes left
    assert auth.header() != first


async def test_a_signed_jwt_is_accepted(jwt_sim: Simulator) -> None:
    async with Client(KLING, auth=KlingJwt(ACCESS, SECRET), base_url=jwt_sim.url) as client:
        kind = JobKind.IMAGE2VIDEO
        await client.create(kind, request_of(kind), external_task_id="kb-j")
    assert jwt_sim.creates["kb-j"] == 1


async def test_a_token_refused_as_not_yet_valid_is_signed_again_once(jwt_sim: Simulator) -> None:
    """A clock running ten minutes fast makes a token whose nbf is in the future: 1003."""
    import time

    skew = [600.0]
    auth = KlingJwt(ACCESS, SECRET, clock=lambda: time.time() + skew[0])
    auth.header()
    skew[0] = 0.0  # the clock is fixed; the token in hand is still the bad one
    async with Client(KLING, auth=auth, base_url=jwt_sim.url) as client:
        kind = JobKind.IMAGE2VIDEO
        await client.create(kind, request_of(kind), external_task_id="kb-s")
    assert [(e.status, e.code) for e in jwt_sim.log] == [(401, 1003), (200, 0)]


async def test_a_token_still_refused_after_signing_again_is_fatal(jwt_sim: Simulator) -> None:
    import time

    auth = KlingJwt(ACCESS, SECRET, clock=lambda: time.time() - 7200)  # always expired
    async with Client(KLING, auth=auth, base_url=jwt_sim.url) as client:
        with pytest.raises(RunFatal, match="code 1004") as caught:
            await client.get(JobKind.IMAGE2VIDEO, "1")
    assert len(jwt_sim.log) == 2
    assert SECRET not in str(caught.value) and ACCESS not in str(caught.value)


@pytest.mark.parametrize(
    ("auth", "code"),
    [
        (BearerKey("wrong-key"), 1002),
        (KlingJwt("AK-someone-else", SECRET), 1000),
        (KlingJwt(ACCESS, "SK-wrong-secret-0000"), 1002),
    ],
)
async def test_wrong_credentials_are_fatal(jwt_sim: Simulator, auth: Auth, code: int) -> None:
    async with Client(KLING, auth=auth, base_url=jwt_sim.url) as client:
        with pytest.raises(RunFatal) as caught:
            await client.get(JobKind.IMAGE2VIDEO, "1")
    assert caught.value.code == code and caught.value.status == 401


async def test_a_static_key_is_checked_when_the_simulator_has_one() -> None:
    async with running(SimulatorConfig(api_key=KEY)) as sim:
        async with Client(KLING, auth=BearerKey(KEY), base_url=sim.url) as client:
            with pytest.raises(TaskNotFound):
                await client.get(JobKind.IMAGE2VIDEO, "1")  # got past auth
        async with Client(KLING, auth=BearerKey("nope-nope"), base_url=sim.url) as client:
            with pytest.raises(RunFatal):
                await client.get(JobKind.IMAGE2VIDEO, "1")


async def test_an_echoed_credential_never_reaches_a_message() -> None:
    """Even a server that repeats the Authorization header back has it scrubbed."""

    async def echo(request: web.Request) -> web.Response:
        said = request.headers["Authorization"]
        return web.json_response({"code": 1201, "message": f"bad request with {said}"}, status=400)

    app = web.Application()
    app.router.add_post("/v1/videos/image2video", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    auth = KlingJwt(ACCESS, SECRET)
    try:
        async with Client(KLING, auth=auth, base_url=f"http://127.0.0.1:{port}") as client:
            kind = JobKind.IMAGE2VIDEO
            with pytest.raises(JobRejected) as caught:
                await client.create(kind, request_of(kind), external_task_id="kb-e")
    finally:
        await runner.cleanup()
    token = auth.header().removeprefix("Bearer ")
    assert token not in str(caught.value) and "Bearer ***" in str(caught.value)


# -- credentials from the environment --------------------------------------------------------------


def test_credentials_come_from_the_environment() -> None:
    env = {"KLING_ACCESS_KEY": ACCESS, "KLING_SECRET_KEY": SECRET, "KLING_API_KEY": KEY}
    assert isinstance(credentials(KLING, env), KlingJwt)
    assert isinstance(credentials(KLING, {"KLING_API_KEY": KEY}), BearerKey)
    assert credentials(COMET, {"COMETAPI_KEY": KEY}).header() == f"Bearer {KEY}"
    assert credentials(COMET, {"MINE": "k-1"}, key_env="MINE").header() == "Bearer k-1"
    simulator = PROVIDERS[ProviderName.SIMULATOR]
    assert credentials(simulator, {}).header().startswith("Bearer ")


@pytest.mark.parametrize(
    ("provider", "env", "key_env", "names"),
    [
        (
            KLING,
            {"KLING_ACCESS_KEY": ACCESS},
            None,
            "KLING_ACCESS_KEY and KLING_SECRET_KEY or KLING_API_KEY",
        ),
        (COMET, {"COMETAPI_KEY": ""}, None, "COMETAPI_KEY"),
        (PROVIDERS[ProviderName.ANYAPI], {}, None, "ANYAPI_KEY"),
        (COMET, {"COMETAPI_KEY": KEY}, "MY_KEY", "MY_KEY"),
    ],
)
def test_missing_credentials_name_the_variables_not_the_values(
    provider: ProviderSpec, env: dict[str, str], key_env: str | None, names: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        credentials(provider, env, key_env)
    assert names in str(caught.value)
    assert ACCESS not in str(caught.value) and KEY not in str(caught.value)


async def test_connect_starts_the_simulator_in_process() -> None:
    kind = JobKind.IMAGE_EXPAND
    async with connect(ProviderConfig(ProviderName.SIMULATOR), env={}) as client:
        assert client.base.startswith("http://127.0.0.1:")
        task = await client.create(kind, request_of(kind), external_task_id="kb-c")
        base = client.base
    assert task.status is TaskStatus.SUBMITTED
    async with Client(KLING, auth=BearerKey(KEY), base_url=base) as after:
        with pytest.raises(RetryLater, match="cannot connect"):
            await after.get(kind, task.task_id)


async def test_connect_applies_the_manifest_overrides(sim: Simulator) -> None:
    config = ProviderConfig(
        ProviderName.COMETAPI, base_url=sim.url + "/", prefix="/v1", dialect=Dialect.LEGACY
    )
    async with connect(config, env={"COMETAPI_KEY": KEY}) as client:
        assert client.url(JobKind.MULTI_IMAGE2IMAGE) == f"{sim.url}/v1/images/generations"


# -- every error row, as the simulator answers it -------------------------------------------------

EXPECTED_ON_CREATE = {
    **dict.fromkeys((1000, 1001, 1002, 1003, 1004, 1100, 1101, 1102, 1304), RunFatal),
    **dict.fromkeys((1103, 1200, 1201, 1202, 1203, 1300, 1301), JobRejected),
    **dict.fromkeys((1302, 1303), RetryLater),
    **dict.fromkeys((5000, 5001, 5002), OutcomeUnknown),
}


@pytest.mark.parametrize("code", sorted(CODE_ANSWERS))
async def test_every_error_code_raises_its_class(sim: Simulator, client: Client, code: int) -> None:
    kind = JobKind.IMAGE2VIDEO
    sim.faults.script(Op.CREATE, code)
    with pytest.raises(ApiError) as caught:
        await client.create(kind, request_of(kind), external_task_id="kb-e")
    error = caught.value
    assert type(error) is EXPECTED_ON_CREATE[code]
    assert (error.code, error.status) == (code, CODE_ANSWERS[code][0])
    assert error.request_id and error.request_id in str(error)
    assert not sim.creates


async def test_on_reads_server_errors_are_retried(sim: Simulator, client: Client) -> None:
    for code in (5000, 5001, 5002):
        sim.faults.script(Op.GET, code)
        with pytest.raises(RetryLater):
            await client.get(JobKind.IMAGE2VIDEO, "1")


async def test_a_read_whose_json_is_cut_short_is_asked_again(
    sim: Simulator, client: Client
) -> None:
    kind = JobKind.IMAGE2VIDEO
    task = await client.create(kind, request_of(kind), external_task_id="kb-g")
    sim.faults.script(Op.GET, Fault.GARBLED)
    with pytest.raises(RetryLater, match="JSON cut short"):
        await client.get(kind, task.task_id)
    assert (await client.get(kind, task.task_id)).task_id == task.task_id


async def test_retry_after_is_passed_on() -> None:
    config = SimulatorConfig(retry_after=2.5)
    async with running(config) as sim, Client(KLING, auth=BearerKey(KEY), base_url=sim.url) as c:
        sim.faults.script(Op.ANY, Fault.RATE_LIMIT)
        with pytest.raises(RetryLater) as caught:
            await c.list(JobKind.IMAGE_EXPAND)
    assert (caught.value.code, caught.value.retry_after) == (1302, 2.5)


# -- faults ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "created"),
    [
        (Fault.RESET_BEFORE, False),
        (Fault.RESET_AFTER, True),
        (Fault.TIMEOUT, False),
        (Fault.TIMEOUT_AFTER_CREATE, True),
        (Fault.SERVER_ERROR, False),
        (Fault.HTML, False),
        (Fault.GARBLED, True),
    ],
)
async def test_a_create_whose_answer_is_lost_is_unknown_and_find_tells(
    sim: Simulator, client: Client, fault: Fault, created: bool
) -> None:
    kind = JobKind.IMAGE2VIDEO
    sim.faults.script(Op.CREATE, fault)
    with pytest.raises(OutcomeUnknown, match="look it up"):
        await client.create(kind, request_of(kind), external_task_id="kb-u")
    found = await client.find(kind, "kb-u")
    assert (found is not None) is created
    assert sim.creates["kb-u"] == int(created)


async def test_a_slow_answer_times_out(clock: ManualClock) -> None:
    config = SimulatorConfig(slow_seconds=30, clock=clock)
    timeouts = Timeouts(read=0.2)
    kind = JobKind.IMAGE2VIDEO
    async with (
        running(config) as sim,
        Client(KLING, auth=BearerKey(KEY), base_url=sim.url, timeouts=timeouts) as c,
    ):
        sim.faults.script(Op.CREATE, Fault.SLOW)
        with pytest.raises(OutcomeUnknown, match="no answer in time"):
            await c.create(kind, request_of(kind), external_task_id="kb-slow")
        sim.faults.script(Op.GET, Fault.SLOW)
        with pytest.raises(RetryLater, match="no answer in time"):
            await c.get(kind, "1")


@pytest.mark.parametrize(
    ("fault", "message"),
    [(Fault.NOT_FOUND, "HTML page"), (Fault.REDIRECT, "redirected to")],
)
async def test_pages_and_redirects_are_route_not_served(
    sim: Simulator, client: Client, fault: Fault, message: str
) -> None:
    kind = JobKind.IMAGE_EXPAND
    sim.faults.script(Op.ANY, fault, times=2)
    with pytest.raises(RouteNotServed, match=message):
        await client.create(kind, request_of(kind), external_task_id="kb-p")
    with pytest.raises(RouteNotServed, match=message):
        await client.get(kind, "1")


async def test_a_create_route_the_gateway_lacks_is_route_not_served(sim: Simulator) -> None:
    """As CometAPI's expand route once answered 404."""
    sim.faults.not_served.add(JobKind.IMAGE_EXPAND)
    kind = JobKind.IMAGE_EXPAND
    async with Client(COMET, auth=BearerKey(KEY), base_url=sim.url) as client:
        with pytest.raises(RouteNotServed, match=r"HTTP 404.*/kling/v1 does not serve"):
            await client.create(kind, request_of(kind), external_task_id="kb-n")
        video = JobKind.IMAGE2VIDEO
        await client.create(video, request_of(video), external_task_id="kb-v")


async def test_a_gateway_json_404_is_route_not_served() -> None:
    """CometAPI has answered its expand route with {"code": null, "message": "404"}."""

    async def not_served(request: web.Request) -> web.Response:
        return web.json_response({"code": None, "message": "404"})

    app = web.Application()
    app.router.add_post("/kling/v1/images/editing/expand", not_served)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    kind = JobKind.IMAGE_EXPAND
    try:
        async with Client(COMET, auth=BearerKey(KEY), base_url=f"http://127.0.0.1:{port}") as c:
            with pytest.raises(RouteNotServed, match="the route is not served"):
                await c.create(kind, request_of(kind), external_task_id="kb-404")
    finally:
        await runner.cleanup()


async def test_an_expand_without_n_is_sent_with_n_1(sim: Simulator, client: Client) -> None:
    """AnyAPI's spec lists n as required on expand: it is always sent."""
    request = {k: v for k, v in request_of(JobKind.IMAGE_EXPAND).items() if k != "n"}
    task = await client.create(JobKind.IMAGE_EXPAND, request, external_task_id="kb-n1")
    assert sim.store.tasks[task.task_id].request.fields["n"] == 1


async def test_an_image_task_a_gateway_answers_only_under_generations_is_found() -> None:
    """CometAPI documents its image queries under images/generations/{id} only."""
    kind = JobKind.IMAGE_EXPAND
    config = SimulatorConfig(gateway_image_queries=True)
    async with running(config) as sim, Client(COMET, auth=BearerKey(KEY), base_url=sim.url) as c:
        task = await c.create(kind, request_of(kind), external_task_id="kb-g")
        assert (await c.get(kind, task.task_id)).task_id == task.task_id
        assert (await c.get(kind, task.task_id)).task_id == task.task_id
        with pytest.raises(TaskNotFound):
            await c.get(kind, "404404")
    assert sim.requests["GET /kling/v1/images/editing/expand/{id}"] == 2  # first, then the 404
    assert sim.requests["GET /kling/v1/images/generations/{id}"] == 3  # it answers from then on


async def test_a_refused_connection_is_a_retry_even_for_a_create() -> None:
    """Nothing was sent, so nothing can have been created."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with Client(KLING, auth=BearerKey(KEY), base_url=f"http://127.0.0.1:{port}") as c:
        kind = JobKind.IMAGE2VIDEO
        with pytest.raises(RetryLater, match="cannot connect"):
            await c.create(kind, request_of(kind), external_task_id="kb-0")


# -- downloads -------------------------------------------------------------------------------------


async def finished_video(sim: Simulator, client: Client, clock: ManualClock) -> str:
    kind = JobKind.IMAGE2VIDEO
    task = await client.create(kind, request_of(kind), external_task_id="kb-d")
    clock.advance(10)
    return (await client.get(kind, task.task_id)).media[0].url


async def test_a_truncated_download_is_retried(
    sim: Simulator, client: Client, clock: ManualClock
) -> None:
    url = await finished_video(sim, client, clock)
    sim.faults.script(Op.DOWNLOAD, Fault.TRUNCATE)
    with pytest.raises(RetryLater, match="broke off"):
        await fetch(client, url)
    assert len(await fetch(client, url)) > 1000


async def test_a_download_never_carries_the_key(
    sim: Simulator, client: Client, clock: ManualClock, tmp_path: Path
) -> None:
    """Result URLs point at a CDN in real life: the Authorization header stays at the API."""
    seen: list[str | None] = []

    async def media(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.Response(body=b"x" * 10)

    app = web.Application()
    app.router.add_get("/f.mp4", media)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        data = await fetch(client, f"http://127.0.0.1:{runner.addresses[0][1]}/f.mp4")
    finally:
        await runner.cleanup()
    assert data == b"x" * 10 and seen == [None]


async def test_a_result_that_is_gone_fails_the_job(sim: Simulator, client: Client) -> None:
    with pytest.raises(JobRejected, match="HTTP 404"):
        await fetch(client, f"{sim.url}/media/1/0.png")


async def test_a_manifest_s_provider_overrides_reach_the_client() -> None:
    manifest = load_manifest(REPO / "tests" / "manifests" / "valid" / "provider-overrides.yaml")
    async with connect(manifest.provider, env={"MY_GATEWAY_KEY": KEY}) as client:
        assert client.url(JobKind.MULTI_IMAGE2IMAGE) == (
            "http://127.0.0.1:9999/proxy/kling/v1/images/generations"
        )
        assert client.endpoint(JobKind.MULTI_IMAGE2IMAGE).wire_name("scene_image") == (
            "scence_image"
        )


async def test_an_image_near_the_10_mb_limit_goes_through(
    sim: Simulator, client: Client, tmp_path: Path
) -> None:
    side = 1800  # 1800 x 1800 x 3 bytes of noise: a PNG of about 9.7 MB
    noise = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    path = tmp_path / "noise.png"
    noise.save(path, compress_level=0)
    assert 9 * 1024 * 1024 < path.stat().st_size <= 10 * 1024 * 1024
    kind = JobKind.IMAGE2VIDEO
    request = request_of(kind, image=ImageInput(ImageSource.FILE, str(path)))
    await client.create(kind, request, external_task_id="kb-big")
    assert sim.creates["kb-big"] == 1


async def test_an_expired_result_link_fails_the_job_not_the_run(client: Client) -> None:
    """A CDN answers 401 or 403 for a signed URL past its date: that is about one file."""

    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["status"]), text="denied")

    app = web.Application()
    app.router.add_get("/{status}/f.png", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        for status in (401, 403, 410):
            with pytest.raises(JobRejected, match=f"HTTP {status}"):
                await fetch(client, f"{base}/{status}/f.png")
        with pytest.raises(RetryLater, match="HTTP 503"):
            await fetch(client, f"{base}/503/f.png")
    finally:
        await runner.cleanup()


async def test_ids_are_quoted_in_paths(sim: Simulator, client: Client) -> None:
    kind = JobKind.IMAGE2VIDEO
    assert client.url(kind, "a/b c") == f"{sim.url}/v1/videos/image2video/a%2Fb%20c"
    await client.create(kind, request_of(kind), external_task_id="kb+1@x=y")
    found = await client.find(kind, "kb+1@x=y")
    assert found is not None and found.external_task_id == "kb+1@x=y"


async def test_creates_sharing_a_large_image_encode_it_once(sim: Simulator, tmp_path: Path) -> None:
    """A picture shared by many jobs is read and encoded once, and each body is sent from the
    shared bytes (in parts, with its length: no chunked encoding, no copy per create)."""
    picture = Image.effect_noise((900, 700), 80).convert("RGB")
    path = tmp_path / "noise.png"
    picture.save(path)
    assert path.stat().st_size > 500_000
    kind = JobKind.IMAGE2VIDEO
    request = {"image": ImageInput(ImageSource.FILE, str(path)), "duration": "5"}
    async with Client(KLING, auth=BearerKey(KEY), base_url=sim.url) as client:
        for number in range(8):
            await client.create(kind, request, external_task_id=f"kb-{number}")
        encoder = client._encode
    assert getattr(encoder, "encoded", None) == 1
    assert len(sim.creates) == 8
    task = next(iter(sim.store.tasks.values()))
    assert task.request.pictures["image"].data == path.read_bytes()  # whole, as sent
