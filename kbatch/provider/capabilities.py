"""What each video model accepts, as data: Kling's official capability map (KLING_API.md).

Kling refuses at create time (unpaid, 1201) a job that asks a model for what it lacks, but a
batch of them is a batch of failures, so kbatch checks the map before the first request. Kling
adds capabilities without notice: ``provider.check_capabilities: false`` in a manifest turns these
checks off, so a stale table never blocks a user.

Each feature is allowed for a set of (mode, duration) pairs of its model; ``ANY`` is every pair
the model makes, ``NONE`` no pair. A model with one quality has no mode: its pairs use ``""``.

>>> capability("kling-v2-1").allows("image_tail", mode="pro", duration="5")
True
>>> capability("kling-v2-1").allows("image_tail", mode="std", duration="5")
False
>>> capability("kling-v1").where("masks")
'pro or std mode, 5 s'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

Pairs = frozenset[tuple[str, str]]

#: A feature on every (mode, duration) pair of its model, or on none.
ANY: Pairs = frozenset({("*", "*")})
NONE: Pairs = frozenset()
#: Video durations as the API takes them (strings).
CLASSIC_DURATIONS = ("5", "10")
V3_DURATIONS = tuple(str(seconds) for seconds in range(3, 16))
#: The features a job may ask for, by the request fields that ask for them.
FEATURES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "image_tail": ("image_tail",),
        "masks": ("static_mask", "dynamic_masks"),
        "camera_control": ("camera_control",),
        "cfg_scale": ("cfg_scale",),
        "sound": ("sound",),  # only sound: on counts
        "multi_shot": ("multi_shot", "shot_type", "multi_prompt"),
        "element_list": ("element_list",),
    }
)


def _pairs(*pairs: tuple[str, str]) -> Pairs:
    return frozenset(pairs)


@dataclass(frozen=True, slots=True)
class Capability:
    """One model: its modes (empty: one quality), durations, and where each feature works."""

    modes: tuple[str, ...]
    durations: tuple[str, ...]
    features: Mapping[str, Pairs] = field(default_factory=dict)
    #: Features that may not be combined with sound on (kling-v2-6's end frame is silent only).
    silent_only: frozenset[str] = frozenset()
    #: The camera_control types it takes, when it takes camera_control at all.
    camera_types: tuple[str, ...] | None = None

    def allows(self, feature: str, *, mode: str, duration: str) -> bool:
        pairs = self.features.get(feature, NONE)
        return pairs == ANY or (mode if self.modes else "", duration) in pairs

    def where(self, feature: str) -> str:
        """Where a feature works, in words: ``pro mode, 5 s`` ..."""
        pairs = self.features.get(feature, NONE)
        if pairs == ANY:
            return "every mode and duration"
        if not pairs:
            return "nowhere"
        by_mode: dict[str, list[str]] = {}
        for mode, duration in sorted(pairs, key=lambda p: (p[0], int(p[1]))):
            by_mode.setdefault(mode, []).append(duration)
        by_durations: dict[tuple[str, ...], list[str]] = {}
        for mode, durations in by_mode.items():
            by_durations.setdefault(tuple(durations), []).append(mode)
        parts = []
        for spans, modes in by_durations.items():
            seconds = " or ".join(spans) + " s"
            named = " or ".join(mode for mode in modes if mode)
            parts.append(f"{named} mode, {seconds}" if named else seconds)
        return "; ".join(parts)


_STD_PRO = ("std", "pro")
_NO_EXTRAS = MappingProxyType({"image_tail": NONE})
_PRO_TAIL = MappingProxyType({"image_tail": _pairs(("pro", "5"), ("pro", "10"))})

#: The official capability map for image2video, per model.
IMAGE2VIDEO: Mapping[str, Capability] = MappingProxyType(
    {
        "kling-v1": Capability(
            _STD_PRO,
            CLASSIC_DURATIONS,
            {
                "image_tail": _pairs(("std", "5"), ("pro", "5")),
                "masks": _pairs(("std", "5"), ("pro", "5")),
                "cfg_scale": ANY,
            },
        ),
        "kling-v1-5": Capability(
            _STD_PRO,
            CLASSIC_DURATIONS,
            {
                "image_tail": _pairs(("pro", "5"), ("pro", "10")),
                "masks": _pairs(("pro", "5")),
                "camera_control": _pairs(("pro", "5")),
                "cfg_scale": ANY,
            },
            camera_types=("simple",),
        ),
        "kling-v1-6": Capability(_STD_PRO, CLASSIC_DURATIONS, {**_PRO_TAIL, "cfg_scale": ANY}),
        "kling-v2-master": Capability((), CLASSIC_DURATIONS, _NO_EXTRAS),
        "kling-v2-1-master": Capability((), CLASSIC_DURATIONS, _NO_EXTRAS),
        "kling-v2-1": Capability(_STD_PRO, CLASSIC_DURATIONS, _PRO_TAIL),
        "kling-v2-5-turbo": Capability(_STD_PRO, CLASSIC_DURATIONS, _PRO_TAIL),
        "kling-v2-6": Capability(
            _STD_PRO,
            CLASSIC_DURATIONS,
            {**_PRO_TAIL, "sound": _pairs(("pro", "5"), ("pro", "10"))},
            silent_only=frozenset({"image_tail"}),
        ),
        # The end frame of kling-v3 is unverified: not blocked.
        "kling-v3": Capability(
            _STD_PRO,
            V3_DURATIONS,
            {"image_tail": ANY, "sound": ANY, "multi_shot": ANY, "element_list": ANY},
        ),
    }
)

#: text2video, per model: camera control on kling-v1 (std, 5 s), cfg_scale on the kling-v1
#: family, sound on kling-v2-6 (pro) and kling-v3, shots on kling-v3.
TEXT2VIDEO: Mapping[str, Capability] = MappingProxyType(
    {
        "kling-v1": Capability(
            _STD_PRO, CLASSIC_DURATIONS, {"camera_control": _pairs(("std", "5")), "cfg_scale": ANY}
        ),
        "kling-v1-6": Capability(_STD_PRO, CLASSIC_DURATIONS, {"cfg_scale": ANY}),
        "kling-v2-master": Capability((), CLASSIC_DURATIONS),
        "kling-v2-1-master": Capability((), CLASSIC_DURATIONS),
        "kling-v2-5-turbo": Capability(_STD_PRO, CLASSIC_DURATIONS),
        "kling-v2-6": Capability(
            _STD_PRO, CLASSIC_DURATIONS, {"sound": _pairs(("pro", "5"), ("pro", "10"))}
        ),
        "kling-v3": Capability(_STD_PRO, V3_DURATIONS, {"sound": ANY, "multi_shot": ANY}),
    }
)

#: The model a request without model_name gets (KLING_API.md).
DEFAULT_VIDEO_MODEL = "kling-v1"


def capability(model: str, *, text: bool = False) -> Capability:
    """A model's capabilities for image2video (or text2video); KeyError for a model the map
    does not know."""
    return (TEXT2VIDEO if text else IMAGE2VIDEO)[model]


def models_with(feature: str, *, text: bool = False) -> list[str]:
    """The models that take a feature somewhere, for messages.

    >>> models_with("multi_shot")
    ['kling-v3']
    >>> models_with("camera_control", text=True)
    ['kling-v1']
    """
    table = TEXT2VIDEO if text else IMAGE2VIDEO
    return [name for name, cap in table.items() if cap.features.get(feature, NONE)]


__all__ = [
    "ANY",
    "CLASSIC_DURATIONS",
    "DEFAULT_VIDEO_MODEL",
    "FEATURES",
    "IMAGE2VIDEO",
    "NONE",
    "TEXT2VIDEO",
    "V3_DURATIONS",
    "Capability",
    "capability",
    "models_with",
]
