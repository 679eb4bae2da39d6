"""Pre-flight checks of one job's request, beyond what the JSON Schema can say.

The request reaching here already passed the schema. :func:`normalize` gives it the wire types
(``duration`` a string, ``n`` an integer, all four expansion sides, subjects as objects);
:func:`check_request` applies the rules that span fields or depend on the provider (a video
job bound for a path of Kling's new API gets that path's rules: :mod:`kbatch.manifest.pathrules`);
:func:`resolve_images` turns every image string into an :class:`~kbatch.images.ImageInput` after
inspecting it. Each returns problems as ``(field path, message)`` pairs; nothing here raises.

:func:`notices` gives a valid job's warnings, which refuse nothing: a field its route ignores
(:func:`unsent` leaves it out of what is sent), a job on a legacy model (one Kling still answers
but has taken off its capability map and price list).

>>> [path for path, _ in notices(JobKind.IMAGE2VIDEO, {"image": "a.png", "aspect_ratio": "1:1"})]
[('aspect_ratio',), ()]
>>> unsent(JobKind.IMAGE2VIDEO, {"image": "a.png", "aspect_ratio": "1:1"})
{'image': 'a.png'}
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from kbatch.images import (
    ImageInfo,
    ImageProblem,
    Inspector,
    check_dimensions,
    digest,
    parse_image,
)
from kbatch.manifest import records
from kbatch.manifest.audio import check_text2audio, check_tts, check_video2audio
from kbatch.manifest.effects import check_effects
from kbatch.manifest.faces import check_avatar, check_lip_sync, resolve_sound
from kbatch.manifest.faces import with_seconds as lip_sync_seconds
from kbatch.manifest.issues import show
from kbatch.manifest.motion import check_motion, with_seconds
from kbatch.manifest.omni import check_omni
from kbatch.manifest.omni_image import check_omni_image, normalize_omni_image
from kbatch.manifest.pathrules import check_path
from kbatch.manifest.records import check_element, check_subject, check_voice
from kbatch.manifest.references import Reference
from kbatch.manifest.text2image import check_text2image
from kbatch.manifest.video import check_video
from kbatch.provider import capabilities, catalogue, models
from kbatch.provider.catalogue import JobKind
from kbatch.provider.config import Api
from kbatch.provider.protocol import ModelPath
from kbatch.videos import SAMPLE_SCHEME

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]


def normalize(kind: JobKind, request: dict[str, Any]) -> dict[str, Any]:
    """The request with the API's wire types (a new dict; the input is not changed)."""
    out = dict(request)
    if "n" in out:
        out["n"] = int(out["n"])
    if kind is JobKind.IMAGE_EXPAND:
        for side in catalogue.EXPANSION_SIDES:
            out[side] = float(out.get(side, 0))
    elif kind is JobKind.MULTI_IMAGE2IMAGE and "subject_image_list" in out:
        out["subject_image_list"] = [
            item if isinstance(item, dict) else {"subject_image": item}
            for item in out["subject_image_list"]
        ]
    elif kind is JobKind.OMNI_IMAGE:
        out = normalize_omni_image(out)
    elif kind in catalogue.VIDEO_KINDS or kind is JobKind.OMNI_VIDEO:
        if "duration" in out:
            out["duration"] = str(out["duration"])
        if "cfg_scale" in out:
            out["cfg_scale"] = float(out["cfg_scale"])
        if isinstance(out.get("multi_prompt"), list):
            out["multi_prompt"] = [
                {**shot, "duration": str(shot["duration"])} for shot in out["multi_prompt"]
            ]
    return out


