"""Kling's video models, their two spellings, and which API serves each for what (data).

Kling names a model two ways: ``model_name: kling-v3`` in a body on the ``/v1`` routes, and
``kling-3.0`` in a path on the path-addressed API (``POST /text-to-video/kling-3.0``). A manifest
may use either; :func:`normalise` makes them one. :func:`choose` decides where a job goes::

    choose(JobKind.TEXT2VIDEO, {"model_name": "kling-v3"}, Api.AUTO)   # JobKind.TEXT2VIDEO
    choose(JobKind.TEXT2VIDEO, {"model_name": "kling-v3"}, Api.NEW)
    # ModelPath(JobKind.TEXT2VIDEO, "text-to-video/kling-3.0")
    choose(JobKind.TEXT2VIDEO, {"model_name": "kling-3.0-turbo"}, Api.AUTO)  # new API only

With ``api: legacy`` (the default) a job goes where it went before this module existed, unless
its model lives on the new API only; so a manifest that ran before sends the same requests.
Sources: the vendor's pages (2026-09 snapshot), KLING_API.md "Kling in late 2026".
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from kbatch.provider.catalogue import NEW_KIND_DEFAULTS, JobKind
from kbatch.provider.config import Api
from kbatch.provider.protocol import ModelPath, Target
from kbatch.provider.videomodels import KIND_ROUTES, MODELS, SPELLINGS, Route, VideoModel

#: The model a video request without ``model_name`` gets on the ``/v1`` routes (capabilities.py).
DEFAULT_MODEL = "kling-v1"


@dataclass(frozen=True, slots=True)
class PathSpec:
    """What one new-API path takes: its ``settings`` and its ``contents[]`` item types (the
    prompt is always taken), and whether its prompt may hold shots (``shot n, m, words;``)."""

    settings: frozenset[str]
    items: frozenset[str] = frozenset()
    shots: bool = False


def _spec(settings: str, items: str = "", *, shots: bool = False) -> PathSpec:
    return PathSpec(frozenset(settings.split()), frozenset(items.split()), shots)


_OMNI_ITEMS = "first_frame last_frame refer_image feature_video base_video element"
#: Every path of the new API, from the vendor's pages.
PATHS: Mapping[str, PathSpec] = MappingProxyType(
    {
        "text-to-video/kling-3.0-turbo": _spec("resolution aspect_ratio duration", shots=True),
        "image-to-video/kling-3.0-turbo": _spec("resolution duration", "first_frame", shots=True),
        "text-to-video/kling-3.0": _spec(
            "multi_shot audio resolution aspect_ratio duration", shots=True
        ),
        "image-to-video/kling-3.0": _spec(
            "multi_shot audio resolution duration", "first_frame last_frame element", shots=True
        ),
        "text-to-video/kling-2.6": _spec("audio resolution aspect_ratio duration"),
        "image-to-video/kling-2.6": _spec(
            "audio resolution duration", "first_frame last_frame voice"
        ),
        "text-to-video/kling-2.5-turbo": _spec("resolution aspect_ratio duration"),
        "image-to-video/kling-2.5-turbo": _spec("resolution duration", "first_frame last_frame"),
        "omni-video/kling-3.0-omni": _spec(
            "multi_shot audio resolution aspect_ratio duration", _OMNI_ITEMS, shots=True
        ),
        "omni-video/kling-o1": _spec("audio resolution aspect_ratio duration", _OMNI_ITEMS),
        "motion-control/kling-3.0": _spec(
            "character_orientation audio resolution", "image video element"
        ),
        "motion-control/kling-2.6": _spec("character_orientation audio resolution", "image video"),
    }
)


def model(name: str) -> VideoModel | None:
    """The model of either spelling; None for a name kbatch does not know as a video model.

    >>> model("kling-3.0") == model("kling-v3")
    True
    """
    return SPELLINGS.get(name.strip().lower())


def normalise(name: str) -> str:
    """One spelling per model: the ``/v1`` name where there is one, else the new API's; a name
    kbatch does not know is returned as given.

    >>> normalise("kling-2.6"), normalise("kling-3.0-turbo"), normalise("kling-v9")
    ('kling-v2-6', 'kling-3.0-turbo', 'kling-v9')
    """
    found = model(name)
    return name if found is None else found.name


def legacy_name(name: str) -> str:
    """The name to send as ``model_name`` on the ``/v1`` routes (unknown names as given)."""
    found = model(name)
    return name if found is None or found.legacy is None else found.legacy


def requested(kind: JobKind, request: Mapping[str, Any]) -> str | None:
    """The model a video job asks for (``model_name``, else the ``/v1`` default); None for a
    kind that is not a video."""
    if kind not in KIND_ROUTES:
        return None
    name = request.get("model_name")
    return name if isinstance(name, str) and name else NEW_KIND_DEFAULTS.get(kind, DEFAULT_MODEL)


def choose(kind: JobKind, request: Mapping[str, Any], api: Api = Api.AUTO) -> Target:
    """Where a job goes: its kind (the ``/v1`` route) or its model's path on the new API.

    The new API when ``api`` is ``new`` and the new API serves the model for this kind, or (the
    default ``auto``) when the model lives there only; the kind's ``/v1`` route otherwise: unknown
    models too, requests without ``model_name`` (kling-v1 is not on the new API), and every job
    under ``api: legacy`` (one whose model the ``/v1`` routes do not serve is refused by the
    manifest's checks: :func:`only_on_new`).

    >>> choose(JobKind.IMAGE2VIDEO, {"model_name": "kling-3.0-turbo"})
    ModelPath(kind=<JobKind.IMAGE2VIDEO: 'image2video'>, path='image-to-video/kling-3.0-turbo')
    >>> choose(JobKind.IMAGE2VIDEO, {"model_name": "kling-3.0"})
    <JobKind.IMAGE2VIDEO: 'image2video'>
    """
    return target_of(kind, requested(kind, request), api)


@functools.lru_cache(maxsize=1024)
def target_of(kind: JobKind, name: str | None, api: Api) -> Target:
    """:func:`choose` by the only things it depends on: a manifest of 100,000 jobs asks for a
    handful of (kind, model, api), once each."""
    if name is not None and kind in NEW_KIND_DEFAULTS:
        return new_only(kind, name)
    found = None if name is None else model(name)
    if found is None or found.new is None:
        return kind
    route = KIND_ROUTES[kind]
    on_new = route in found.new_routes
    only_new = route not in found.legacy_routes
    if on_new and (api is Api.NEW or (api is Api.AUTO and only_new)):
        return ModelPath(kind, f"{route}/{found.new}")
    return kind


def only_on_new(kind: JobKind, request: Mapping[str, Any]) -> str | None:
    """The job's model, when the new API serves it for this kind and the ``/v1`` routes do not
    (so ``provider.api: legacy`` cannot send it).

    >>> only_on_new(JobKind.TEXT2VIDEO, {"model_name": "kling-3.0-turbo"})
    'kling-3.0-turbo'
    >>> only_on_new(JobKind.TEXT2VIDEO, {"model_name": "kling-3.0"}) is None
    True
    """
    name = requested(kind, request)  # what api: auto sends to the new API is only served there
    return name if isinstance(target_of(kind, name, Api.AUTO), ModelPath) else None


def new_only(kind: JobKind, name: str) -> ModelPath:
    """The path of an omni-video or motion-control job: kbatch sends these kinds to the new API
    whatever ``provider.api`` says (their ``/v1`` pages are not in the vendor's snapshot). A
    model the route does not serve keeps its name in the path (the schema refuses it first).

    >>> new_only(JobKind.OMNI_VIDEO, "kling-video-o1").path
    'omni-video/kling-o1'
    >>> new_only(JobKind.MOTION_CONTROL, "kling-v3").path
    'motion-control/kling-3.0'
    """
    route = KIND_ROUTES[kind]
    found = model(name)
    if found is not None and found.new is not None and route in found.new_routes:
        return ModelPath(kind, f"{route}/{found.new}")
    return ModelPath(kind, f"{route}/{name}")


def spec(target: ModelPath) -> PathSpec:
    """What a path takes; KeyError for a path kbatch does not know."""
    return PATHS[target.path]


__all__ = [
    "DEFAULT_MODEL",
    "KIND_ROUTES",
    "MODELS",
    "PATHS",
    "PathSpec",
    "Route",
    "VideoModel",
    "choose",
    "legacy_name",
    "model",
    "new_only",
    "normalise",
    "only_on_new",
    "requested",
    "spec",
    "target_of",
]
