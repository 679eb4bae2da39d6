"""The new path-addressed API's request checks (``POST /{capability}/{model}``), from the
vendor's pages: ``prompt``/``contents[]``, ``settings`` and ``options`` by each model's rules
(:mod:`kbatch.simulator.products`). Every refusal is 1201 and names the field, as on the old
routes. Images come as a loopback URL (fetched) or base64; videos as a loopback URL only.

By default, as Kling: an optional string sent ``""`` is absent and unknown fields are ignored;
``strict`` refuses both, and a missing ``aspect_ratio`` where the pages call it required.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from typing import Any, NoReturn

from kbatch.provider.catalogue import JobKind
from kbatch.simulator import fetching
from kbatch.simulator.answers import Refused
from kbatch.simulator.products import (
    ASPECT_RATIOS,
    IMAGES,
    MOTION_CONTROL,
    OMNI_VIDEO,
    TEXT_TO_VIDEO,
    VIDEOS,
    Product,
)
from kbatch.simulator.rules import MIN_SIDE, Picture, Request, picture_of

MAX_IMAGE_BYTES = 50 * 1024 * 1024
SHOT = re.compile(r"\s*shot\s+(\d+)\s*,\s*(\d+)\s*,\s*(.*)", re.IGNORECASE | re.DOTALL)
#: A prompt containing this makes a motion-control task come out 2 s shorter than its video.
SHORTER = "sim:shorter"
ITEM_KEYS = {"prompt": {"type", "text"}, "element": {"type", "element_id", "id"}}
ITEM_KEYS |= {"voice": {"type", "voice_id", "id"}}
ITEM_KEYS |= {name: {"type", "url", "id"} for name in IMAGES | VIDEOS}


def _refuse(name: str, message: str) -> NoReturn:
    raise Refused(1201, f"Invalid parameter {name}: {message}")


async def check(product: Product, body: Any, *, strict: bool = False) -> Request:
    """A create body checked against its model's rules; Refused on the first that fails."""
    if not isinstance(body, dict):
        raise Refused(1200, "Invalid request parameters: the body must be a JSON object")
    text = product.capability == TEXT_TO_VIDEO
    known = {"settings", "options", "prompt" if text else "contents"}
    body = _known(body, known, "", strict)
    settings = _known(_object(body, "settings"), _setting_names(product), "settings.", strict)
    options = _options(_object(body, "options"), strict)
    items = [] if text else _contents(product, body.get("contents"), strict)
    prompt = (
        body.get("prompt")
        if text
        else next((item.get("text") for item in items if item["type"] == "prompt"), None)
    )
    if text and prompt is None:
        _refuse("prompt", "is required")
    if prompt is not None:
        _prompt(product, prompt, "prompt" if text else "contents[].text")
    types = Counter(str(item["type"]) for item in items)
    _settings(product, settings, types, strict)
    _together(product, settings, types)
    pictures: dict[str, Picture] = {}
    seconds = await _media(product, items, settings, pictures, strict)
    if seconds is None:
        seconds = int(settings.get("duration", 5))
    elif SHORTER in str(prompt or ""):
        seconds = max(3, seconds - 2)
    if product.shots and settings.get("multi_shot") is not False and prompt:
        _shots(str(prompt), seconds)
    return Request(
        JobKind.TEXT2VIDEO if text else JobKind.IMAGE2VIDEO,
        _fields(product, prompt, settings, options, types, seconds),
        pictures,
    )


def _object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name, {})
    if not isinstance(value, dict):
        _refuse(name, "must be an object")
    return value


def _known(values: dict[str, Any], known: set[str], where: str, strict: bool) -> dict[str, Any]:
    """The fields a model knows: strict refuses the others and empty strings, lenient drops them."""
    for name, value in values.items():
        if strict and name not in known:
            _refuse(where + name, "unknown field")
        if strict and value == "":
            _refuse(where + name, "must not be empty")
    return {name: value for name, value in values.items() if name in known and value != ""}


def _setting_names(product: Product) -> set[str]:
    names = {"resolution"} | ({"duration"} if product.durations else set())
    names |= {"audio"} if product.audio else set()
    names |= {"multi_shot"} if product.multi_shot else set()
    names |= {"aspect_ratio"} if product.aspect else set()
    return names | ({"character_orientation"} if product.capability == MOTION_CONTROL else set())


def _options(options: dict[str, Any], strict: bool) -> dict[str, Any]:
    known = {"callback_url", "external_task_id", "watermark_info"}
    options = _known(options, known, "options.", strict)
    for name in ("callback_url", "external_task_id"):
        if name in options and not isinstance(options[name], str):
            _refuse(f"options.{name}", "must be a string")
    info = options.get("watermark_info")
    if info is not None and (
        not isinstance(info, dict) or not isinstance(info.get("enabled", False), bool)
    ):
        _refuse("options.watermark_info", 'must be {"enabled": true|false}')
    return options


