"""The simulator's checks of the building blocks' creates, from the vendor's pages alone (each
rule names its page in :mod:`blocks`). As :mod:`rules`: lenient by default (``""`` counts as
absent, unknown fields are ignored), ``strict`` refusing both; every refusal is 1201 naming the
field. Inputs by URL are fetched from loopback only (:mod:`fetching`); sounds and videos are
measured (:mod:`audio`, the MP4/MOV header).

Each check returns a :class:`Checked`: the fields the task keeps (images and sounds sent as
base64 replaced by ``<data>``), the seconds of what it will make, and what it was made from.
Element and voice management, TTS, text to audio and video to audio are here; avatar, face
identification and lip-sync in :mod:`lipsync`.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kbatch.movie import children, parse_moov
from kbatch.simulator import audio, fetching
from kbatch.simulator.answers import Refused
from kbatch.simulator.made import BlockStore, refuse
from kbatch.simulator.rules import image_of

MB = 1024 * 1024
SOUND_BYTES = 5 * MB
TAGS = tuple(f"o_{number}" for number in range(101, 109))
COMMON = frozenset({"callback_url", "external_task_id"})
FIELDS: dict[str, frozenset[str]] = {
    "element": COMMON
    | {"element_name", "element_description", "reference_type", "element_image_list"}
    | {"element_video_list", "element_voice_id", "tag_list"},
    "voice": COMMON | {"voice_name", "voice_url", "video_id"},
    "tts": frozenset({"text", "voice_id", "voice_language", "voice_speed"}),
    "text2audio": COMMON | {"prompt", "duration"},
    "video2audio": COMMON
    | {"video_id", "video_url", "sound_effect_prompt", "bgm_prompt", "asmr_mode"},
    "avatar": COMMON | {"image", "audio_id", "sound_file", "prompt", "mode", "watermark_info"},
    "identify_face": frozenset({"video_id", "video_url"}),
    "lip_sync": COMMON | {"session_id", "face_choose", "watermark_info"},
    "subject_completion": COMMON | {"element_frontal_image"},
}
DATA = "<data>"


@dataclass
class Checked:
    fields: dict[str, Any]
    length: float = 0.0
    made: dict[str, Any] = field(default_factory=dict)


Check = Callable[[dict[str, Any], BlockStore, bool], Awaitable[Checked]]


def cleaned(block: str, body: Any, *, strict: bool) -> dict[str, Any]:
    """The body as an object, with ``""`` and unknown fields dropped (refused when strict)."""
    if not isinstance(body, dict):
        raise Refused(1200, "Invalid request parameters: the body must be a JSON object")
    if not strict:
        body = {k: v for k, v in body.items() if v != "" and k in FIELDS[block]}
    for name in body:
        if name not in FIELDS[block]:
            refuse(name, "unknown field")
    for name in ("callback_url", "external_task_id"):
        if name in body and (not isinstance(body[name], str) or not body[name]):
            refuse(name, "must be a non-empty string")
    if "watermark_info" in body:
        info = body["watermark_info"]
        if not isinstance(info, dict) or not isinstance(info.get("enabled", False), bool):
            refuse("watermark_info", 'must be {"enabled": true|false}')
    return dict(body)


def text(body: dict[str, Any], name: str, limit: int, *, required: bool = False) -> str:
    value = body.get(name)
    if value is None:
        if required:
            refuse(name, "is required")
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        refuse(name, "must be a non-empty string" if required else "must be a string")
    if len(value) > limit:
        refuse(name, f"is {len(value)} characters; at most {limit}")
    return value


def one_of(body: dict[str, Any], first: str, second: str, where: str = "") -> str:
    """The one of two exclusive fields given; refused when both or neither are."""
    given = [name for name in (first, second) if body.get(name) not in (None, "")]
    if len(given) != 1:
        both = "both were given" if given else "neither was given"
        refuse(where + first, f"give exactly one of {first} and {second}: {both}")
    if not isinstance(body[given[0]], str):
        refuse(where + given[0], "must be a string")
    return given[0]


def number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        refuse(name, f"must be a number, not {type(value).__name__}")
    if not low <= value <= high:
        refuse(name, f"must be between {low:g} and {high:g}, not {value}")
    return float(value)


def between(seconds: float, name: str, low: float, high: float, what: str = "sound") -> None:
    if not low - 0.05 <= seconds <= high + 0.05:
        refuse(name, f"the {what} lasts {seconds:.1f} s; it must last {low:g} to {high:g} s")


async def sound(value: str, name: str, formats: tuple[str, ...], limit: int) -> float:
    """A sound given as a (loopback) URL or raw base64: its format and its seconds."""
    if value.startswith(("http://", "https://")):
        data = await fetching.fetch(value, name, limit=limit)
    else:
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            refuse(name, "is neither a URL nor valid base64")
        if len(data) > limit:
            refuse(name, f"is {len(data)} bytes; at most {limit // MB} MB")
    kind = audio.audio_format(data)
    if kind not in formats:
        refuse(name, f"must be {'/'.join(formats)}, not {kind or 'an unknown format'}")
    seconds = audio.audio_seconds(data) if kind not in ("mp4", "mov") else None
    if seconds is None and kind in ("mp4", "mov"):
        seconds = video_info(data)[0]
    if seconds is None:
        refuse(name, "the sound cannot be read")
    return seconds


def video_info(data: bytes) -> tuple[float | None, int | None, int | None]:
    """(seconds, width, height) of an MP4/MOV from its header, PyAV for the length if need be."""
    for kind, body in children(data):
        if kind == b"moov":
            seconds, width, height = parse_moov(body)
            return seconds or fetching.video_seconds(data), width, height
    return fetching.video_seconds(data), None, None


async def video(url: Any, name: str, limit: int, low: float, high: float) -> tuple[float, int, int]:
    """A video by (loopback) URL: mp4/mov within ``limit`` bytes, lasting ``low``..``high`` s."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        refuse(name, "a video is given by URL only")
    data = await fetching.fetch(url, name, limit=limit)
    if audio.audio_format(data) not in ("mp4", "mov"):
        refuse(name, "only .mp4/.mov videos are supported")
    seconds, width, height = video_info(data)
    if seconds is None:
        refuse(name, "the video cannot be read")
    between(seconds, name, low, high, "video")
    return seconds, width or 0, height or 0


