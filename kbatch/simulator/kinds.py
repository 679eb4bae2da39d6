"""The simulator's checks of omni image (``/v1/images/omni-image``) and video effects
(``/v1/videos/effects``), from Kling's pages alone (``kling-image-o1-generation.md``,
``kling-effects-video-effects.md``, the image capability map), as :mod:`rules` checks the
older kinds: lenient by default (``""`` is absent, unknown fields ignored), ``strict`` refusing
both. An unknown effect scene is refused (Kling knows its own list); the scene list is
kbatch's data file, which is the vendor page's.

A series with ``series_amount: auto`` makes a number of images drawn from its content (2 to 9,
the same for the same request), kept in the request as ``series_made``: the task holds that
many slots and is charged that many images.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any, NoReturn

from kbatch.provider.catalogue import JobKind
from kbatch.simulator.answers import Refused
from kbatch.simulator.rules import TEXT_LIMIT, Picture, Request, image_of

KINDS = frozenset({JobKind.OMNI_IMAGE, JobKind.VIDEO_EFFECTS})
_COMMON = frozenset({"callback_url", "external_task_id"})
FIELDS = {
    JobKind.OMNI_IMAGE: _COMMON
    | {"model_name", "prompt", "image_list", "element_list", "resolution", "result_type"}
    | {"n", "series_amount", "aspect_ratio", "watermark_info"},
    JobKind.VIDEO_EFFECTS: _COMMON | {"effect_scene", "input"},
}
OMNI_MODELS = ("kling-image-o1", "kling-v3-omni")
RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9", "auto")


@cache
def scenes() -> dict[str, int]:
    """Each effect scene Kling lists, and how many images it takes."""
    text = resources.files("kbatch").joinpath("data/effects.json").read_text("utf-8")
    return {name: int(entry["images"]) for name, entry in json.loads(text)["scenes"].items()}


def check(kind: JobKind, body: Any, *, strict: bool = True) -> Request:
    """Check a create body of either kind; raise Refused (1200, 1201) as Kling would."""
    if not isinstance(body, dict):
        raise Refused(1200, "Invalid request parameters: the body must be a JSON object")
    if not strict:
        body = {k: v for k, v in body.items() if v != "" and k in FIELDS[kind]}
    for name in body:
        if name not in FIELDS[kind]:
            _refuse(name, "unknown field")
    for name in ("callback_url", "external_task_id"):
        if name in body and (not isinstance(body[name], str) or not body[name]):
            _refuse(name, "must be a non-empty string")
    series = body.get("result_type") == "series"
    ignored = "n" if series else "series_amount"  # each is "invalid" with the other type
    if strict and kind is JobKind.OMNI_IMAGE and ignored in body:
        _refuse(ignored, f"is ignored with result_type {'series' if series else 'single'}")
    pictures: dict[str, Picture] = {}
    fields = dict(body)
    if kind is JobKind.OMNI_IMAGE:
        fields["series_made"] = _omni(body, pictures)
    else:
        _effects(body, pictures)
    return Request(kind, fields, pictures)


def _refuse(name: str, message: str) -> NoReturn:
    raise Refused(1201, f"Invalid parameter {name}: {message}")


def _choice(body: dict[str, Any], name: str, choices: tuple[str, ...]) -> None:
    if name in body and body[name] not in choices:
        _refuse(name, f"must be one of {', '.join(choices)}, not {body[name]!r}")


def _omni(body: dict[str, Any], pictures: dict[str, Picture]) -> int:
    """The rules of an omni-image create; the number of images it makes."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        _refuse("prompt", "is required")
    if len(prompt) > TEXT_LIMIT:
        _refuse("prompt", f"is {len(prompt)} characters; at most {TEXT_LIMIT}")
    _choice(body, "model_name", OMNI_MODELS)
    _choice(body, "resolution", ("1k", "2k", "4k"))
    _choice(body, "result_type", ("single", "series"))
    _choice(body, "aspect_ratio", RATIOS)
    model = body.get("model_name", OMNI_MODELS[0])
    if body.get("resolution") == "4k" and model != "kling-v3-omni":
        _refuse("resolution", f"4k is not supported by {model}")
    images, elements = body.get("image_list", []), body.get("element_list", [])
    if not isinstance(images, list) or not isinstance(elements, list):
        _refuse("image_list", "image_list and element_list must be lists")
    if len(images) + len(elements) > 10:
        _refuse("image_list", "reference images and elements must not exceed 10 in all")
    for index, item in enumerate(images):
        if not isinstance(item, dict) or set(item) != {"image"}:
            _refuse(f"image_list[{index}]", 'must be {"image": <image>}')
        pictures[f"image_list[{index}]"] = image_of(
            item["image"], f"image_list[{index}].image", main=True
        )
    for index, item in enumerate(elements):
        if not isinstance(item, dict) or not isinstance(item.get("element_id"), int):
            _refuse(f"element_list[{index}]", 'must be {"element_id": <integer>}')
    if body.get("result_type") != "series":
        n = body.get("n", 1)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 9:
            _refuse("n", f"must be an integer between 1 and 9, not {n!r}")
        return n
    if model != "kling-v3-omni":
        _refuse("result_type", f"series is not supported by {model}")
    amount = body.get("series_amount", 4)
    if amount == "auto":
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()
        return 2 + digest[0] % 8
    if isinstance(amount, bool) or not isinstance(amount, int) or not 2 <= amount <= 9:
        _refuse("series_amount", f"must be 2 to 9 or auto, not {amount!r}")
    return amount


def _effects(body: dict[str, Any], pictures: dict[str, Picture]) -> None:
    scene = body.get("effect_scene")
    if not isinstance(scene, str) or not scene:
        _refuse("effect_scene", "is required")
    wanted = scenes().get(scene)
    if wanted is None:
        _refuse("effect_scene", f"unknown effect scene {scene!r}")
    given = body.get("input")
    if not isinstance(given, dict):
        _refuse("input", "is required: {image} or {images: [left, right]}")
    if wanted == 1:
        if set(given) != {"image"}:
            _refuse("input", f"{scene} takes one image: {{image}}")
        pictures["image"] = image_of(given["image"], "input.image", main=True)
        return
    pair = given.get("images")
    if set(given) != {"images"} or not isinstance(pair, list) or len(pair) != 2:
        _refuse("input.images", f"{scene} takes exactly two images: {{images: [left, right]}}")
    pictures["image"] = image_of(pair[0], "input.images[0]", main=True)
    pictures["images[1]"] = image_of(pair[1], "input.images[1]", main=True)


__all__ = ["FIELDS", "KINDS", "check", "scenes"]