def check_request(
    kind: JobKind,
    request: dict[str, Any],
    provider: catalogue.ProviderSpec,
    max_in_flight: int,
    api: Api = Api.AUTO,
) -> list[Problem]:
    """Rules across fields, per provider, and against the run's slot limit; a video job bound
    for a path of Kling's new API (``api``: the manifest's ``provider.api``) is held to that
    path's rules instead of the ``/v1`` capability map and text limits."""
    problems = _slots(kind, request, max_in_flight) + _unserved(kind, provider)
    problems += _samples(request, provider)
    if kind is JobKind.IMAGE_EXPAND:
        problems += _check_expand(request)
    elif kind is JobKind.MULTI_IMAGE2IMAGE:
        problems += _check_multi(request, provider)
    elif kind is JobKind.TEXT2IMAGE:
        problems += check_text2image(request)
    elif kind in _OWN_RULES:
        problems += _OWN_RULES[kind](request)
    else:
        target = models.choose(kind, request, api)
        if isinstance(target, ModelPath):  # the path's rules, its own prompt limits
            return problems + check_path(
                kind,
                request,
                target,
                capability_map=provider.check_capabilities,
                unsent=frozenset(IGNORED.get(kind, {})),
            )
        pinned = models.only_on_new(kind, request) if api is Api.LEGACY else None
        if pinned is not None:  # provider.api: legacy, a model the /v1 routes do not serve
            message = (
                f"{pinned} is served only by Kling's new API, and provider.api: legacy keeps "
                "every job on the /v1 routes: remove provider.api (or set it to new), or choose "
                "a model the /v1 routes serve"
            )
            return [*problems, (("model_name",), message)]
        from_text = kind is JobKind.TEXT2VIDEO
        problems += check_video(request, text=from_text, capability_map=provider.check_capabilities)
    for (limit_kind, field), limit in provider.text_limits.items():
        text = request.get(field)
        if limit_kind is kind and isinstance(text, str) and len(text) > limit:
            message = f"is {len(text)} characters long; {provider.name} takes at most {limit}"
            problems.append(((field,), message))
    return problems


def _slots(kind: JobKind, request: Mapping[str, Any], max_in_flight: int) -> list[Problem]:
    needed = catalogue.request_slots(kind, request)
    if needed > max_in_flight:
        field = "series_amount" if request.get("result_type") == "series" else "n"
        message = (
            f"{field}={request.get(field, needed)} needs {needed} parallel-task slots but "
            f"limits.max_in_flight is {max_in_flight}: the job could never start"
        )
        return [((field,), message)]
    return []


def _samples(request: Mapping[str, Any], provider: catalogue.ProviderSpec) -> list[Problem]:
    """A ``simulator:samples/...`` video is the built-in simulator's: no other provider has it."""
    video = request.get("video")
    if not (isinstance(video, str) and video.startswith(SAMPLE_SCHEME)):
        return []
    if provider.name is catalogue.ProviderName.SIMULATOR:
        return []
    message = f"{video} is a sample the built-in simulator serves; {provider.name} needs a URL"
    return [(("video",), message)]


def _unserved(kind: JobKind, provider: catalogue.ProviderSpec) -> list[Problem]:
    if kind in provider.unserved:
        message = f"{provider.name} documents no {kind} route; kbatch does not send it there"
        return [(("kind",), message)]
    return []


#: The kinds whose rules live in a module of their own, each taking the request alone.
_OWN_RULES: Mapping[JobKind, Callable[[dict[str, Any]], list[Problem]]] = MappingProxyType(
    {
        JobKind.OMNI_IMAGE: check_omni_image,
        JobKind.VIDEO_EFFECTS: check_effects,
        JobKind.OMNI_VIDEO: check_omni,
        JobKind.MOTION_CONTROL: check_motion,
        # slice audio
        JobKind.TTS: check_tts,
        JobKind.TEXT2AUDIO: check_text2audio,
        JobKind.VIDEO2AUDIO: check_video2audio,
        # slice faces (issue 31)
        JobKind.AVATAR: check_avatar,
        JobKind.LIP_SYNC: check_lip_sync,
        # slice records (issue 31)
        JobKind.ELEMENT: check_element,
        JobKind.VOICE: check_voice,
        JobKind.SUBJECT_COMPLETION: check_subject,
    }
)

#: Fields a route accepts in a manifest but ignores, per kind, and why.
IGNORED: Mapping[JobKind, Mapping[str, str]] = MappingProxyType(
    {
        JobKind.IMAGE2VIDEO: MappingProxyType(
            {"aspect_ratio": "image2video ignores aspect_ratio (the video takes the image's)"}
        ),
    }
)
_NOT_SENT = ": kbatch does not send it"


def notices(kind: JobKind, request: Mapping[str, Any]) -> list[Problem]:
    """The warnings of one (valid) job, each located at its field (the job itself for a model
    it does not name)."""
    found = [
        ((name,), why + _NOT_SENT) for name, why in IGNORED.get(kind, {}).items() if name in request
    ]
    single = _single_quality(kind, request)
    if single is not None and "mode" in request:
        message = f"{single} has one quality and ignores mode{_NOT_SENT}"
        found.append((("mode",), message))
    return found + _legacy(kind, request)


