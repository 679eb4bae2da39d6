"""A job's request, written in kbatch's (``/v1``) field names, as the new API's body:
``prompt`` (text-to-video) or ``contents[]`` (the other paths), ``settings`` and ``options``.

::

    body = new_body(target, job.request, external_task_id="kb-...")   # images stay ImageInput
    parts = bodies.json_parts(body, encoder)                          # then encoded, shared
    unmapped(JobKind.TEXT2VIDEO, {"model_name": "kling-3.0", "negative_prompt": "blur"})
    # ['negative_prompt']

A field the new API has no place for is never dropped: :func:`unmapped` names it (the manifest
check turns that into a located problem) and :func:`new_body` refuses the job. Only a field that
asks for what the path does anyway is left out (``sound: off`` where there is no audio setting).
Sources: the vendor's pages for 3.0 Turbo, 3.0, 2.6 and 2.5 Turbo (2026-09 snapshot).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kbatch.errors import JobRejected
from kbatch.provider import models
from kbatch.provider.catalogue import NEW_API_KINDS, JobKind
from kbatch.provider.config import Api
from kbatch.provider.models import PathSpec
from kbatch.provider.protocol import ModelPath

#: ``mode`` on the ``/v1`` routes is ``settings.resolution`` here (std is billed as 720p, pro as
#: 1080p: KLING_API.md).
RESOLUTIONS: Mapping[str, str] = {"std": "720p", "pro": "1080p", "4k": "4k"}
AUDIO: Mapping[str, str] = {"on": "native", "off": "off"}
#: Fields that are the body's frame, not a setting: the model is in the path.
_FRAME = frozenset({"model_name"})
#: ``<<<element_1>>>`` on the ``/v1`` routes is ``@element_1`` here.
_REFERENCE = re.compile(r"<<<((?:element|voice)_[0-9]+)>>>")


def _placed(name: str, value: Any, request: Mapping[str, Any], spec: PathSpec) -> bool:
    """Whether the new path has a place for this field (or the field asks for its default)."""
    settings, items = spec.settings, spec.items
    match name:
        case "prompt":
            return not request.get("multi_prompt")
        case "image":
            return "first_frame" in items
        case "image_tail":
            return "last_frame" in items
        case "duration" | "aspect_ratio":
            return name in settings
        case "mode":
            return "resolution" in settings and str(value) in RESOLUTIONS
        case "sound":
            return ("audio" in settings and str(value) in AUDIO) or value == "off"
        case "multi_shot":  # without the setting, only shots written in the prompt
            return "multi_shot" in settings or not value or _written_shots(request, spec)
        case "shot_type":
            return "multi_shot" in settings or (
                value == "customize" and _written_shots(request, spec)
            )
        case "multi_prompt":
            return spec.shots
        case "element_list":
            return "element" in items
        case "voice_list":
            return "voice" in items
        case "watermark_info" | "callback_url":
            return True
    return name in _FRAME


def _written_shots(request: Mapping[str, Any], spec: PathSpec) -> bool:
    return spec.shots and bool(request.get("multi_prompt"))


def unmapped(kind: JobKind, request: Mapping[str, Any], api: Api = Api.AUTO) -> list[str]:
    """The fields of a job the new API has no place for, when :func:`models.choose` sends it
    there (``api`` is the manifest's ``provider.api``); [] for a job that goes to the ``/v1``
    routes, whatever it holds.

    >>> unmapped(JobKind.IMAGE2VIDEO, {"model_name": "kling-3.0-turbo", "image_tail": "x.png"})
    ['image_tail']
    """
    target = models.choose(kind, request, api)
    if not isinstance(target, ModelPath):
        return []
    return _unplaced(target, request)


def _unplaced(target: ModelPath, request: Mapping[str, Any]) -> list[str]:
    if target.kind in NEW_API_KINDS:
        known = _NEW_KIND_FIELDS[target.kind]
        return [name for name in request if name not in known]
    spec = models.PATHS.get(target.path)
    if spec is None:
        return sorted(name for name in request if name not in _FRAME)
    return [name for name, value in request.items() if not _placed(name, value, request, spec)]


def new_body(
    target: ModelPath, request: Mapping[str, Any], *, external_task_id: str
) -> dict[str, Any]:
    """The body of a create on the new API. Images stay :class:`~kbatch.images.ImageInput`
    (``bodies.json_parts`` encodes them, once, shared); ``options.external_task_id`` is always
    set; the duration is an integer. JobRejected (nothing sent) naming the fields it cannot
    place."""
    missing = _unplaced(target, request)
    if missing:
        raise JobRejected(
            f"{target}: Kling's new API has no place for {', '.join(missing)}; "
            "remove them, or send the job to the /v1 routes (provider.api: legacy)"
        )
    if target.kind in NEW_API_KINDS:
        return _new_kind_body(target, request, external_task_id)
    spec = models.PATHS[target.path]
    body: dict[str, Any] = {}
    prompt = _prompt(request)
    items = _items(request)
    if target.path.startswith(models.Route.TEXT_TO_VIDEO + "/"):
        if prompt is not None:
            body["prompt"] = prompt
    else:
        text = [] if prompt is None else [{"type": "prompt", "text": prompt}]
        body["contents"] = text + items
    settings = _settings(request, spec)
    if settings:
        body["settings"] = settings
    body["options"] = _options(request, external_task_id)
    return body


def _prompt(request: Mapping[str, Any]) -> str | None:
    """The prompt, or the shots of ``multi_prompt`` as ``shot n, m, words;`` (the pages' form),
    its references to elements and voices as the new API writes them (``@element_1``)."""
    shots = request.get("multi_prompt")
    if shots:
        text = " ".join(
            f"shot {shot['index']}, {int(shot['duration'])}, {shot['prompt']};" for shot in shots
        )
    else:
        prompt = request.get("prompt")
        if prompt is None:
            return None
        text = str(prompt)
    return _REFERENCE.sub(r"@\1", text)


def _items(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for name, kind in (("image", "first_frame"), ("image_tail", "last_frame")):
        if request.get(name) is not None:
            items.append({"type": kind, "url": request[name]})
    for number, element in enumerate(request.get("element_list") or (), start=1):
        element_id = str(element["element_id"])
        items.append({"type": "element", "element_id": element_id, "id": f"element_{number}"})
    for number, voice in enumerate(request.get("voice_list") or (), start=1):
        items.append({"type": "voice", "voice_id": str(voice["voice_id"]), "id": f"voice_{number}"})
    return items


def _settings(request: Mapping[str, Any], spec: PathSpec) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if "mode" in request:
        settings["resolution"] = RESOLUTIONS[str(request["mode"])]
    if "aspect_ratio" in request:
        settings["aspect_ratio"] = request["aspect_ratio"]
    if "duration" in request:
        settings["duration"] = int(str(request["duration"]))
    if "sound" in request and "audio" in spec.settings:
        settings["audio"] = AUDIO[str(request["sound"])]
    if "multi_shot" in spec.settings:  # the /v1 default is one shot; this API's is several
        settings["multi_shot"] = bool(request.get("multi_shot", False))
    return settings


def _options(request: Mapping[str, Any], external_task_id: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if request.get("callback_url"):
        options["callback_url"] = request["callback_url"]
    if "watermark_info" in request:
        options["watermark_info"] = request["watermark_info"]
    options["external_task_id"] = external_task_id
    return options


#: The fields of an omni-video or motion-control job (all of them have a place on the new API;
#: motion control's ``duration`` is the reference video's, measured by kbatch for the estimate,
#: and never sent: the video decides).
_OMNI_FIELDS = "image image_tail image_list video video_refer_type duration aspect_ratio multi_shot"
_MOTION_FIELDS = "image video character_orientation duration"
_SHARED_FIELDS = "prompt element_list mode audio model_name callback_url watermark_info"
_NEW_KIND_FIELDS: Mapping[JobKind, frozenset[str]] = {
    JobKind.OMNI_VIDEO: frozenset(f"{_OMNI_FIELDS} {_SHARED_FIELDS}".split()),
    JobKind.MOTION_CONTROL: frozenset(f"{_MOTION_FIELDS} {_SHARED_FIELDS}".split()),
}


def _new_kind_body(
    target: ModelPath, request: Mapping[str, Any], external_task_id: str
) -> dict[str, Any]:
    """An omni-video or motion-control create: ``contents[]`` (each reference with an ``id``
    a prompt may cite: ``@image_1``, ``@element_1``, ``@video_1``) and ``settings``, from the
    vendor's pages (kling-omni-3.0-ovg, kling-o1-video, the motion-control pages)."""
    motion = target.kind is JobKind.MOTION_CONTROL
    items: list[dict[str, Any]] = []
    if request.get("prompt"):
        items.append({"type": "prompt", "text": _prompt(request)})
    frames = {"image": "image"} if motion else {"image": "first_frame", "image_tail": "last_frame"}
    for name, kind in frames.items():
        if request.get(name) is not None:
            items.append({"type": kind, "url": request[name]})
    for number, image in enumerate(request.get("image_list") or (), start=1):
        items.append({"type": "refer_image", "url": image, "id": f"image_{number}"})
    for number, element in enumerate(request.get("element_list") or (), start=1):
        element_id = str(element["element_id"])
        items.append({"type": "element", "element_id": element_id, "id": f"element_{number}"})
    if request.get("video"):
        if motion:
            items.append({"type": "video", "url": request["video"]})
        else:
            kind = f"{request.get('video_refer_type', 'feature')}_video"
            items.append({"type": kind, "url": request["video"], "id": "video_1"})
    settings = _new_kind_settings(target, request)
    body: dict[str, Any] = {"contents": items}
    if settings:
        body["settings"] = settings
    body["options"] = _options(request, external_task_id)
    return body


def _new_kind_settings(target: ModelPath, request: Mapping[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if "character_orientation" in request:
        settings["character_orientation"] = request["character_orientation"]
    if "mode" in request:
        settings["resolution"] = RESOLUTIONS[str(request["mode"])]
    if target.kind is JobKind.OMNI_VIDEO and "duration" in request:
        settings["duration"] = int(str(request["duration"]))
    for name in ("aspect_ratio", "audio"):
        if name in request:
            settings[name] = request[name]
    spec = models.PATHS.get(target.path)
    if spec is not None and "multi_shot" in spec.settings:
        # The page's default is several shots; kbatch's (as on the /v1 routes) is one, except
        # with a feature video, which Kling makes with multi_shot true only.
        feature = bool(request.get("video")) and request.get("video_refer_type") != "base"
        settings["multi_shot"] = bool(request.get("multi_shot", feature))
    return settings


__all__ = ["AUDIO", "RESOLUTIONS", "new_body", "unmapped"]
