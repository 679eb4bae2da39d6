"""Kling's building blocks in the simulator: elements, voices, speech, sound, avatar, face
identification, lip-sync and subject views (KLING_API.md section 11, written from the vendor's
pages: ``kling-omni-3.0-element-mgt.md``, ``kling-2.6-voice-mgt.md``, ``kling-text-to-speech.md``,
``kling-text-to-audio.md``, ``kling-video-to-audio.md``, ``kling-avatar.md``,
``kling-face-recog.md``, ``kling-lip-sync.md``, ``kling-image-common-subject-completion.md`` and
the two pricing pages).

This module holds what a block task is (:class:`BlockTask`: its life, its task object as the old
routes show it, its files, its price) and where each block is served (:data:`BLOCKS`). The
checks are :mod:`blockrules`, the things tasks make and their lookups :mod:`made`, the routes
:mod:`blockroutes`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kbatch.provider.wire import TaskStatus
from kbatch.simulator.prices import amount


class Block(enum.StrEnum):
    """A building block, by the name kbatch will give its kind."""

    ELEMENT = "element"
    VOICE = "voice"
    TTS = "tts"
    TEXT2AUDIO = "text2audio"
    VIDEO2AUDIO = "video2audio"
    AVATAR = "avatar"
    FACE = "identify_face"  # lip-sync's first step: answered at once, no task
    LIP_SYNC = "lip_sync"
    SUBJECT = "subject_completion"


@dataclass(frozen=True, slots=True)
class Served:
    """Where a block is served under a prefix, and how."""

    route: str
    sync: bool = False  # answered at once: no task to query, no external id
    page_size: int = 500  # most a list page holds (voices: 1000)
    pack: str = "video"  # the resource pack it draws from (pricing pages)


BLOCKS: Mapping[Block, Served] = {
    Block.ELEMENT: Served("general/advanced-custom-elements"),
    Block.VOICE: Served("general/custom-voices", page_size=1000),
    Block.TTS: Served("audio/tts", sync=True),
    Block.TEXT2AUDIO: Served("audio/text-to-audio"),
    Block.VIDEO2AUDIO: Served("audio/video-to-audio"),
    Block.AVATAR: Served("videos/avatar/image2video"),
    Block.FACE: Served("videos/identify-face", sync=True),
    Block.LIP_SYNC: Served("videos/advanced-lip-sync"),
    Block.SUBJECT: Served("general/ai-multi-shot", pack="image"),
}

#: Units a call, by block (kling-pricing-video.md: TTS, face recognition, text to audio, video
#: to audio, custom voice; kling-pricing-image.md: AI Multi-Shot). An element's price is stated
#: nowhere: the simulator charges 0 for it.
UNITS_PER_CALL: Mapping[Block, float] = {
    Block.ELEMENT: 0.0,
    Block.VOICE: 0.05,
    Block.TTS: 0.05,
    Block.TEXT2AUDIO: 0.25,
    Block.VIDEO2AUDIO: 0.25,
    Block.FACE: 0.05,
    Block.SUBJECT: 20.0,
}
#: Avatar: units a second of the video made, std billed as 720p, pro as 1080p.
AVATAR_PER_SECOND: Mapping[str, float] = {"std": 0.4, "pro": 0.8}
#: Lip-sync: units per 5 s of the video made (each started 5 s counts).
LIP_SYNC_PER_5S = 0.5
#: Made files and ids live this long at Kling; older ones are refused as inputs.
RETENTION_SECONDS = 30 * 24 * 3600.0

FAIL = "sim:fail"  # in any text field: the task fails
UNSAFE = "sim:unsafe"  # in any text field: refused with 1301
TEXT_FIELDS: tuple[str, ...] = ("prompt", "text", "element_name", "element_description")
TEXT_FIELDS += ("voice_name", "sound_effect_prompt", "bgm_prompt")


def texts(fields: Mapping[str, Any]) -> str:
    """The request's words, where the simulator looks for its markers."""
    return " ".join(str(fields.get(name, "")) for name in TEXT_FIELDS)