def kept(body: dict[str, Any], *names: str) -> dict[str, Any]:
    """The body with the named fields' base64 (not a URL) replaced by ``<data>``."""
    out = dict(body)
    for name in names:
        value = out.get(name)
        if isinstance(value, str) and not value.startswith(("http://", "https://")):
            out[name] = DATA
    return out


async def element(body: dict[str, Any], made: BlockStore, strict: bool) -> Checked:
    """kling-omni-3.0-element-mgt.md: name <= 20, description <= 100, image_refer (a frontal
    image and 1 to 3 others) or video_refer (one 3-8 s 1080p 16:9/9:16 mp4/mov <= 200 MB)."""
    text(body, "element_name", 20, required=True)
    text(body, "element_description", 100, required=True)
    kind = body.get("reference_type")
    if kind not in ("image_refer", "video_refer"):
        refuse("reference_type", f"must be image_refer or video_refer, not {kind!r}")
    result = Checked(dict(body))
    if kind == "image_refer":
        result.made["images"] = _element_images(body.get("element_image_list"))
        result.fields["element_image_list"] = result.made["images"]
        result.fields.pop("element_video_list", None)  # "invalid when referencing images"
    else:
        await _element_video(body.get("element_video_list"))
        result.fields.pop("element_image_list", None)
    if "element_voice_id" in body:
        voice = body["element_voice_id"]
        if not isinstance(voice, str) or not voice:
            refuse("element_voice_id", "must be a voice id (a string)")
        made.voice(voice, "element_voice_id")
    tags = body.get("tag_list", [])
    if not isinstance(tags, list) or not all(
        isinstance(tag, dict) and tag.get("tag_id") in TAGS for tag in tags
    ):
        refuse("tag_list", f"must be a list of {{tag_id}}, tag_id one of {', '.join(TAGS)}")
    return result


def _element_images(images: Any) -> dict[str, Any]:
    if not isinstance(images, dict) or "frontal_image" not in images:
        refuse("element_image_list", "is required with image_refer: {frontal_image, refer_images}")
    image_of(images["frontal_image"], "element_image_list.frontal_image", main=True)
    refer = images.get("refer_images")
    if not isinstance(refer, list) or not 1 <= len(refer) <= 3:
        refuse("element_image_list.refer_images", "1 to 3 images besides the frontal one")
    for index, item in enumerate(refer):
        where = f"element_image_list.refer_images[{index}]"
        if not isinstance(item, dict) or "image_url" not in item:
            refuse(where, 'must be {"image_url": <image>}')
        image_of(item["image_url"], f"{where}.image_url", main=True)
    urls = [item["image_url"] for item in refer]
    return {
        "frontal_image": kept(images, "frontal_image")["frontal_image"],
        "refer_images": [kept({"image_url": url}, "image_url") for url in urls],
    }


async def _element_video(videos: Any) -> None:
    where = "element_video_list.refer_videos"
    listed = videos.get("refer_videos") if isinstance(videos, dict) else None
    if not isinstance(listed, list) or len(listed) != 1 or not isinstance(listed[0], dict):
        refuse(where, "is required with video_refer: exactly one {video_url}")
    url = listed[0].get("video_url")
    _, width, height = await video(url, f"{where}[0].video_url", 200 * MB, 3, 8)
    if width and height and (min(width, height) != 1080 or max(width, height) * 9 != 1080 * 16):
        refuse(f"{where}[0].video_url", f"is {width}x{height}; 1080p, 16:9 or 9:16")


