"""The simulator's checks of the newer image2video surface, as Kling answers them: sound,
voices, elements, multi-shot, kling-v3's durations, and the capability map (each refused with
1201 and a message that names the field and the model, like Kling's own
``camera_control is only supported in std mode with 5s duration and kling-v1``).

Like :mod:`kbatch.simulator.rules`, these are written from KLING_API.md, not from kbatch's
pre-flight checks; the capability map itself is shared data (:mod:`kbatch.provider.capabilities`).
"""

from __future__ import annotations

from typing import Any, NoReturn

from kbatch.provider.capabilities import FEATURES, IMAGE2VIDEO, TEXT2VIDEO
from kbatch.simulator.answers import Refused

SOUND = ("on", "off")
SHOT_TYPES = ("customize", "intelligence")


def _refuse(name: str, message: str) -> NoReturn:
    raise Refused(1201, f"Invalid parameter {name}: {message}")


def check_newer(body: dict[str, Any]) -> None:
    """The newer fields' own rules; Refused on the first that fails."""
    if "sound" in body and body["sound"] not in SOUND:
        _refuse("sound", f"must be on or off, not {body['sound']!r}")
    voices = body.get("voice_list")
    if voices is not None:
        if not isinstance(voices, list) or not 1 <= len(voices) <= 2:
            _refuse("voice_list", "must hold 1 or 2 voices")
        if any(not isinstance(v, dict) or set(v) != {"voice_id"} for v in voices):
            _refuse("voice_list", 'items must be {"voice_id": ...}')
        if body.get("sound") != "on":
            _refuse("voice_list", "requires sound on")
        if body.get("model_name") != "kling-v2-6" or body.get("mode") != "pro":
            _refuse("voice_list", "is kling-v2-6's only, in pro mode (1080p)")
    elements = body.get("element_list")
    if elements is not None:
        if not isinstance(elements, list) or not 1 <= len(elements) <= 3:
            _refuse("element_list", "must hold 1 to 3 elements")
        if voices is not None:
            _refuse("element_list", "cannot be used together with voice_list")
    _multi_shot(body)


def _multi_shot(body: dict[str, Any]) -> None:
    if "multi_shot" in body and not isinstance(body["multi_shot"], bool):
        _refuse("multi_shot", "must be a boolean")
    if not body.get("multi_shot"):
        for name in ("shot_type", "multi_prompt"):
            if name in body:
                _refuse(name, "requires multi_shot true")
        return
    if body.get("shot_type") not in SHOT_TYPES:
        _refuse("shot_type", f"is required with multi_shot: one of {', '.join(SHOT_TYPES)}")
    shots = body.get("multi_prompt")
    if body["shot_type"] == "customize" and shots is None:
        _refuse("multi_prompt", "is required with shot_type customize")
    if shots is None:
        return
    if not isinstance(shots, list) or not 1 <= len(shots) <= 6:
        _refuse("multi_prompt", "must hold 1 to 6 shots")
    total = 0
    for shot in shots:
        if not isinstance(shot, dict) or set(shot) != {"index", "prompt", "duration"}:
            _refuse("multi_prompt", 'shots must be {"index", "prompt", "duration"}')
        if not isinstance(shot["prompt"], str) or len(shot["prompt"]) > 512:
            _refuse("multi_prompt.prompt", "must be a string of at most 512 characters")
        if not isinstance(shot["duration"], str) or not shot["duration"].isdigit():
            _refuse("multi_prompt.duration", "must be a string of whole seconds")
        total += int(shot["duration"])
    if str(total) != str(body.get("duration", "5")):
        _refuse("multi_prompt", f"shot durations sum to {total}, not the video's duration")


def check_capabilities(body: dict[str, Any], *, text: bool = False) -> None:
    """What the request asks of its model, as the capability map allows."""
    model = str(body.get("model_name", "kling-v1"))
    cap = (TEXT2VIDEO if text else IMAGE2VIDEO).get(model)
    if cap is None:
        return
    mode, duration = str(body.get("mode", "std")), str(body.get("duration", "5"))
    mode = "pro" if mode == "4k" else mode  # kling-v3's 4k takes what its pro mode takes
    if duration not in cap.durations:
        _refuse("duration", f"{model} supports durations {', '.join(cap.durations)} only")
    if cap.modes and mode not in cap.modes:
        _refuse("mode", f"{model} supports modes {', '.join(cap.modes)} only")
    for feature, fields in FEATURES.items():
        for name in fields:
            asked = body.get(name) == "on" if name == "sound" else name in body
            if name in ("multi_shot",):
                asked = body.get(name) is True
            if asked and not cap.allows(feature, mode=mode, duration=duration):
                where = cap.where(feature)
                _refuse(name, f"{name} is only supported with {where} on {model}")
    if body.get("sound") == "on" and any(name in body for name in cap.silent_only):
        _refuse("sound", f"{model} supports sound only without image_tail")
    camera = body.get("camera_control")
    if isinstance(camera, dict) and cap.camera_types and camera.get("type") not in cap.camera_types:
        _refuse("camera_control", f"{model} supports camera_control type simple only")


def check_text2image(body: dict[str, Any]) -> None:
    """text2image's rules between fields and models (kling-v3 when model_name is omitted)."""
    model = str(body.get("model_name", "kling-v3"))
    reference = body.get("image_reference")
    if reference is not None and model not in ("kling-v1-5", "kling-v2-1"):
        _refuse("image_reference", f"is only supported by kling-v1-5 and kling-v2-1, not {model}")
    elements = body.get("element_list")
    if elements is not None and (not isinstance(elements, list) or not 1 <= len(elements) <= 10):
        _refuse("element_list", "must hold 1 to 10 elements")
    if model == "kling-v1-5" and "image" in body and reference is None:
        _refuse("image_reference", "is required with image on kling-v1-5")
    if "human_fidelity" in body and reference != "subject":
        _refuse("human_fidelity", "requires image_reference subject")
    if "negative_prompt" in body and "image" in body:
        _refuse("negative_prompt", "is not supported together with image")
    if body.get("resolution") == "2k" and model not in (
        "kling-v2",
        "kling-v2-new",
        "kling-v2-1",
        "kling-v3",
    ):
        _refuse("resolution", f"2k is not supported by {model}")
    if model == "kling-v2-new" and "image" not in body:
        _refuse("image", "is required by kling-v2-new")
    if body.get("aspect_ratio") == "21:9" and model == "kling-v1":
        _refuse("aspect_ratio", "21:9 is not supported by kling-v1")


__all__ = ["check_capabilities", "check_newer", "check_text2image"]
