"""The simulator's request checks: as strict as the real API, written from KLING_API.md alone.

These rules do not reuse kbatch's own pre-flight checks on purpose: a client bug (a field
misspelt, ``duration`` sent as a number, a ``data:`` prefix left on an image) must be refused
here exactly as Kling would refuse it. Every refusal names the field:
``Refused(1201, "... duration: ...")``.

By default the checks behave as Kling does: an optional field sent as ``""`` counts as absent,
and a field Kling ignores on a route (``aspect_ratio`` on image2video, sent by widely used
clients) is ignored. ``strict=True`` refuses both, so that a wrong dialect shows up at once.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from PIL import Image, UnidentifiedImageError

from kbatch.provider.catalogue import JobKind
from kbatch.simulator import newer
from kbatch.simulator.answers import Refused

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MIN_SIDE = 300
MAX_RATIO = 2.5
TEXT_LIMIT = 2500
EXPAND_SIDES = ("up", "down", "left", "right")
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9")
MULTI_MODELS = ("kling-v2", "kling-v2-1")
TEXT2IMAGE_MODELS = (
    "kling-v1",
    "kling-v1-5",
    "kling-v2",
    "kling-v2-new",
    "kling-v2-1",
    "kling-v3",
)
TEXT2VIDEO_MODELS = (
    "kling-v1",
    "kling-v1-6",
    "kling-v2-master",
    "kling-v2-1-master",
    "kling-v2-5-turbo",
    "kling-v2-6",
    "kling-v3",
)
LEGACY_MULTI_MODELS = ("kling-v2",)
VIDEO_MODELS = (
    "kling-v1",
    "kling-v1-5",
    "kling-v1-6",
    "kling-v2-master",
    "kling-v2-1",
    "kling-v2-1-master",
    "kling-v2-5-turbo",
    "kling-v2-6",
    "kling-v3",
)
CAMERA_TYPES = ("simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward")
CAMERA_AXES = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")
_COMMON = frozenset({"prompt", "n", "callback_url", "external_task_id", "watermark_info"})
FIELDS: Mapping[JobKind, frozenset[str]] = {
    JobKind.IMAGE_EXPAND: _COMMON | {"image"} | {f"{s}_expansion_ratio" for s in EXPAND_SIDES},
    JobKind.MULTI_IMAGE2IMAGE: _COMMON
    | {"subject_image_list", "scene_image", "style_image", "model_name", "aspect_ratio"},
    JobKind.IMAGE2VIDEO: frozenset(
        {"image", "image_tail", "prompt", "negative_prompt", "model_name", "mode", "duration"}
        | {"cfg_scale", "static_mask", "dynamic_masks", "camera_control"}
        | {"callback_url", "external_task_id", "watermark_info"}
        | {"sound", "voice_list", "multi_shot", "shot_type", "multi_prompt", "element_list"}
    ),
    JobKind.TEXT2VIDEO: frozenset(
        {"prompt", "negative_prompt", "model_name", "mode", "duration", "aspect_ratio"}
        | {"cfg_scale", "camera_control", "sound", "multi_shot", "shot_type", "multi_prompt"}
        | {"callback_url", "external_task_id", "watermark_info"}
    ),
    JobKind.TEXT2IMAGE: _COMMON
    | {"negative_prompt", "image", "image_reference", "image_fidelity", "human_fidelity"}
    | {"resolution", "model_name", "aspect_ratio", "element_list"},
}


@dataclass(frozen=True, slots=True)
class Picture:
    """An input image: its bytes (None for a URL, which the simulator never fetches)."""

    data: bytes | None
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Request:
    """A create request that passed: its fields, and its decoded input images by field."""

    kind: JobKind
    fields: Mapping[str, Any]
    pictures: Mapping[str, Picture] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Images the task makes (an omni-image series: as many as it made, ``series_made``)."""
        return int(self.fields.get("series_made", self.fields.get("n", 1)))


