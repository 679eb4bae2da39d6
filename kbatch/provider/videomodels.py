"""Kling's video models: their two spellings (the ``/v1`` name and the new API's), and which
routes each API serves them on. Which model takes which mode, duration or sound is
:mod:`kbatch.provider.capabilities`; where a job goes, :mod:`kbatch.provider.models`."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from kbatch.provider.catalogue import JobKind


class Route(enum.StrEnum):
    """What a video model is asked to do; on the new API, the first part of its path."""

    TEXT_TO_VIDEO = "text-to-video"
    IMAGE_TO_VIDEO = "image-to-video"
    OMNI_VIDEO = "omni-video"
    MOTION_CONTROL = "motion-control"


#: The route of each video kind.
KIND_ROUTES: Mapping[JobKind, Route] = MappingProxyType(
    {
        JobKind.TEXT2VIDEO: Route.TEXT_TO_VIDEO,
        JobKind.IMAGE2VIDEO: Route.IMAGE_TO_VIDEO,
        JobKind.OMNI_VIDEO: Route.OMNI_VIDEO,
        JobKind.MOTION_CONTROL: Route.MOTION_CONTROL,
    }
)


@dataclass(frozen=True, slots=True)
class VideoModel:
    """One model: its ``/v1`` name and routes, its new-API name and routes (None/empty: that API
    does not serve it)."""

    legacy: str | None
    new: str | None
    legacy_routes: frozenset[Route] = frozenset()
    new_routes: frozenset[Route] = frozenset()

    @property
    def name(self) -> str:
        """The canonical spelling: the ``/v1`` name where there is one."""
        name = self.legacy or self.new
        assert name is not None, "a model has at least one name"
        return name


_T2V, _I2V = Route.TEXT_TO_VIDEO, Route.IMAGE_TO_VIDEO
_BOTH = frozenset({_T2V, _I2V})
_OMNI = frozenset({Route.OMNI_VIDEO})

#: Every video model kbatch knows. The ``/v1`` omni-video and motion-control routes are named by
#: the changelog only (their pages are not in the snapshot).
MODELS: tuple[VideoModel, ...] = (
    VideoModel("kling-v1", None, _BOTH),
    VideoModel("kling-v1-5", None, frozenset({_I2V})),
    VideoModel("kling-v1-6", None, _BOTH),
    VideoModel("kling-v2-master", None, _BOTH),
    VideoModel("kling-v2-1", None, frozenset({_I2V})),
    VideoModel("kling-v2-1-master", None, _BOTH),
    VideoModel("kling-v2-5-turbo", "kling-2.5-turbo", _BOTH, _BOTH),
    VideoModel("kling-v2-6", "kling-2.6", _BOTH, frozenset({_T2V, _I2V, Route.MOTION_CONTROL})),
    VideoModel("kling-v3", "kling-3.0", _BOTH, frozenset({_T2V, _I2V, Route.MOTION_CONTROL})),
    VideoModel(None, "kling-3.0-turbo", frozenset(), _BOTH),  # 2026-06-17, new API only
    VideoModel("kling-v3-omni", "kling-3.0-omni", _OMNI, _OMNI),
    VideoModel("kling-video-o1", "kling-o1", _OMNI, _OMNI),
)
#: Each spelling of a model: the /v1 name (and the new API's, for the same model).
SPELLINGS: Mapping[str, VideoModel] = MappingProxyType(
    {name: m for m in MODELS for name in (m.legacy, m.new) if name is not None}
)
