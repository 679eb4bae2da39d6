"""What kbatch knows about Kling and its gateways, as data.

For each job kind: its pack type (Kling counts parallel tasks per pack type) and which fields hold
images. For each provider: the text and count limits its documentation gives (KLING_API.md).
A rule that differs between providers lives here, never as an ``if provider == ...`` elsewhere.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


class JobKind(enum.StrEnum):
    IMAGE_EXPAND = "image_expand"
    MULTI_IMAGE2IMAGE = "multi_image2image"
    IMAGE2VIDEO = "image2video"


class PackType(enum.StrEnum):
    """Kling's resource packs: parallel-task limits are counted per pack type."""

    IMAGE = "image"
    VIDEO = "video"


class ProviderName(enum.StrEnum):
    KLING = "kling"
    COMETAPI = "cometapi"
    ANYAPI = "anyapi"
    SIMULATOR = "simulator"


PACK: Mapping[JobKind, PackType] = MappingProxyType(
    {
        JobKind.IMAGE_EXPAND: PackType.IMAGE,
        JobKind.MULTI_IMAGE2IMAGE: PackType.IMAGE,
        JobKind.IMAGE2VIDEO: PackType.VIDEO,
    }
)

#: Fields holding one image, per kind. The first is the main image (the aspect-ratio rule applies).
IMAGE_FIELDS: Mapping[JobKind, tuple[str, ...]] = MappingProxyType(
    {
        JobKind.IMAGE_EXPAND: ("image",),
        JobKind.MULTI_IMAGE2IMAGE: ("scene_image", "style_image"),
        JobKind.IMAGE2VIDEO: ("image", "image_tail", "static_mask"),
    }
)
MAIN_IMAGE = "image"

EXPANSION_SIDES = (
    "up_expansion_ratio",
    "down_expansion_ratio",
    "left_expansion_ratio",
    "right_expansion_ratio",
)
#: The expanded canvas may be at most this many times the original area.
MAX_EXPANSION_AREA = 3.0

#: image2video fields that cannot be combined: at most one group per job.
EXCLUSIVE_GROUPS: tuple[tuple[str, ...], ...] = (
    ("image_tail",),
    ("static_mask", "dynamic_masks"),
    ("camera_control",),
)
CAMERA_AXES = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")
#: Models of the kling-v2 family do not take cfg_scale.
NO_CFG_SCALE_PREFIX = "kling-v2"

_OFFICIAL_TEXT = {
    (JobKind.IMAGE_EXPAND, "prompt"): 2500,
    (JobKind.MULTI_IMAGE2IMAGE, "prompt"): 2500,
    (JobKind.IMAGE2VIDEO, "prompt"): 2500,
    (JobKind.IMAGE2VIDEO, "negative_prompt"): 2500,
}
_GATEWAY_TEXT = {
    **_OFFICIAL_TEXT,
    (JobKind.IMAGE2VIDEO, "prompt"): 500,
    (JobKind.IMAGE2VIDEO, "negative_prompt"): 200,
}


@dataclass(frozen=True, slots=True)
class Provider:
    """A provider's documented limits."""

    name: ProviderName
    text_limits: Mapping[tuple[JobKind, str], int] = field(default_factory=dict)
    subjects: tuple[int, int] = (1, 4)


PROVIDERS: Mapping[ProviderName, Provider] = MappingProxyType(
    {
        ProviderName.KLING: Provider(ProviderName.KLING, _OFFICIAL_TEXT, (1, 4)),
        # CometAPI's pages give 500/200 characters for image2video and 2..4 subjects.
        ProviderName.COMETAPI: Provider(ProviderName.COMETAPI, _GATEWAY_TEXT, (2, 4)),
        # AnyAPI's Kling contract is unverified: assume the same as CometAPI.
        ProviderName.ANYAPI: Provider(ProviderName.ANYAPI, _GATEWAY_TEXT, (2, 4)),
        # The simulator is as strict as the official API.
        ProviderName.SIMULATOR: Provider(ProviderName.SIMULATOR, _OFFICIAL_TEXT, (1, 4)),
    }
)


def slots(kind: JobKind, n: int) -> int:
    """Parallel-task slots a task holds: 1 per video, ``n`` per image task."""
    return n if PACK[kind] is PackType.IMAGE else 1