@dataclass
class BlockTask:
    """A task of a block, as the simulator keeps it. ``seconds`` is how long it runs;
    ``length`` the seconds of the audio or video it makes (0: none)."""

    task_id: str
    block: Block
    fields: dict[str, Any]
    external_task_id: str | None
    started: float  # clock seconds
    started_ms: int
    seconds: float
    fail_message: str | None = None
    callback_url: str | None = None
    length: float = 0.0
    charged: bool = True
    #: What the task was made from: ``parent_video`` (id, url, duration) for video2audio and
    #: lip-sync, the element's or voice's record, a face session's faces.
    made: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False  # an element or voice removed by its delete route

    path: None = None  # not a task of the new path-addressed API (callbacks read this)

    def status(self, now: float) -> TaskStatus:
        age = now - self.started
        if age >= self.seconds:
            return TaskStatus.FAILED if self.fail_message else TaskStatus.SUCCEED
        return TaskStatus.SUBMITTED if age < self.seconds / 4 else TaskStatus.PROCESSING

    def units(self) -> str:
        """``final_unit_deduction``: the pricing pages' price; nothing for a failed task."""
        if self.fail_message:
            return "0"
        if self.block is Block.AVATAR:
            rate = AVATAR_PER_SECOND.get(str(self.fields.get("mode", "std")), 0.4)
            return amount(rate * math.ceil(self.length))
        if self.block is Block.LIP_SYNC:
            return amount(LIP_SYNC_PER_5S * max(1, math.ceil(self.length / 5 - 1e-9)))
        return amount(UNITS_PER_CALL[self.block])

    @property
    def watermarked(self) -> bool:
        info = self.fields.get("watermark_info")
        return isinstance(info, dict) and info.get("enabled") is True

    def media_names(self) -> list[str]:
        """The files a finished task serves at ``/media/blocks/<task_id>/<name>``."""
        names = {
            Block.TTS: ["0.mp3"],
            Block.TEXT2AUDIO: ["0.mp3", "0.wav"],
            Block.VIDEO2AUDIO: ["0.mp4", "0.mp3", "0.wav"],
            Block.AVATAR: ["0.mp4"],
            Block.LIP_SYNC: ["0.mp4"],
            Block.SUBJECT: ["1.png", "2.png", "3.png"],
            Block.VOICE: ["trial.mp3"],
            Block.FACE: [f"face{index}.png" for index in range(len(self.made.get("faces", [])))],
        }.get(self.block, [])
        if self.watermarked and "0.mp4" in names:
            names.append("0.watermark.mp4")
        if self.block is Block.ELEMENT and self.made.get("voice"):
            names.append("trial.mp3")
        return names

    def url(self, base_url: str, name: str) -> str:
        return f"{base_url}/media/blocks/{self.task_id}/{name}"

    def to_json(self, now: float, base_url: str) -> dict[str, Any]:
        """The task object of a query, a list and a callback (the old routes' shape)."""
        status = self.status(now)
        elapsed = max(min(now - self.started, self.seconds), 0)
        info: dict[str, Any] = {}
        if self.external_task_id:
            info["external_task_id"] = self.external_task_id
        if "parent_video" in self.made:
            info["parent_video"] = self.made["parent_video"]
        out: dict[str, Any] = {
            "task_id": self.task_id,
            "task_status": status.value,
            "task_status_msg": (self.fail_message or "") if status is TaskStatus.FAILED else "",
            "task_info": info,
            "task_result": self.result(base_url) if status is TaskStatus.SUCCEED else {},
            "created_at": self.started_ms,
            "updated_at": self.started_ms + int(elapsed * 1000),
        }
        if self.block in (Block.AVATAR, Block.LIP_SYNC):
            out["watermark_info"] = {"enabled": self.watermarked}
        if status.finished and self.charged:
            out["final_unit_deduction"] = self.units()
        return out

    def result(self, base: str) -> dict[str, Any]:
        """``task_result`` of a task that succeeded."""
        seconds = f"{self.length:g}"
        if self.block is Block.TTS:
            return {"audios": [{"id": self.audio_id, "url": self.url(base, "0.mp3")} | _d(self)]}
        if self.block in (Block.TEXT2AUDIO, Block.VIDEO2AUDIO):
            sound = {"id": self.audio_id, "url_mp3": self.url(base, "0.mp3")}
            sound |= {"url_wav": self.url(base, "0.wav")}
            sound |= {"duration_mp3": seconds, "duration_wav": seconds}
            if self.block is Block.TEXT2AUDIO:
                return {"audios": [sound]}
            video = {"id": self.video_id, "url": self.url(base, "0.mp4"), "duration": seconds}
            return {"videos": [video], "audios": [sound]}
        if self.block in (Block.AVATAR, Block.LIP_SYNC):
            video = {"id": self.video_id, "url": self.url(base, "0.mp4")}
            marked = self.url(base, "0.watermark.mp4") if self.watermarked else ""
            return {"videos": [video | {"watermark_url": marked, "duration": seconds}]}
        if self.block is Block.SUBJECT:
            views = {f"url_{n}": self.url(base, f"{n}.png") for n in (1, 2, 3)}
            return {"images": [{"index": 0, **views}]}
        if self.block is Block.VOICE:
            return {"voices": [self.voice_record(base)]}
        return {"elements": [self.element_record(base)]}

    @property
    def video_id(self) -> str:
        return f"{self.task_id}-v0"

    @property
    def audio_id(self) -> str:
        return f"{self.task_id}-a0"

    def voice_record(self, base: str) -> dict[str, Any]:
        trial = self.url(base, "trial.mp3")
        name = str(self.fields.get("voice_name", ""))
        voice = {"voice_id": self.made["voice_id"], "voice_name": name, "trial_url": trial}
        return voice | {"owned_by": OWNER}

    def element_record(self, base: str) -> dict[str, Any]:
        fields = self.fields
        voice: dict[str, Any] = {}
        if self.made.get("voice"):
            voice = dict(self.made["voice"]) | {"trial_url": self.url(base, "trial.mp3")}
        record = {
            "element_id": self.made["element_id"],
            "element_name": fields.get("element_name", ""),
            "element_description": fields.get("element_description", ""),
            "reference_type": fields.get("reference_type", ""),
            "element_image_list": self.made.get("images", {}),
            "element_video_list": fields.get("element_video_list", {}),
            "element_voice_info": voice,
            "tag_list": fields.get("tag_list", []),
            "owned_by": OWNER,
            "status": "deleted" if self.deleted else "succeed",
        }
        return record


#: ``owned_by`` of what the simulated account makes (Kling: the creator's id; "kling": presets).
OWNER = "1000001"


def _d(task: BlockTask) -> dict[str, str]:
    return {"duration": f"{task.length:g}"}


__all__ = [
    "AVATAR_PER_SECOND",
    "BLOCKS",
    "FAIL",
    "LIP_SYNC_PER_5S",
    "OWNER",
    "RETENTION_SECONDS",
    "UNITS_PER_CALL",
    "UNSAFE",
    "Block",
    "BlockTask",
    "Served",
    "texts",
]
