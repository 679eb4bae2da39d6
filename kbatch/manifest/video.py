"""Pre-flight rules of an image2video (or text2video) request: the fields that exclude each
other, camera control, the newer fields (sound, voices, multi-shot, elements) and Kling's
capability map (modes, 4k on kling-v3, durations, features, no end frame alone on the current
models). text2video needs a prompt, except multi-shot with ``shot_type: customize``, whose shots
each have theirs.

Each function returns problems as ``(field path, message)`` pairs, located at the field that
asks for what cannot be had; nothing raises.
"""

from __future__ import annotations

from typing import Any

from kbatch.provider import capabilities, catalogue, models
from kbatch.provider.capabilities import FEATURES, Capability

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]

_FEATURE_FIELDS = frozenset(name for fields in FEATURES.values() for name in fields)

_RELAX = " (Kling's capability map; if Kling now allows it, set provider.check_capabilities: false)"


def check_video(
    request: dict[str, Any], *, text: bool = False, capability_map: bool = True
) -> list[Problem]:
    """Every rule of an image2video (or, with ``text``, text2video) request; the capability
    map unless turned off."""
    problems: list[Problem] = []
    if text and not request.get("prompt") and not _customized(request):
        message = (
            "missing required field 'prompt' (text2video makes the video from it); only "
            "multi_shot with shot_type: customize goes without (each shot has its prompt)"
        )
        problems.append(((), message))
    elif not text and "image" not in request and "image_tail" not in request:
        problems.append(((), "missing required field 'image' (or 'image_tail')"))
    present = [group for group in catalogue.EXCLUSIVE_GROUPS if any(f in request for f in group)]
    if len(present) > 1:
        names = [next(f for f in group if f in request) for group in present]
        message = (
            f"{' and '.join(names)} cannot be used together: Kling takes only one of "
            "image_tail, the masks (static_mask/dynamic_masks) and camera_control"
        )
        problems.append(((names[1],), message))
    camera = request.get("camera_control")
    if isinstance(camera, dict):
        problems += _check_camera(camera)
    problems += _check_newer_fields(request)
    if capability_map:
        problems += check_capabilities(request, text=text)
    return problems


def _customized(request: dict[str, Any]) -> bool:
    """Multi-shot with shot_type customize: each shot has its prompt, the main one is not needed
    (with intelligence it is)."""
    return request.get("multi_shot") is True and request.get("shot_type") == "customize"


def _check_camera(camera: dict[str, Any]) -> list[Problem]:
    config = camera.get("config")
    if camera["type"] != "simple":
        if config is not None:
            message = f"config is only for type 'simple', not {camera['type']!r}"
            return [(("camera_control", "config"), message)]
        return []
    if config is None:
        return [(("camera_control",), "type 'simple' needs a config with one non-zero axis")]
    moving = [axis for axis in catalogue.CAMERA_AXES if config.get(axis, 0) != 0]
    if len(moving) != 1:
        found = ", ".join(moving) if moving else "none"
        message = (
            f"exactly one of {', '.join(catalogue.CAMERA_AXES)} must be non-zero (found: {found})"
        )
        return [(("camera_control", "config"), message)]
    return []


def _check_newer_fields(request: dict[str, Any]) -> list[Problem]:
    """The rules KLING_API.md gives for sound, voices, elements and multi-shot."""
    problems: list[Problem] = []
    if "voice_list" in request and request.get("sound") != "on":
        problems.append((("voice_list",), "needs sound: on (voices are spoken only with sound)"))
    if "element_list" in request and "voice_list" in request:
        problems.append((("element_list",), "cannot be used together with voice_list"))
    multi_shot = request.get("multi_shot") is True
    shot_type = request.get("shot_type")
    if multi_shot and shot_type is None:
        problems.append((("multi_shot",), "needs shot_type: customize or intelligence"))
    for name in ("shot_type", "multi_prompt"):
        if name in request and not multi_shot:
            problems.append(((name,), "is used only with multi_shot: true"))
    if multi_shot and shot_type == "customize" and "multi_prompt" not in request:
        problems.append((("shot_type",), "customize needs multi_prompt: the shots, in order"))
    shots = request.get("multi_prompt")
    if multi_shot and isinstance(shots, list) and shots:
        total = sum(int(shot["duration"]) for shot in shots)
        duration = int(request.get("duration", "5"))
        if total != duration:
            message = f"the shots last {total} s in all; the video lasts {duration} s"
            problems.append((("multi_prompt",), message))
    return problems