def check(kind: JobKind, body: Any, *, legacy: bool = False, strict: bool = True) -> Request:
    """Check a create body; raise Refused (1200: not an object, 1201: a bad field)."""
    if not isinstance(body, dict):
        raise Refused(1200, "Invalid request parameters: the body must be a JSON object")
    body = dict(body)
    if legacy and kind is JobKind.MULTI_IMAGE2IMAGE:
        if "scene_image" in body and strict:
            _refuse("scene_image", "unknown field (this route spells it scence_image)")
        if "scence_image" in body:
            body["scene_image"] = body.pop("scence_image")
    if not strict:  # as Kling: "" is absent, and a field the route does not know is ignored
        body = {name: value for name, value in body.items() if value != ""}
        body = {name: value for name, value in body.items() if name in FIELDS[kind]}
    for name in body:
        if name not in FIELDS[kind]:
            _refuse(name, "unknown field")
    pictures: dict[str, Picture] = {}
    _common(body)
    if kind is JobKind.IMAGE_EXPAND:
        _expand(body, pictures)
    elif kind is JobKind.MULTI_IMAGE2IMAGE:
        _multi(body, pictures, legacy=legacy)
    elif kind is JobKind.TEXT2IMAGE:
        _text2image(body, pictures)
    elif kind is JobKind.TEXT2VIDEO:
        _text2video(body)
    else:
        _video(body, pictures)
    return Request(kind, body, pictures)


def _refuse(name: str, message: str) -> NoReturn:
    raise Refused(1201, f"Invalid parameter {name}: {message}")


def _common(body: dict[str, Any]) -> None:
    for name in ("prompt", "negative_prompt"):
        if name in body:
            _text(body, name)
    if "n" in body:
        _integer(body, "n", 1, 9)
    for name in ("callback_url", "external_task_id"):
        if name in body and (not isinstance(body[name], str) or not body[name]):
            _refuse(name, "must be a non-empty string")
    if "watermark_info" in body:
        info = body["watermark_info"]
        if not isinstance(info, dict) or set(info) - {"enabled"}:
            _refuse("watermark_info", 'must be {"enabled": true|false}')
        if not isinstance(info.get("enabled", False), bool):
            _refuse("watermark_info.enabled", "must be a boolean")


def _text(body: dict[str, Any], name: str) -> None:
    value = body[name]
    if not isinstance(value, str):
        _refuse(name, "must be a string")
    if len(value) > TEXT_LIMIT:
        _refuse(name, f"is {len(value)} characters; at most {TEXT_LIMIT}")


def _integer(body: dict[str, Any], name: str, low: int, high: int) -> None:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int):
        _refuse(name, f"must be an integer, not {type(value).__name__}")
    if not low <= value <= high:
        _refuse(name, f"must be between {low} and {high}, not {value}")


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _refuse(name, f"must be a number, not {type(value).__name__}")
    if not low <= value <= high:
        _refuse(name, f"must be between {low:g} and {high:g}, not {value}")
    return float(value)


def _choice(body: dict[str, Any], name: str, choices: tuple[str, ...]) -> None:
    if name in body and body[name] not in choices:
        _refuse(name, f"must be one of {', '.join(choices)}, not {body[name]!r}")


def image_of(value: Any, name: str, *, main: bool) -> Picture:
    """An image field's picture: a URL (never fetched) or raw base64, decoded and checked."""
    if not isinstance(value, str) or not value:
        _refuse(name, "must be an image URL or raw base64")
    if value.startswith(("http://", "https://")):
        return Picture(None, 1024, 768)  # never fetched: no network beyond loopback
    if value[:5].lower() == "data:":
        _refuse(name, "must be raw base64 without a data: prefix")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        _refuse(name, "is neither a URL nor valid base64")
    return picture_of(data, name, main=main, max_bytes=MAX_IMAGE_BYTES)