def _contents(product: Product, contents: Any, strict: bool) -> list[dict[str, Any]]:
    if not isinstance(contents, list) or not contents:
        _refuse("contents", "is required: a list of inputs")
    ids: set[str] = set()
    items = []
    for index, item in enumerate(contents):
        where = f"contents[{index}]"
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(kind, str) or kind not in product.contents:
            allowed = ", ".join(sorted(product.contents))
            _refuse(f"{where}.type", f"{product.model} takes {allowed}")
        item = _known(item, ITEM_KEYS[kind], where + ".", strict)
        needed = ITEM_KEYS[kind] - ({"id"} if kind in IMAGES | VIDEOS else set())
        for name in sorted(needed - set(item)):
            _refuse(f"{where}.{name}", "is required")
        if "id" in item:
            if item["id"] in ids:
                _refuse(f"{where}.id", f"{item['id']!r} is used twice in this task")
            ids.add(str(item["id"]))
        items.append(item)
    return items


def _prompt(product: Product, prompt: Any, where: str) -> None:
    if not isinstance(prompt, str) or not prompt.strip():
        _refuse(where, "must be a non-empty string")
    if len(prompt) > product.prompt_limit:
        _refuse(where, f"is {len(prompt)} characters; at most {product.prompt_limit}")


def _settings(
    product: Product, settings: dict[str, Any], types: Counter[str], strict: bool
) -> None:
    choices: dict[str, tuple[Any, ...]] = {"resolution": product.resolutions}
    choices |= {"duration": product.durations, "audio": product.audio}
    choices |= {"aspect_ratio": ASPECT_RATIOS, "character_orientation": ("image", "video")}
    for name, allowed in choices.items():
        value = settings.get(name)
        if value is None:
            continue
        if name == "duration" and (isinstance(value, bool) or not isinstance(value, int)):
            _refuse("settings.duration", f"must be an integer, not {type(value).__name__}")
        if value not in allowed:
            shown = ", ".join(str(choice) for choice in allowed)
            _refuse(f"settings.{name}", f"{product.model} takes {shown}, not {value!r}")
    if "multi_shot" in settings and not isinstance(settings["multi_shot"], bool):
        _refuse("settings.multi_shot", "must be a boolean")
    if product.capability == MOTION_CONTROL and "character_orientation" not in settings:
        _refuse("settings.character_orientation", "is required: image or video")
    framed = types["first_frame"] or any(types[name] for name in VIDEOS)
    if (
        strict
        and product.capability == OMNI_VIDEO
        and not framed
        and "aspect_ratio" not in settings
    ):
        _refuse("settings.aspect_ratio", "is required without a first frame or a video")


def _together(product: Product, settings: dict[str, Any], types: Counter[str]) -> None:
    """The rules between inputs and settings."""
    if types["last_frame"] and not types["first_frame"]:
        _refuse("contents.last_frame", "a last frame alone is not supported: add a first frame")
    for name in ("first_frame", "last_frame", "prompt", "image", "video"):
        if types[name] > 1:
            _refuse(f"contents.{name}", "may be given once")
    if product.capability == "image-to-video" and not types["first_frame"]:
        _refuse("contents.first_frame", "is required")
    if types["element"] > product.elements:
        _refuse("contents.element", f"{product.model} takes at most {product.elements}")
    if types["voice"] > product.voices:
        _refuse("contents.voice", f"{product.model} takes at most {product.voices}")
    hd = settings.get("resolution", "720p") == "1080p"
    audio = settings.get("audio", product.audio[0] if product.audio else "off")
    if types["voice"] and audio == "off":
        _refuse("contents.voice", "voices need settings.audio native")
    if product.model in ("kling-2.6", "kling-2.5-turbo") and not hd:
        if types["first_frame"] and types["last_frame"]:
            _refuse("settings.resolution", "first and last frames are made at 1080p only")
        if audio == "native":
            _refuse("settings.resolution", "native audio is made at 1080p only")
    if product.capability == OMNI_VIDEO:
        _omni(product, settings, types, audio)
    if product.capability == MOTION_CONTROL:
        if not types["video"]:
            _refuse("contents.video", "a motion reference video is required")
        if not types["image"] and not types["element"]:
            _refuse("contents.image", "an appearance image (or an element) is required")


def _omni(product: Product, settings: dict[str, Any], types: Counter[str], audio: str) -> None:
    videos = types["feature_video"] + types["base_video"]
    frames = types["first_frame"] + types["last_frame"]
    if videos > 1:
        _refuse("contents", "at most 1 reference video")
    if types["base_video"] and frames:
        _refuse("contents.base_video", "cannot be edited with a first or last frame")
    if types["base_video"] and (settings.get("multi_shot") is True or audio == "native"):
        _refuse("contents.base_video", "takes neither multi_shot nor native audio")
    if types["feature_video"] and audio == "native":
        _refuse("settings.audio", "native audio is not made with a feature_video")
    asks = settings.get("multi_shot") is False or audio != "off"
    if product.model == "kling-3.0-omni" and types["feature_video"] and asks:
        _refuse("contents.feature_video", "needs multi_shot true and audio off")
    refs = types["refer_image"] + types["element"]
    limit = 4 if videos else 7
    if refs > limit:
        _refuse("contents", f"reference images and elements: at most {limit}, not {refs}")
    if product.model == "kling-3.0-omni" and types["first_frame"] and types["element"] > 3:
        _refuse("contents.element", "at most 3 with a first frame")
    if product.model == "kling-o1":
        if types["first_frame"] and types["last_frame"] and refs:
            _refuse("contents", "first and last frames take no reference images or elements")
        if types["feature_video"] and types["last_frame"]:
            _refuse("contents.last_frame", "is not supported with a feature_video")
        bare = types["first_frame"] and not types["refer_image"] and not videos
        if bare and settings.get("duration", 5) not in (5, 10):
            _refuse("settings.duration", "a first frame alone makes 5 or 10 s videos only")


