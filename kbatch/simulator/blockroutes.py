"""The building blocks' routes, under each of the simulator's prefixes (``/v1``, ``/kling/v1``):

- a create per block (:data:`~kbatch.simulator.blocks.BLOCKS`), its query by task id or external
  id and its list (``pageNum``, ``pageSize``); TTS and face identification answer at once, with
  no task to query;
- ``general/presets-voices`` and ``general/advanced-presets-elements``;
- ``general/delete-voices``, and ``general/delete-advanced-elements`` with its other spelling
  ``general/delete-elements`` (the video pages and the image pages disagree: both are served);
- ``/media/blocks/<task_id>/<name>``: the files, without authentication, as a CDN serves them.

Every request goes through the simulator's :meth:`~kbatch.simulator.server.Simulator.serve`, so
every fault kind, the credentials and the request log apply as on the other routes.
"""

from __future__ import annotations

import io
import math
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from aiohttp import web
from PIL import Image

from kbatch.provider.catalogue import JobKind, PackType
from kbatch.provider.wire import TaskStatus
from kbatch.simulator import audio, blockrules, lipsync, media
from kbatch.simulator.answers import (
    Refused,
    created,
    envelope,
    envelope_error,
    html_page,
    origin,
    ranged,
    truncated,
)
from kbatch.simulator.blocks import BLOCKS, UNSAFE, Block, BlockTask, texts
from kbatch.simulator.callbacks import CallbackSender
from kbatch.simulator.config import SimulatorConfig
from kbatch.simulator.faults import Fault, Injected, Op
from kbatch.simulator.made import PRESET_ELEMENTS, PRESET_VOICES, BlockStore
from kbatch.simulator.tasks import TaskStore