def picture_of(data: bytes, name: str, *, main: bool, max_bytes: int) -> Picture:
    """An input image's bytes checked as Kling checks them: JPG or PNG, at most ``max_bytes``,
    each side at least 300 px, and (``main``) an aspect ratio within 1:2.5 to 2.5:1."""
    if len(data) > max_bytes:
        _refuse(name, f"is {len(data)} bytes; at most {max_bytes // (1024 * 1024)} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as picture:
                kind, (width, height) = picture.format, picture.size
    except (UnidentifiedImageError, OSError, ValueError):
        _refuse(name, "is not a readable image")
    if kind not in ("JPEG", "PNG", "MPO"):
        _refuse(name, f"must be JPG or PNG, not {kind}")
    if min(width, height) < MIN_SIDE:
        _refuse(name, f"is {width}x{height}; each side must be at least {MIN_SIDE} px")
    if main and not 1 / MAX_RATIO <= width / height <= MAX_RATIO:
        _refuse(name, f"is {width}x{height}; the aspect ratio must be between 1:2.5 and 2.5:1")
    return Picture(data, width, height)


def _expand(body: dict[str, Any], pictures: dict[str, Picture]) -> None:
    if "image" not in body:
        _refuse("image", "is required")
    pictures["image"] = image_of(body["image"], "image", main=True)
    ratios = {}
    for side in EXPAND_SIDES:
        name = f"{side}_expansion_ratio"
        if name not in body:
            _refuse(name, "is required (send 0 for a side that does not grow)")
        ratios[side] = _number(body[name], name, 0, 2)
    area = (1 + ratios["left"] + ratios["right"]) * (1 + ratios["up"] + ratios["down"])
    if area > 3 + 1e-9:
        _refuse("expansion_ratio", f"the new canvas is {area:.3g}x the original; at most 3x")


def _multi(body: dict[str, Any], pictures: dict[str, Picture], *, legacy: bool) -> None:
    subjects = body.get("subject_image_list")
    if not isinstance(subjects, list) or not 1 <= len(subjects) <= 4:
        _refuse("subject_image_list", "must be a list of 1 to 4 {subject_image} objects")
    for index, item in enumerate(subjects):
        where = f"subject_image_list[{index}]"
        if not isinstance(item, dict) or set(item) != {"subject_image"}:
            _refuse(where, 'must be {"subject_image": <image>}')
        pictures[where] = image_of(item["subject_image"], where, main=True)
    for name in ("scene_image", "style_image"):  # the image rules, aspect ratio too
        if name in body:
            pictures[name] = image_of(body[name], name, main=True)
    _choice(body, "model_name", LEGACY_MULTI_MODELS if legacy else MULTI_MODELS)
    _choice(body, "aspect_ratio", ASPECT_RATIOS)


def _text2image(body: dict[str, Any], pictures: dict[str, Picture]) -> None:
    if not body.get("prompt"):
        _refuse("prompt", "is required")
    if "image" in body:
        pictures["image"] = image_of(body["image"], "image", main=True)
    _choice(body, "model_name", TEXT2IMAGE_MODELS)
    _choice(body, "aspect_ratio", ASPECT_RATIOS)
    _choice(body, "resolution", ("1k", "2k"))
    _choice(body, "image_reference", ("subject", "face"))
    for name in ("image_fidelity", "human_fidelity"):
        if name in body:
            _number(body[name], name, 0, 1)
    newer.check_text2image(body)


def _video_settings(body: dict[str, Any]) -> None:
    """mode, duration (a string, "3" to "15": the capability map says which model takes which)
    and cfg_scale, as both video kinds take them. ``mode: 4k`` is kling-v3's (2026-04-23)."""
    _choice(body, "mode", ("std", "pro", "4k"))
    if body.get("mode") == "4k" and body.get("model_name") != "kling-v3":
        _refuse("mode", f"4k is only supported by kling-v3, not {body.get('model_name')}")
    if "duration" in body:
        if not isinstance(body["duration"], str):
            _refuse("duration", f"must be a string, not {type(body['duration']).__name__}")
        _choice(body, "duration", tuple(str(seconds) for seconds in range(3, 16)))
    if "cfg_scale" in body:
        _number(body["cfg_scale"], "cfg_scale", 0, 1)


def _text2video(body: dict[str, Any]) -> None:
    if not body.get("prompt"):
        _refuse("prompt", "is required")
    _choice(body, "model_name", TEXT2VIDEO_MODELS)
    _choice(body, "aspect_ratio", ("16:9", "9:16", "1:1"))
    _video_settings(body)
    if "camera_control" in body:
        _camera(body["camera_control"])
    newer.check_newer(body)
    newer.check_capabilities(body, text=True)


def _video(body: dict[str, Any], pictures: dict[str, Picture]) -> None:
    if "image" not in body and "image_tail" not in body:
        _refuse("image", "is required (or image_tail)")
    for name in ("image", "image_tail", "static_mask"):
        if name in body:
            pictures[name] = image_of(body[name], name, main=name == "image")
    _choice(body, "model_name", VIDEO_MODELS)
    _video_settings(body)
    groups = [
        name
        for name, present in (
            ("image_tail", "image_tail" in body),
            ("static_mask/dynamic_masks", "static_mask" in body or "dynamic_masks" in body),
            ("camera_control", "camera_control" in body),
        )
        if present
    ]
    if len(groups) > 1:
        _refuse(groups[1], f"cannot be used together with {groups[0]}")
    if "dynamic_masks" in body:
        _masks(body["dynamic_masks"], pictures)
    _mask_ratios(pictures)
    if "camera_control" in body:
        _camera(body["camera_control"])
    newer.check_newer(body)
    newer.check_capabilities(body)


def _masks(masks: Any, pictures: dict[str, Picture]) -> None:
    if not isinstance(masks, list) or not 1 <= len(masks) <= 6:
        _refuse("dynamic_masks", "must be a list of 1 to 6 masks")
    for index, item in enumerate(masks):
        where = f"dynamic_masks[{index}]"
        if not isinstance(item, dict) or set(item) != {"mask", "trajectories"}:
            _refuse(where, 'must be {"mask": <image>, "trajectories": [...]}')
        pictures[where] = image_of(item["mask"], f"{where}.mask", main=False)
        points = item["trajectories"]
        if not isinstance(points, list) or not 2 <= len(points) <= 77:
            _refuse(f"{where}.trajectories", "must hold 2 to 77 points")
        for point in points:
            if not isinstance(point, dict) or set(point) != {"x", "y"}:
                _refuse(f"{where}.trajectories", 'points must be {"x": int, "y": int}')
            for axis in ("x", "y"):
                if isinstance(point[axis], bool) or not isinstance(point[axis], int):
                    _refuse(f"{where}.trajectories", f"{axis} must be an integer")


def _mask_ratios(pictures: dict[str, Picture]) -> None:
    """Masks must have the image's aspect ratio (URLs are never fetched: not checked)."""
    image = pictures.get("image")
    if image is None or image.data is None:
        return
    for name, mask in pictures.items():
        is_mask = name == "static_mask" or name.startswith("dynamic_masks")
        skew = abs(mask.width * image.height - image.width * mask.height)
        if is_mask and mask.data is not None and skew > max(image.width, mask.width):
            _refuse(name, "must have the same aspect ratio as image")


def _camera(camera: Any) -> None:
    if not isinstance(camera, dict) or camera.get("type") not in CAMERA_TYPES:
        _refuse("camera_control.type", f"must be one of {', '.join(CAMERA_TYPES)}")
    if set(camera) - {"type", "config"}:
        _refuse("camera_control", "takes only type and config")
    config = camera.get("config")
    if camera["type"] != "simple":
        if config is not None:
            _refuse("camera_control.config", "is only for type simple")
        return
    if not isinstance(config, dict) or set(config) - set(CAMERA_AXES):
        _refuse("camera_control.config", f"must hold only {', '.join(CAMERA_AXES)}")
    values = [
        _number(config.get(axis, 0), f"camera_control.config.{axis}", -10, 10)
        for axis in CAMERA_AXES
    ]
    if sum(1 for value in values if value != 0) != 1:
        _refuse("camera_control.config", "exactly one axis must be non-zero")
