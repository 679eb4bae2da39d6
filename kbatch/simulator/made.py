"""What the building blocks make and take, and how the simulator finds it again: block tasks by
task id or external id, and the ids they make (videos, TTS audio, voices, elements, face
sessions), each refused as Kling refuses it when the simulator never made it, when it is gone
(deleted, failed, not finished) or older than 30 days on the simulator's clock. Videos of the
other kinds (image2video, text2video, effects, the new API's) are found in the
:class:`~kbatch.simulator.tasks.TaskStore`.

Block tasks are kept in a journal of their own beside the other tasks' (``*.blocks.jsonl``),
so that a simulator started again knows them, as Kling would.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NoReturn

from kbatch.provider.catalogue import PACK, PackType
from kbatch.provider.wire import TaskStatus
from kbatch.simulator.answers import Refused
from kbatch.simulator.blocks import (
    BLOCKS,
    FAIL,
    OWNER,
    RETENTION_SECONDS,
    Block,
    BlockTask,
    texts,
)
from kbatch.simulator.tasks import SimTask, TaskStore

#: Kling's preset voices as the simulator lists them (``GET /v1/general/presets-voices``): the
#: TTS page's example voice first. Kling's own list is in its voice guide, not on the pages.
PRESET_VOICES: tuple[tuple[str, str, str], ...] = (
    ("oversea_male1", "Oversea Male 1", "en"),
    ("oversea_female1", "Oversea Female 1", "en"),
    ("genshin_vindi2", "Sunny Boy", "zh"),
    ("zhinen_xuesheng", "Student", "zh"),
)
#: Preset elements (``GET /v1/general/advanced-presets-elements``): id, name, description.
PRESET_ELEMENTS: tuple[tuple[int, str, str], ...] = (
    (829836802793406551, "Explorer", "A young explorer in a red jacket"),
    (829836802793406552, "Robot", "A small white service robot"),
    (829836802793406553, "Cat", "A ginger cat"),
)
VIDEO_BLOCKS = frozenset({Block.AVATAR, Block.LIP_SYNC, Block.VIDEO2AUDIO})


def refuse(name: str, message: str) -> NoReturn:
    raise Refused(1201, f"Invalid parameter {name}: {message}")


class BlockStore:
    """Every block task the simulator made, and the ids they made."""

    def __init__(self, store: TaskStore, journal: Path | None = None) -> None:
        self.store = store
        self.tasks: dict[str, BlockTask] = {}
        self.by_external: dict[str, str] = {}
        self.voices: dict[str, BlockTask] = {}  # custom voice id -> the task that made it
        self.elements: dict[int, BlockTask] = {}
        self._active: dict[str, BlockTask] = {}  # tasks that may still hold a slot
        self._ids = itertools.count(1 + secrets.randbelow(10**14) * 1000)
        self._journal = journal
        self._file: IO[str] | None = None
        if journal is not None and journal.exists():
            self._load(journal)
        store.held_elsewhere = self.slots

    # -- tasks -----------------------------------------------------------------------------

    def add(self, block: Block, fields: dict[str, Any], *, length: float = 0.0) -> BlockTask:
        """A new task of ``block`` (a sync one is finished when made)."""
        now = self.store.clock()
        fail = f"The task failed as asked ({FAIL})" if FAIL in texts(fields) else None
        sync = BLOCKS[block].sync
        external = None if sync else fields.get("external_task_id") or None
        task = BlockTask(
            task_id=f"{870000000000000000 + next(self._ids)}",
            block=block,
            fields=fields,
            external_task_id=external,
            started=now,
            started_ms=self.store.wall_ms(),
            seconds=0.0 if sync else self.store.draw_seconds(),
            fail_message=None if sync else fail,
            callback_url=None if sync else fields.get("callback_url") or None,
            length=length,
            charged=self.store.charges,
        )
        self.keep(task)
        return task

    def keep(self, task: BlockTask) -> None:
        """File a task (new, or read back) under its ids."""
        self.tasks[task.task_id] = task
        if not task.status(self.store.clock()).finished:
            self._active[task.task_id] = task
        if task.external_task_id:
            self.by_external[task.external_task_id] = task.task_id
            self.store.by_external.setdefault(task.external_task_id, task.task_id)
        if task.block is Block.VOICE:
            task.made.setdefault("voice_id", task.task_id)
            self.voices[str(task.made["voice_id"])] = task
        if task.block is Block.ELEMENT:
            task.made.setdefault("element_id", int(task.task_id))
            self.elements[int(task.made["element_id"])] = task
            bound = task.fields.get("element_voice_id")
            if bound and "voice" not in task.made:
                task.made["voice"] = {"voice_id": bound, "voice_name": "", "owned_by": OWNER}
            elif task.fields.get("reference_type") == "video_refer" and "voice" not in task.made:
                # the speech of a video element is made a voice and bound to it
                name = task.fields.get("element_name", "")
                voice_id = f"{task.task_id}9"
                task.made["voice"] = {"voice_id": voice_id, "voice_name": name, "owned_by": OWNER}
                task.made["auto_voice"] = True
            if task.made.get("auto_voice"):
                self.voices[str(task.made["voice"]["voice_id"])] = task

    def slots(self, pack: PackType) -> int:
        """Slots of ``pack`` the unfinished block tasks hold: one each (answers given at once
        hold none), from submitted until they end, failures included."""
        now = self.store.clock()
        active = [task for task in self._active.values() if not task.status(now).finished]
        self._active = {task.task_id: task for task in active}
        return sum(1 for task in active if BLOCKS[task.block].pack == pack.value)

    def taken(self, external: str) -> str | None:
        """The task that holds an external id, on any route of the account."""
        return self.by_external.get(external) or self.store.by_external.get(external)

    def find(self, block: Block, key: str) -> BlockTask | None:
        """A task of ``block`` by task id or external id."""
        task = self.tasks.get(key) or self.tasks.get(self.by_external.get(key, ""))
        return task if task is not None and task.block is block else None

    def page(self, block: Block, number: int, size: int) -> list[BlockTask]:
        newest = (task for task in reversed(self.tasks.values()) if task.block is block)
        return list(itertools.islice(newest, (number - 1) * size, number * size))

    # -- the ids tasks make --------------------------------------------------------------------

    def _fresh(self, task: BlockTask | SimTask, name: str, key: str) -> None:
        now = self.store.clock()
        if task.status(now) is not TaskStatus.SUCCEED:
            refuse(name, f"{key} is not a finished, successful result")
        if now - (task.started + task.seconds) > RETENTION_SECONDS:
            refuse(name, f"{key} is older than 30 days: results are kept 30 days")

    def video(self, video_id: str, name: str) -> tuple[float, str, BlockTask | SimTask]:
        """A video Kling made, by its id: (its seconds, what made it, the task)."""
        task_id = video_id.removesuffix("-v0")
        block = self.tasks.get(task_id)
        if block is not None and block.block in VIDEO_BLOCKS and video_id == block.video_id:
            self._fresh(block, name, video_id)
            return block.length, str(block.block), block
        sim = self.store.tasks.get(task_id)
        if sim is None or PACK[sim.kind] is not PackType.VIDEO or video_id != f"{task_id}-v0":
            refuse(name, f"no video {video_id} was generated by this account")
        self._fresh(sim, name, video_id)
        fields = sim.request.fields
        sound = fields.get("sound") == "on" or fields.get("audio") == "native"
        is_26 = fields.get("model_name") == "kling-v2-6" or sim.path == "image-to-video/kling-2.6"
        is_26 = is_26 or sim.path == "text-to-video/kling-2.6"
        made = "kling-v2-6 with sound" if is_26 and sound else str(sim.kind)
        return float(str(fields.get("duration", "5"))), made, sim

    def audio(self, audio_id: str, name: str) -> float:
        """A TTS audio's seconds, by its id (the pages take TTS audio ids only)."""
        task = self.tasks.get(audio_id.removesuffix("-a0"))
        if task is None or task.block is not Block.TTS or audio_id != task.audio_id:
            refuse(name, f"no audio {audio_id} was generated by the TTS API of this account")
        self._fresh(task, name, audio_id)
        return task.length

    def voice(self, voice_id: str, name: str) -> None:
        """A voice that can be used: a preset, or a custom voice made and not deleted."""
        if any(voice_id == preset[0] for preset in PRESET_VOICES):
            return
        task = self.voices.get(voice_id)
        if task is None:
            refuse(name, f"unknown voice {voice_id}")
        if task.deleted and task.block is Block.VOICE:
            refuse(name, f"the voice {voice_id} was deleted")
        self._fresh(task, name, voice_id)

    def element(self, element_id: int) -> BlockTask:
        task = self.elements.get(element_id)
        if task is None or task.status(self.store.clock()) is not TaskStatus.SUCCEED:
            refuse("element_id", f"no custom element {element_id}; only custom elements")
        return task

    def session(self, session_id: str) -> BlockTask:
        task = self.tasks.get(session_id)
        if task is None or task.block is not Block.FACE:
            refuse("session_id", f"unknown session {session_id}: identify the faces first")
        self._fresh(task, "session_id", f"session {session_id}")
        return task

    # -- the journal ---------------------------------------------------------------------------

    def journal(self, task: BlockTask) -> None:
        """Write a task (again, when it changed: a deletion) before it is answered."""
        if self._journal is None:
            return
        if self._file is None:
            self._journal.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._journal.open("a", encoding="utf-8")
        record = {name: getattr(task, name) for name in _KEPT}
        self._file.write(json.dumps(record | {"block": task.block.value}) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _load(self, path: Path) -> None:
        offset = time.time() - self.store.clock()
        for record in _records(path):
            fields = {name: record[name] for name in _KEPT if name in record}
            task = BlockTask(block=Block(record["block"]), **fields)
            task.started = task.started_ms / 1000 - offset
            self.keep(task)


_KEPT: tuple[str, ...] = ("task_id", "fields", "external_task_id", "started", "started_ms")
_KEPT += ("seconds",)
_KEPT += ("fail_message", "callback_url", "length", "charged", "made", "deleted")


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                yield json.loads(line)
            except ValueError:
                continue  # cut short by a crash: that create was never answered


__all__ = ["PRESET_ELEMENTS", "PRESET_VOICES", "BlockStore", "refuse"]