def unsent(kind: JobKind, request: Mapping[str, Any]) -> dict[str, Any]:
    """The request as it is sent: without the fields its route ignores. (A job's fingerprint
    is taken from the request as written, so dropping them makes no finished job run again.)"""
    drop = set(IGNORED.get(kind, {}))
    if _single_quality(kind, request) is not None:
        drop.add("mode")
    if kind is JobKind.MOTION_CONTROL:  # the video's seconds, for the estimate (not sent)
        request = with_seconds(request)
    if kind is JobKind.LIP_SYNC:  # slice faces: the same, of a video by URL
        request = lip_sync_seconds(request)
    return {name: value for name, value in request.items() if name not in drop}


def _single_quality(kind: JobKind, request: Mapping[str, Any]) -> str | None:
    """The model, when it is a video model of one quality (kling-v2-master): it has no mode."""
    if kind not in catalogue.VIDEO_KINDS:
        return None
    return _one_quality(kind, str(request.get("model_name", capabilities.DEFAULT_VIDEO_MODEL)))


@functools.lru_cache(maxsize=256)
def _one_quality(kind: JobKind, model: str) -> str | None:
    try:
        cap = capabilities.capability(models.normalise(model), text=kind is JobKind.TEXT2VIDEO)
    except KeyError:
        return None
    return None if cap.modes else model


def _legacy(kind: JobKind, request: Mapping[str, Any]) -> list[Problem]:
    model = request.get("model_name")
    if not capabilities.is_legacy(kind, model):
        return []
    current = capabilities.SUGGESTED[kind]
    if model is None:
        message = (
            f"no model_name: Kling runs this job on its route's default, "
            f"{capabilities.DEFAULT_VIDEO_MODEL}, a legacy model (off Kling's capability map and "
            f"price list; checked and priced as {capabilities.DEFAULT_VIDEO_MODEL}); "
            f"set model_name, e.g. {current}"
        )
        return [((), message)]
    message = (
        f"{model} is a legacy model (off Kling's capability map and price list, still "
        f"answered); a current one: {current}"
    )
    return [(("model_name",), message)]


def _check_expand(request: dict[str, Any]) -> list[Problem]:
    if "image" not in request:
        return [((), "missing required field 'image'")]
    up, down, left, right = (request[side] for side in catalogue.EXPANSION_SIDES)
    area = (1 + left + right) * (1 + up + down)
    if area > catalogue.MAX_EXPANSION_AREA + 1e-9:
        message = (
            f"the expanded canvas would be {area:.3g}x the original area; "
            f"(1+left+right)*(1+up+down) = (1+{left:g}+{right:g})*(1+{up:g}+{down:g}) "
            f"must be at most {catalogue.MAX_EXPANSION_AREA:g}"
        )
        return [((), message)]
    return []


def _check_multi(request: dict[str, Any], provider: catalogue.ProviderSpec) -> list[Problem]:
    subjects = request.get("subject_image_list")
    if subjects is None:
        return [((), "missing required field 'subject_image_list'")]
    low, high = provider.subjects
    problems: list[Problem] = []
    if not low <= len(subjects) <= high:
        route = (
            "the legacy multi-image route (provider.dialect: legacy)"
            if provider.dialect is catalogue.Dialect.LEGACY
            else f"{provider.name}'s multi-image route"
        )
        images = "image" if len(subjects) == 1 else "images"
        message = f"has {len(subjects)} subject {images}; {route} takes {low} to {high}"
        problems.append((("subject_image_list",), message))
    legacy = provider.dialect is catalogue.Dialect.LEGACY
    served = catalogue.LEGACY_MULTI_MODELS if legacy else catalogue.OFFICIAL_MULTI_MODELS
    model = request.get("model_name", served[0])
    if model not in served:
        route = (
            "the legacy multi-image route (provider.dialect: legacy)"
            if legacy
            else f"{provider.name}'s multi-image route"
        )
        message = f"{show(model)} is not served by {route}, which takes only {', '.join(served)}"
        if not legacy:
            message += " (kling-v2 is for CometAPI's legacy route: provider.dialect: legacy)"
        problems.append((("model_name",), message))
    return problems