def check_capabilities(request: dict[str, Any], *, text: bool = False) -> list[Problem]:
    """What the request asks of its model, against the capability map."""
    model = str(request.get("model_name", capabilities.DEFAULT_VIDEO_MODEL))
    try:  # either spelling (kling-3.0 / kling-v3): the same model, the same map
        cap = capabilities.capability(models.normalise(model), text=text)
    except KeyError:
        return []  # the schema names the models; a template may still reach here
    mode = str(request.get("mode", "std"))
    duration = str(request.get("duration", "5"))
    problems: list[Problem] = []
    # A model of one quality (kling-v2-master) has no mode: clients send one anyway, and it is
    # not known to be refused, so it is let through.
    if cap.modes and mode not in cap.modes:
        problems.append((("mode",), f"{model} has no {mode!r} mode{_RELAX}"))
    if duration not in cap.durations:
        message = f"{model} makes videos of {seconds(cap.durations)}, not {duration} s{_RELAX}"
        problems.append((("duration",), message))
    if problems:
        return problems
    if not text and "image_tail" in request and "image" not in request and not cap.tail_only:
        message = f"{model} does not take an end frame alone: give the first frame (image) too"
        problems.append((("image_tail",), message + _RELAX))
    if not _FEATURE_FIELDS.intersection(request):
        return problems
    for feature, fields in FEATURES.items():
        asked = [name for name in fields if _asks(request, name)]
        if asked and not cap.allows(feature, mode=mode, duration=duration):
            lacks = _lacks(model, cap, feature, asked[0], mode, duration, text=text)
            problems.append(((asked[0],), lacks))
    problems += _silent_only(model, cap, request)
    camera = request.get("camera_control")
    if isinstance(camera, dict) and cap.camera_types and camera["type"] not in cap.camera_types:
        message = f"{model} takes camera_control of type {', '.join(cap.camera_types)} only"
        problems.append((("camera_control", "type"), message + _RELAX))
    return problems


def _asks(request: dict[str, Any], name: str) -> bool:
    if name == "sound":
        return request.get("sound") == "on"
    if name == "multi_shot":
        return request.get("multi_shot") is True
    return name in request


def _lacks(
    model: str, cap: Capability, feature: str, name: str, mode: str, duration: str, *, text: bool
) -> str:
    where = cap.where(feature)
    asked = f"{mode} mode, {duration} s" if cap.modes else f"{duration} s"
    if where == "nowhere":
        others = capabilities.models_with(feature, text=text)
        which = f" (models that do: {', '.join(others)})" if others else ""
        return f"{model} does not take {name}{which}{_RELAX}"
    return f"{model} takes {name} only with {where}; this job asks for {asked}{_RELAX}"


def _silent_only(model: str, cap: Capability, request: dict[str, Any]) -> list[Problem]:
    if request.get("sound") != "on":
        return []
    clashes = [name for name in cap.silent_only if name in request]
    return [
        (("sound",), f"{model} makes videos with {name} silent only: set sound: off{_RELAX}")
        for name in clashes
    ]


def seconds(durations: tuple[str, ...]) -> str:
    """Durations in words.

    >>> seconds(("5", "10")), seconds(tuple(str(n) for n in range(3, 16)))
    ('5 or 10 s', '3 to 15 s')
    """
    if len(durations) > 3:
        return f"{durations[0]} to {durations[-1]} s"
    return " or ".join(durations) + " s"


__all__ = ["FieldPath", "Problem", "check_capabilities", "check_video", "seconds"]
