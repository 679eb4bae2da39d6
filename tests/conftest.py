"""Shared helpers: example files, a writer for throwaway manifests, a simulator on loopback
with a hand-driven clock and a client pointed at it, and a guard that keeps every test on
loopback."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kbatch.images import ImageInput, ImageSource
from kbatch.provider.auth import BearerKey
from kbatch.provider.catalogue import PROVIDERS, JobKind, ProviderName
from kbatch.provider.client import Client
from kbatch.simulator import ManualClock, Simulator, SimulatorConfig, running
from kbatch.simulator.callbacks import loopback_host
from kbatch.sounds import SoundInput
from tests import shared

TESTS = Path(__file__).parent
EXAMPLES = TESTS / "manifests"
IMAGES = EXAMPLES / "images"
REPO = TESTS.parent

HEADER = "version: 1\nname: t\nprovider: simulator\n"


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write files under a temporary folder: ``write("m.yaml", text)`` returns the path."""

    def _write(name: str, text: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def ok_png(tmp_path: Path) -> Path:
    """A 400x300 PNG that Kling accepts, in the temporary folder."""
    target = tmp_path / "ok.png"
    target.write_bytes((IMAGES / "ok.png").read_bytes())
    return target


def _is_loopback(host: object) -> bool:
    return host in ("", None) or loopback_host(str(host))  # "": the socket API's own host


@pytest.fixture(autouse=True)
def own_check_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Remembered image checks (kbatch.checked) go to a folder of the test's own, for the
    test and for every kbatch it starts: never the user's cache, never another test's."""
    monkeypatch.setenv("KBATCH_CACHE_DIR", str(tmp_path_factory.mktemp("check-cache")))


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach beyond 127.0.0.1: a real provider host is refused before any packet."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise OSError(f"tests may only reach loopback, not {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise OSError(f"tests may only reach loopback, not {address[0]!r}")
        real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def pg_state() -> Iterator[str]:
    """A PostgreSQL state of its own (a fresh schema on the test server): its URL."""
    with shared.schema(shared.server()) as url:
        yield url


def pytest_collection_finish(session: pytest.Session) -> None:
    """A session that runs mypy starts it now, in the background (tests/test_code_quality.py)."""
    if any(
        item.nodeid.endswith("test_code_quality.py::test_tool_is_clean[mypy]")
        for item in session.items
    ):
        from tests import test_code_quality

        test_code_quality.start("mypy")


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests import test_code_quality

    test_code_quality.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that asks for ``backend`` runs on both state backends, unless marked
    ``sqlite_only`` (it reaches into the state file itself); one that also asks for ``api``
    runs its video jobs on Kling's new API too (``tests.project.on``)."""
    if "backend" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("sqlite_only") is not None
        backends = ["sqlite"] if only else ["sqlite", "postgres"]
        if "api" not in metafunc.fixturenames:
            metafunc.parametrize("backend", backends, indirect=True)  # through the fixture below
            return
        # The API a test's video jobs go to is another axis, independent of the state's: Kling's
        # new API runs on the state file only.
        cases = [(backend, "legacy") for backend in backends] + [("sqlite", "new")]
        ids = [f"{backend}-{api}" for backend, api in cases]
        metafunc.parametrize(("backend", "api"), cases, indirect=["backend"], ids=ids)


@pytest.fixture
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The state backend of this run of the test: with "postgres", ``KBATCH_STATE`` names a
    fresh shared state, which Project runs and ``kbatch run`` children use."""
    if request.param == "sqlite":
        monkeypatch.delenv("KBATCH_STATE", raising=False)
        yield "sqlite"
        return
    with shared.schema(shared.server()) as url:
        monkeypatch.setenv("KBATCH_STATE", url)
        yield "postgres"


@pytest.fixture
def clock() -> ManualClock:
    """The simulator's time, moved by hand: ``clock.advance(10)``."""
    return ManualClock()


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[Simulator]:
    """A simulator on a loopback port whose tasks take 10 s of the manual clock."""
    async with running(SimulatorConfig(task_seconds=10, clock=clock)) as simulator:
        yield simulator


@pytest.fixture
async def live() -> AsyncIterator[Simulator]:
    """A simulator whose tasks take 50 ms of real time."""
    async with running(SimulatorConfig(task_seconds=0.05, seed=1)) as simulator:
        yield simulator


@contextmanager
def in_a_thread(config: SimulatorConfig) -> Iterator[Simulator]:
    """A simulator on its own event loop in a thread, so the CLI can run its own loop here."""
    simulator = Simulator(config)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(simulator.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(simulator.close())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait()
    try:
        yield simulator
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()


@pytest.fixture
def threaded() -> Iterator[Simulator]:
    """A simulator in a thread (:func:`in_a_thread`), its tasks taking 50 ms."""
    with in_a_thread(SimulatorConfig(task_seconds=0.05)) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[Client]:
    """A client for the official API, pointed at ``sim``, with a static key."""
    async with Client(PROVIDERS[ProviderName.KLING], auth=BearerKey(KEY), base_url=sim.url) as c:
        yield c


KEY = "test-key-0123456789"


def image(name: str = "ok.png") -> ImageInput:
    """An image from tests/manifests/images, as a job's request holds it."""
    return ImageInput(ImageSource.FILE, str(IMAGES / name))


#: A video the simulator serves (``<sim.url>/samples/dance.mp4``, 5 s), as a manifest names it.
SAMPLE = "simulator:samples/dance.mp4"


def sound(name: str = "speech.mp3") -> SoundInput:
    """A sound from tests/manifests/sounds (speech.mp3: 3 s), as a job's request holds it."""
    return SoundInput(ImageSource.FILE, str(EXAMPLES / "sounds" / name), 3.0)


#: A small valid request of each kind, with wire types.
def request_of(kind: JobKind, **fields: Any) -> dict[str, Any]:
    base: dict[JobKind, dict[str, Any]] = {
        JobKind.IMAGE_EXPAND: {
            "image": image(),
            "up_expansion_ratio": 0.25,
            "down_expansion_ratio": 0.25,
            "left_expansion_ratio": 0.25,
            "right_expansion_ratio": 0.25,
        },
        JobKind.MULTI_IMAGE2IMAGE: {
            "subject_image_list": [{"subject_image": image()}, {"subject_image": image("ok.jpg")}],
            "aspect_ratio": "1:1",
        },
        JobKind.IMAGE2VIDEO: {"image": image(), "duration": "5"},
        JobKind.TEXT2VIDEO: {"prompt": "a fox runs through snow", "duration": "5"},
        JobKind.TEXT2IMAGE: {"prompt": "a red fox", "aspect_ratio": "1:1"},
        JobKind.OMNI_IMAGE: {"prompt": "a red fox", "image_list": [{"image": image()}]},
        JobKind.VIDEO_EFFECTS: {"effect_scene": "pet_lion_pro", "image": image()},
        # slice audio (a test serving the sample puts its URL in place of SAMPLE)
        JobKind.TTS: {"text": "Hello there", "voice_id": "oversea_male1", "voice_language": "en"},
        JobKind.TEXT2AUDIO: {"prompt": "rain on a tin roof", "duration": 3.5},
        JobKind.VIDEO2AUDIO: {"video_url": SAMPLE, "sound_effect_prompt": "footsteps"},
        # slice faces (issue 31): a local sound sent as base64; lip-sync's create names the
        # session of its identify-face call ("{session}": tests/provider/test_client.py makes one)
        JobKind.AVATAR: {"image": image(), "sound_file": sound()},
        JobKind.LIP_SYNC: {
            "session_id": "{session}",
            "face_choose": [
                {"face_id": "0", "sound_file": sound()}
                | {"sound_start_time": 0, "sound_end_time": 3000, "sound_insert_time": 0}
            ],
        },
        # slice records (issue 31); a voice's video_id is a made video's (tests fill it in)
        JobKind.ELEMENT: {
            "element_name": "Hero",
            "element_description": "a knight in silver armour",
            "reference_type": "image_refer",
            "element_image_list": {
                "frontal_image": image(),
                "refer_images": [{"image_url": image("ok.jpg")}],
            },
        },
        JobKind.VOICE: {"voice_name": "Narrator", "video_id": SPEAKING_VIDEO},
        JobKind.SUBJECT_COMPLETION: {"element_frontal_image": image()},
    }
    return {**base[kind], **fields}


#: slice records: where a voice's request names the made video it is taken from.
SPEAKING_VIDEO = "<a kling-v2-6 video with sound>"
#: slice records: a request of image2video whose video a voice may be made from.
SPEAKING = {"model_name": "kling-v2-6", "mode": "pro", "sound": "on", "prompt": "hello"}