def image_slots(kind: JobKind, request: dict[str, Any]) -> Iterator[tuple[FieldPath, Any]]:
    """Every image in a request, with its path: (("image",), "a.png"), ..."""
    for field in catalogue.IMAGE_FIELDS.get(kind, ()):
        if field in request:
            yield (field,), request[field]
    for field in catalogue.IMAGE_LIST_FIELDS.get(kind, ()):
        for index, image in enumerate(request.get(field) or ()):
            yield (field, index), image
    if kind is JobKind.MULTI_IMAGE2IMAGE:
        for index, item in enumerate(request.get("subject_image_list", ())):
            yield ("subject_image_list", index, "subject_image"), item["subject_image"]
    if kind is JobKind.IMAGE2VIDEO:
        for index, item in enumerate(request.get("dynamic_masks", ())):
            yield ("dynamic_masks", index, "mask"), item["mask"]
    if kind is JobKind.OMNI_IMAGE:
        for index, item in enumerate(request.get("image_list", ())):
            yield ("image_list", index, "image"), item["image"]
    if kind is JobKind.VIDEO_EFFECTS:
        for index, item in enumerate(request.get("images", ())):
            yield ("images", index), item
    yield from records.image_slots(kind, request)  # slice records: an element's images


def resolve_images(
    kind: JobKind, request: dict[str, Any], base_dir: Path, inspector: Inspector
) -> tuple[dict[str, Any], dict[str, Any], list[Problem]]:
    """Inspect every image. Returns the request with ImageInputs, the same request with each
    image's digest in its place (what the fingerprint covers), and the problems found."""
    problems: list[Problem] = []
    out = view = request
    masks: list[tuple[FieldPath, str, ImageInfo]] = []
    main: ImageInfo | None = None
    for path, text in list(image_slots(kind, request)):
        if isinstance(text, Reference):  # another job's image: checked once it is made
            view = _replace(view, path, str(text))
            continue
        try:
            image = parse_image(text, base_dir)
            info = inspector.inspect(image)
            if info is not None:
                ruled = path[-1] in catalogue.RATIO_RULE_FIELDS or path[0] == "images"
                check_dimensions(info, main=ruled or path[0] in catalogue.RATIO_RULE_FIELDS)
        except ImageProblem as exc:
            problems.append((path, f"{show(text)} {exc}"))
            continue
        if info is not None and path == (catalogue.MAIN_IMAGE,):
            main = info
        elif info is not None and path[-1] in catalogue.MASK_FIELDS:
            masks.append((path, text, info))
        out = _replace(out, path, image)
        view = _replace(view, path, digest(image, info))
    for path, text, info in masks:
        if main is not None and (problem := _mask_ratio(path, text, info, main)) is not None:
            problems.append(problem)
    out, view, heard = resolve_sound(kind, out, view, base_dir)  # a local sound_file
    return out, view, problems + heard


def _mask_ratio(path: FieldPath, text: str, mask: ImageInfo, main: ImageInfo) -> Problem | None:
    """A mask must have the main image's aspect ratio (within a pixel's rounding)."""
    if abs(mask.width * main.height - main.width * mask.height) <= max(main.width, mask.width):
        return None
    message = (
        f"{show(text)} is {mask.width}x{mask.height}; a mask must have the aspect ratio of the "
        f"image ({main.width}x{main.height})"
    )
    return path, message


def _replace(request: dict[str, Any], path: FieldPath, value: Any) -> dict[str, Any]:
    """A copy of ``request`` with the value at ``path`` replaced (containers on the way copied)."""
    out: dict[str, Any] = _replaced(request, path, value)
    return out


def _replaced(container: Any, path: FieldPath, value: Any) -> Any:
    """``container`` (a mapping or a list) with the value at ``path`` replaced, at any depth
    (an element's ``element_image_list.refer_images[1].image_url``)."""
    if not path:
        return value
    head, *rest = path
    if isinstance(container, list):
        out_list = list(container)
        out_list[int(head)] = _replaced(out_list[int(head)], tuple(rest), value)
        return out_list
    out = dict(container)
    out[str(head)] = _replaced(out[str(head)], tuple(rest), value)
    return out