async def voice(body: dict[str, Any], made: BlockStore, strict: bool) -> Checked:
    """kling-2.6-voice-mgt.md: a name <= 20 and one of voice_url (mp3/wav/mp4/mov) or video_id
    (a 2.6 video with sound, an avatar or a lip-sync), one clean voice of 5 to 30 s."""
    text(body, "voice_name", 20, required=True)
    if one_of(body, "voice_url", "video_id") == "voice_url":
        url = body["voice_url"]
        if not url.startswith(("http://", "https://")):
            refuse("voice_url", "must be a URL")
        seconds = await sound(url, "voice_url", audio.VOICE_FORMATS, 200 * MB)
    else:
        seconds, source, _ = made.video(body["video_id"], "video_id")
        if source not in ("kling-v2-6 with sound", "avatar", "lip_sync"):
            message = "only a kling-v2-6 video with sound on, an avatar or a lip-sync video"
            refuse("video_id", f"{message}; {body['video_id']} is {source}")
    between(seconds, "voice_url" if "voice_url" in body else "video_id", 5, 30, "voice")
    return Checked(dict(body), length=seconds)


async def tts(body: dict[str, Any], made: BlockStore, strict: bool) -> Checked:
    """kling-text-to-speech.md: text <= 1000, a voice, zh (default) or en, speed 0.8-2.0 (one
    decimal; a speed outside is brought into the range, as the page says, not refused)."""
    words = text(body, "text", 1000, required=True)
    voice_id = body.get("voice_id")
    if not isinstance(voice_id, str) or not voice_id:
        refuse("voice_id", "is required")
    made.voice(voice_id, "voice_id")
    language = body.setdefault("voice_language", "zh")
    if language not in ("zh", "en"):
        refuse("voice_language", f"must be zh or en, not {language!r}")
    speed = body.get("voice_speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        refuse("voice_speed", f"must be a number, not {type(speed).__name__}")
    body["voice_speed"] = round(min(2.0, max(0.8, float(speed))), 1)
    return Checked(dict(body), length=speech_seconds(words, body["voice_speed"]))


def speech_seconds(words: str, speed: float) -> float:
    """How long the simulator's speech of ``words`` lasts: 0.06 s a character, at least 1 s."""
    return max(1.0, round(len(words) * 0.06 / speed, 1))


async def text2audio(body: dict[str, Any], made: BlockStore, strict: bool) -> Checked:
    """kling-text-to-audio.md: prompt <= 200, duration 3.0-10.0 s with one decimal (more
    decimals are rounded; refused when strict)."""
    text(body, "prompt", 200, required=True)
    if "duration" not in body:
        refuse("duration", "is required")
    seconds = number(body["duration"], "duration", 3.0, 10.0)
    if strict and round(seconds, 1) != seconds:
        refuse("duration", f"one decimal place at most, not {seconds}")
    return Checked(dict(body), length=round(seconds, 1))


async def video2audio(body: dict[str, Any], made: BlockStore, strict: bool) -> Checked:
    """kling-video-to-audio.md: one of video_id (made within 30 days, 3-20 s) or video_url
    (mp4/mov <= 100 MB, 3-20 s); prompts <= 200 each; asmr_mode a boolean."""
    text(body, "sound_effect_prompt", 200)
    text(body, "bgm_prompt", 200)
    if not isinstance(body.get("asmr_mode", False), bool):
        refuse("asmr_mode", "must be true or false")
    result = Checked(dict(body))
    result.length, result.made["parent_video"] = await source_video(body, made, 3, 20, 100 * MB)
    return result


async def source_video(
    body: dict[str, Any], made: BlockStore, low: float, high: float, limit: int
) -> tuple[float, dict[str, Any]]:
    """The video of video_id or video_url (exactly one): its seconds and ``parent_video``."""
    name = one_of(body, "video_id", "video_url")
    if name == "video_id":
        seconds, _, _ = made.video(body["video_id"], "video_id")
        between(seconds, "video_id", low, high, "video")
    else:
        seconds = (await video(body["video_url"], "video_url", limit, low, high))[0]
    parent = {"id": body.get("video_id", ""), "url": body.get("video_url", "")}
    return seconds, parent | {"duration": f"{math.floor(seconds * 10) / 10:g}"}


async def subject(body: dict[str, Any], made: BlockStore, strict: bool) -> Checked:
    """kling-image-common-subject-completion.md: one frontal image (the /v1 image rules)."""
    if "element_frontal_image" not in body:
        refuse("element_frontal_image", "is required")
    image_of(body["element_frontal_image"], "element_frontal_image", main=True)
    return Checked(kept(body, "element_frontal_image"))


__all__ = [
    "DATA",
    "FIELDS",
    "Check",
    "Checked",
    "cleaned",
    "element",
    "number",
    "one_of",
    "sound",
    "source_video",
    "subject",
    "text",
    "text2audio",
    "tts",
    "video2audio",
    "voice",
]