async def _media(
    product: Product,
    items: list[dict[str, Any]],
    settings: dict[str, Any],
    pictures: dict[str, Picture],
    strict: bool,
) -> int | None:
    """Fetch and check the images and videos; the seconds a motion-control task makes."""
    seconds = None
    for index, item in enumerate(items):
        where = f"contents[{index}].url"
        if item["type"] in IMAGES:
            picture = await _picture(str(item["url"]), where, strict)
            pictures.setdefault("image", picture)
            pictures[f"contents[{index}]"] = picture
        elif item["type"] in VIDEOS:
            url = item["url"]
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                _refuse(where, "a video is given by URL only")
            data = await fetching.fetch(url, where)
            if product.capability == MOTION_CONTROL:
                seconds = _motion_seconds(data, settings, where)
            else:
                _reference_seconds(product, data, where)
    return seconds


async def _picture(value: str, where: str, strict: bool) -> Picture:
    if value.startswith(("http://", "https://")):
        data = await fetching.fetch(value, where, limit=MAX_IMAGE_BYTES)
    else:
        if value[:5].lower() == "data:":
            if strict:
                _refuse(where, "must be a URL or raw base64 without a data: prefix")
            value = value.partition(",")[2]
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            _refuse(where, "is neither a URL nor valid base64")
    return picture_of(data, where, main=True, max_bytes=MAX_IMAGE_BYTES)


def _motion_seconds(data: bytes, settings: dict[str, Any], where: str) -> int:
    """The reference video's whole seconds (5 when its length cannot be read), in its bounds."""
    length = fetching.video_seconds(data)
    seconds = 5.0 if length is None else length
    cap = 10 if settings.get("character_orientation") == "image" else 30
    if not 3 <= seconds <= cap + 0.5:
        _refuse(where, f"the video is {seconds:.1f} s; 3 to {cap} s with this orientation")
    return min(cap, int(seconds + 0.5))


def _reference_seconds(product: Product, data: bytes, where: str) -> None:
    """An omni reference video lasts 3 to 15.5 s (kling-o1: 3 to 10 s), when it can be read."""
    length = fetching.video_seconds(data)
    longest = 10.0 if product.model == "kling-o1" else 15.5
    if length is not None and not 3 <= length <= longest + 0.05:
        _refuse(where, f"the video is {length:.1f} s; 3 to {longest:g} s")


def _shots(prompt: str, duration: int) -> None:
    """A multi-shot prompt: ``shot n, m, words;`` 1 to 6 shots, m >= 1, the m sum to the
    video's duration, words at most 512 characters. Other prompts are not multi-shot."""
    parts = [part for part in prompt.split(";") if part.strip()]
    if not parts or not SHOT.match(parts[0]):
        return
    if len(parts) > 6:
        _refuse("prompt", f"{len(parts)} shots; at most 6")
    total = 0
    for part in parts:
        shot = SHOT.match(part)
        if shot is None:
            _refuse("prompt", f"not a shot ('shot n, m, words;'): {part.strip()[:40]!r}")
        seconds, words = int(shot.group(2)), shot.group(3).strip()
        if seconds < 1:
            _refuse("prompt", f"shot {shot.group(1)} lasts {seconds} s; at least 1")
        if len(words) > 512:
            _refuse("prompt", f"shot {shot.group(1)}'s words are {len(words)} characters; 512")
        total += seconds
    if total != duration:
        _refuse("prompt", f"the shots last {total} s, not the video's {duration} s")


def _fields(
    product: Product,
    prompt: Any,
    settings: dict[str, Any],
    options: dict[str, Any],
    types: Counter[str],
    seconds: int,
) -> dict[str, Any]:
    """What the task keeps: flat, as the old routes' fields are (media and the journal read
    ``prompt``, ``duration`` and ``watermark_info``), plus its path and what it is billed as."""
    audio = settings.get("audio", product.audio[0] if product.audio else "off")
    if product.capability == MOTION_CONTROL:
        feature = "motion"
    elif any(types[name] for name in VIDEOS):
        feature = "video"
    elif audio == "native":
        feature = "voice" if types["voice"] else "audio"
    else:
        feature = "silent"
    fields: dict[str, Any] = {"path": product.path, "prompt": prompt or ""}
    fields |= {"duration": str(seconds), "resolution": settings.get("resolution", "720p")}
    fields |= {"audio": audio, "feature": feature, **options}
    return {name: value for name, value in fields.items() if value is not None}


__all__ = ["MIN_SIDE", "SHORTER", "check"]