Act = Callable[[Injected | None], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CHECKS: Mapping[Block, blockrules.Check] = {
    Block.ELEMENT: blockrules.element,
    Block.VOICE: blockrules.voice,
    Block.TTS: blockrules.tts,
    Block.TEXT2AUDIO: blockrules.text2audio,
    Block.VIDEO2AUDIO: blockrules.video2audio,
    Block.AVATAR: lipsync.avatar,
    Block.FACE: lipsync.identify_face,
    Block.LIP_SYNC: lipsync.lip_sync,
    Block.SUBJECT: blockrules.subject,
}
#: The longest video the simulator encodes (a longer one is served cut to this).
MAX_RENDERED_SECONDS = 20


class Host(Protocol):
    """What the routes need of the simulator (:class:`kbatch.simulator.server.Simulator`)."""

    config: SimulatorConfig
    store: TaskStore
    callbacks: CallbackSender
    creates: Counter[str]
    requests: Counter[str]

    async def serve(
        self, request: web.Request, op: Op, kind: JobKind | None, act: Act, *, api: bool = True
    ) -> web.StreamResponse: ...


class BlockApi:
    """The building blocks' handlers over one simulator."""

    def __init__(self, host: Host) -> None:
        self.host = host
        tasks_file = host.config.tasks_file
        self.made = BlockStore(host.store, tasks_file and tasks_file.with_suffix(".blocks.jsonl"))
        self._media: OrderedDict[tuple[str, str], tuple[bytes, str]] = OrderedDict()

    def install(self, app: web.Application) -> None:
        for prefix in self.host.config.prefixes:
            for block, served in BLOCKS.items():
                base = f"{prefix}/{served.route}"
                app.router.add_post(base, self._handler(f"POST {base}", Op.CREATE, block))
                if not served.sync:
                    app.router.add_get(base, self._handler(f"GET {base}", Op.LIST, block))
                    label = f"GET {base}/{{id}}"
                    app.router.add_get(base + "/{task_id}", self._handler(label, Op.GET, block))
            general = f"{prefix}/general"
            for name, answer in self._extras().items():
                method, _, path = name.partition(" ")
                route, op = f"{general}/{path}", Op.LIST if method == "GET" else Op.CREATE
                app.router.add_route(method, route, self._handler(f"{method} {route}", op, answer))
        app.router.add_get("/media/blocks/{task_id}/{name}", self._media_route)

    def close(self) -> None:
        self.made.close()

    def _extras(self) -> dict[str, Callable[[web.Request], Awaitable[web.Response]]]:
        return {
            "GET presets-voices": self._preset_voices,
            "GET advanced-presets-elements": self._preset_elements,
            "POST delete-voices": self._delete_voice,
            "POST delete-advanced-elements": self._delete_element,
            "POST delete-elements": self._delete_element,
        }

    def _handler(
        self, label: str, op: Op, what: Block | Callable[[web.Request], Awaitable[web.Response]]
    ) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.host.requests[label] += 1

            async def act(fault: Injected | None) -> web.StreamResponse:
                if not isinstance(what, Block):
                    return await what(request)
                if op is Op.CREATE:
                    return await self._create(request, what)
                if op is Op.GET:
                    return self._get(request, what)
                return self._list(request, what)

            return await self.host.serve(request, op, None, act)

        return handle

    # -- tasks ---------------------------------------------------------------------------------

    async def _create(self, request: web.Request, block: Block) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return envelope_error(1200, "Invalid request parameters: the body is not JSON")
        strict = self.host.config.strict
        try:
            body = blockrules.cleaned(str(block), body, strict=strict)
            checked = await CHECKS[block](body, self.made, strict)
        except Refused as refused:
            return envelope_error(refused.code, refused.message)
        if UNSAFE in texts(checked.fields):
            return envelope_error(1301)
        external = checked.fields.get("external_task_id")
        holder = self.made.taken(external) if external else None
        if holder is not None:
            message = f"Invalid parameter external_task_id: already used by task {holder}"
            return envelope_error(1201, message)
        pack = PackType(BLOCKS[block].pack)
        store = self.host.store
        if not BLOCKS[block].sync and store.slots_in_use(pack) >= store.parallel_limit:
            return envelope_error(1303, "parallel task over resource pack limit")
        task = self.made.add(block, checked.fields, length=checked.length)
        task.made.update(checked.made)
        self.made.keep(task)
        self.made.journal(task)  # on file before the answer, as at Kling
        if external:
            self.host.creates[external] += 1
        now, base = self.host.store.clock(), origin(request)
        if block is Block.TTS:
            shown = task.to_json(now, base)
            shown.pop("task_info")
            return envelope(shown)
        if block is Block.FACE:
            return envelope(self._faces(task, base))
        self.host.callbacks.follow(task)
        return created(task.task_id, external, task.started_ms)

    def _faces(self, task: BlockTask, base: str) -> dict[str, Any]:
        faces = [
            face | {"face_image": task.url(base, f"face{index}.png")}
            for index, face in enumerate(task.made["faces"])
        ]
        data: dict[str, Any] = {"session_id": task.task_id, "face_data": faces}
        if task.charged:
            data["final_unit_deduction"] = task.units()
        return data

    def _get(self, request: web.Request, block: Block) -> web.Response:
        key = request.match_info["task_id"]
        task = self.made.find(block, key)
        if task is None:
            return envelope_error(1203, f"Requested resource does not exist: task {key}")
        return envelope(task.to_json(self.host.store.clock(), origin(request)))

    def _list(self, request: web.Request, block: Block) -> web.Response:
        numbers = _page(request, BLOCKS[block].page_size)
        if isinstance(numbers, web.Response):
            return numbers
        now, base = self.host.store.clock(), origin(request)
        return envelope([task.to_json(now, base) for task in self.made.page(block, *numbers)])

    # -- presets and deletions -----------------------------------------------------------------

    async def _preset_voices(self, request: web.Request) -> web.Response:
        numbers = _page(request, 1000)
        if isinstance(numbers, web.Response):
            return numbers
        base = origin(request)
        items = [
            _preset(f"preset-voice-{voice_id}", {"voices": [voice]})
            for voice_id, name, language in PRESET_VOICES
            for voice in [
                {"voice_id": voice_id, "voice_name": name, "trial_url": _trial(base, voice_id)}
                | {"owned_by": "kling", "voice_language": language}
            ]
        ]
        return envelope(_slice(items, *numbers))

    async def _preset_elements(self, request: web.Request) -> web.Response:
        numbers = _page(request, 500)
        if isinstance(numbers, web.Response):
            return numbers
        items = []
        for element_id, name, description in PRESET_ELEMENTS:
            element = {"element_id": element_id, "element_name": name}
            element |= {"element_description": description, "reference_type": "image_refer"}
            element |= {"element_image_list": {}, "element_video_list": {}}
            element |= {"element_voice_info": {}, "tag_list": [{"tag_id": "o_102"}]}
            element |= {"owned_by": "kling", "status": "succeed"}
            items.append(_preset(f"preset-element-{element_id}", {"elements": [element]}))
        return envelope(_slice(items, *numbers))

    async def _delete_voice(self, request: web.Request) -> web.Response:
        body = await _body(request)
        voice_id = body.get("voice_id") if isinstance(body, dict) else None
        task = self.made.voices.get(str(voice_id))
        if task is None or task.block is not Block.VOICE or task.deleted:
            message = f"Invalid parameter voice_id: no custom voice {voice_id}"
            return envelope_error(1201, message + " (only custom voices can be deleted)")
        return self._deleted(task)

    async def _delete_element(self, request: web.Request) -> web.Response:
        body = await _body(request)
        given = body.get("element_id") if isinstance(body, dict) else None
        text = str(given) if isinstance(given, str | int) and not isinstance(given, bool) else ""
        try:
            task = self.made.element(int(text)) if text.isdigit() else None
        except Refused as refused:
            return envelope_error(refused.code, refused.message)
        if task is None or task.deleted:
            message = f"Invalid parameter element_id: no custom element {given}"
            return envelope_error(1201, message + " (only custom elements can be deleted)")
        return self._deleted(task)

    def _deleted(self, task: BlockTask) -> web.Response:
        task.deleted = True
        self.made.journal(task)
        return envelope({"task_id": task.task_id, "task_status": "succeed"})

    # -- files ---------------------------------------------------------------------------------

    async def _media_route(self, request: web.Request) -> web.StreamResponse:
        task_id, name = request.match_info["task_id"], request.match_info["name"]
        self.host.requests["GET /media/blocks/{id}/{name}"] += 1
        task = self.made.tasks.get(task_id)

        async def act(fault: Injected | None) -> web.StreamResponse:
            now = self.host.store.clock()
            preset = task_id.removeprefix(PRESET) in {voice[0] for voice in PRESET_VOICES}
            if preset and name == "trial.mp3":
                data, content_type = audio.mp3(3.0), "audio/mpeg"
            elif task is None or not _serves(task, name, now):
                return html_page(404)
            else:
                data, content_type = self._render(task, name)
            if fault is Fault.TRUNCATE:
                return await truncated(request, data, content_type)
            return ranged(request, data, content_type)

        return await self.host.serve(request, Op.DOWNLOAD, None, act, api=False)

    def _render(self, task: BlockTask, name: str) -> tuple[bytes, str]:
        key = (task.task_id, name)
        if key not in self._media:
            self._media[key] = render(task, name, videos=self.host.config.videos)
            if len(self._media) > 32:
                self._media.popitem(last=False)
        return self._media[key]


def render(task: BlockTask, name: str, *, videos: bool = True) -> tuple[bytes, str]:
    """A file of a finished block task: its sound, its video, a view or a face."""
    seconds = task.length or 3.0
    if name.endswith(".mp3"):
        return audio.mp3(3.0 if name == "trial.mp3" else seconds), "audio/mpeg"
    if name.endswith(".wav"):
        return audio.wav(seconds), "audio/wav"
    if name.endswith(".mp4"):
        if not videos or media.av is None:
            return media.fallback_video(), "video/mp4"
        whole = max(1, min(MAX_RENDERED_SECONDS, math.ceil(seconds)))
        picture = Image.linear_gradient("L").resize((640, 360)).convert("RGB")
        return media.video(picture, whole), "video/mp4"
    side = 128 if name.startswith("face") else 768
    view = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    view = view.rotate(90 * int(name[-5]) if name[-5].isdigit() else 0)
    out = io.BytesIO()
    view.save(out, "PNG", compress_level=1)
    return out.getvalue(), "image/png"


def _serves(task: BlockTask, name: str, now: float) -> bool:
    return task.status(now) is TaskStatus.SUCCEED and name in task.media_names()


def _trial(base: str, voice_id: str) -> str:
    return f"{base}/media/blocks/{PRESET}{voice_id}/trial.mp3"


PRESET = "preset-"  # the task id part of a preset voice's trial file


def _preset(task_id: str, result: dict[str, Any]) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "task_status": "succeed",
        "task_status_msg": "",
        "created_at": 1722769557708,
        "updated_at": 1722769557708,
        "task_result": result,
    }


def _slice(items: list[dict[str, Any]], number: int, size: int) -> list[dict[str, Any]]:
    return items[(number - 1) * size : number * size]


def _page(request: web.Request, most: int) -> tuple[int, int] | web.Response:
    numbers = []
    for name, high in (("pageNum", 1000), ("pageSize", most)):
        text = request.query.get(name, "1" if name == "pageNum" else "30")
        if not text.isdigit() or not 1 <= int(text) <= high:
            return envelope_error(1201, f"Invalid parameter {name}: 1 to {high}")
        numbers.append(int(text))
    return numbers[0], numbers[1]


async def _body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


__all__ = ["CHECKS", "BlockApi", "render"]
