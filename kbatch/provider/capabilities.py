"""What each model accepts, as data: Kling's official capability maps (KLING_API.md and the
vendor's pages, ``kling-guide-capability-map-video.md`` and ``-image.md``, 2026-09).

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

Models that have left Kling's capability maps and price lists are still answered by Kling, so
they stay accepted, but are marked legacy (:func:`is_legacy`): ``kbatch validate`` and ``plan``
warn about them and suggest a current one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from kbatch.provider.catalogue import JobKind
from kbatch.provider.videomodels import SPELLINGS

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
        "voice_list": ("voice_list",),
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
    #: Whether an end frame alone (image_tail without image) is taken: the current models do
    #: not ("End Frame Only: Not Supported"); the older ones were never checked for it.
    tail_only: bool = True
    #: Gone from Kling's capability map and price list, still answered: accepted, warned about.
    legacy: bool = False

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
#: kling-v3's modes: std is billed as 720p, pro as 1080p, 4k is native 4K (2026-04-23).
_V3_MODES = ("std", "pro", "4k")
_NO_EXTRAS = MappingProxyType({"image_tail": NONE})
_PRO_TAIL = MappingProxyType({"image_tail": _pairs(("pro", "5"), ("pro", "10"))})
_PRO_CLASSIC = _pairs(("pro", "5"), ("pro", "10"))

#: The official capability map for image2video, per model. The models before kling-v2-5-turbo
#: have left the map (2026-05): their rows are KLING_API.md's first capability map.
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
            legacy=True,
        ),
        "kling-v1-5": Capability(
            _STD_PRO,
            CLASSIC_DURATIONS,
            {
                "image_tail": _PRO_CLASSIC,
                "masks": _pairs(("pro", "5")),
                "camera_control": _pairs(("pro", "5")),
                "cfg_scale": ANY,
            },
            camera_types=("simple",),
            legacy=True,
        ),
        "kling-v1-6": Capability(
            _STD_PRO, CLASSIC_DURATIONS, {**_PRO_TAIL, "cfg_scale": ANY}, legacy=True
        ),
        "kling-v2-master": Capability((), CLASSIC_DURATIONS, _NO_EXTRAS, legacy=True),
        "kling-v2-1-master": Capability((), CLASSIC_DURATIONS, _NO_EXTRAS, legacy=True),
        "kling-v2-1": Capability(_STD_PRO, CLASSIC_DURATIONS, _PRO_TAIL, legacy=True),
        # First/last frame: 1080p (pro) only.
        "kling-v2-5-turbo": Capability(_STD_PRO, CLASSIC_DURATIONS, _PRO_TAIL, tail_only=False),
        # First/last frame: 1080p silent only; sound and voices: 1080p (pro), 5 or 10 s.
        "kling-v2-6": Capability(
            _STD_PRO,
            CLASSIC_DURATIONS,
            {**_PRO_TAIL, "sound": _PRO_CLASSIC, "voice_list": _PRO_CLASSIC},
            silent_only=frozenset({"image_tail"}),
            tail_only=False,
        ),
        # First/last frames, multi-shot and elements; multi-shot with first/last frames since
        # 2026-05-07.
        "kling-v3": Capability(
            _V3_MODES,
            V3_DURATIONS,
            {"image_tail": ANY, "sound": ANY, "multi_shot": ANY, "element_list": ANY},
            tail_only=False,
        ),
    }
)

#: text2video, per model: camera control on kling-v1 (std, 5 s), cfg_scale on the kling-v1
#: family, sound on kling-v2-6 (pro) and kling-v3, shots on kling-v3.
TEXT2VIDEO: Mapping[str, Capability] = MappingProxyType(
    {
        "kling-v1": Capability(
            _STD_PRO,
            CLASSIC_DURATIONS,
            {"camera_control": _pairs(("std", "5")), "cfg_scale": ANY},
            legacy=True,
        ),
        "kling-v1-6": Capability(_STD_PRO, CLASSIC_DURATIONS, {"cfg_scale": ANY}, legacy=True),
        "kling-v2-master": Capability((), CLASSIC_DURATIONS, legacy=True),
        "kling-v2-1-master": Capability((), CLASSIC_DURATIONS, legacy=True),
        "kling-v2-5-turbo": Capability(_STD_PRO, CLASSIC_DURATIONS),
        "kling-v2-6": Capability(_STD_PRO, CLASSIC_DURATIONS, {"sound": _PRO_CLASSIC}),
        "kling-v3": Capability(_V3_MODES, V3_DURATIONS, {"sound": ANY, "multi_shot": ANY}),
    }
)

#: The image models per kind, and whether each is legacy (gone from Kling's image capability
#: map, still answered). text2image: kling-v3 and kling-v2-1 are today's; multi-image2image:
#: kling-v2-1 on Kling's own route, kling-v2 on the gateways' legacy route.
IMAGE_MODELS: Mapping[JobKind, Mapping[str, bool]] = MappingProxyType(
    {
        JobKind.TEXT2IMAGE: MappingProxyType(
            {
                "kling-v3": False,
                "kling-v2-1": False,
                "kling-v1": True,
                "kling-v1-5": True,
                "kling-v2": True,
                "kling-v2-new": True,
            }
        ),
        JobKind.MULTI_IMAGE2IMAGE: MappingProxyType({"kling-v2-1": False, "kling-v2": True}),
    }
)
#: A current model to suggest instead of a legacy one, per kind.
SUGGESTED: Mapping[JobKind, str] = MappingProxyType(
    {
        JobKind.IMAGE2VIDEO: "kling-v3",
        JobKind.TEXT2VIDEO: "kling-v3",
        JobKind.TEXT2IMAGE: "kling-v3",
        JobKind.MULTI_IMAGE2IMAGE: "kling-v2-1",
    }
)

#: The model a video request without model_name gets: the route's default, kling-v1 (legacy).
#: kbatch sends such a job unchanged (a model_name would change its fingerprint), checks and
#: prices it as kling-v1, and warns.
DEFAULT_VIDEO_MODEL = "kling-v1"
#: The model a text2image request without model_name gets (kling-image-2.1-generation.md).
DEFAULT_TEXT2IMAGE_MODEL = "kling-v3"


def canonical(model: str) -> str:
    """A model's one spelling here: the ``/v1`` name where it has one.

    >>> canonical("kling-2.6"), canonical("kling-v2-6"), canonical("kling-3.0-turbo")
    ('kling-v2-6', 'kling-v2-6', 'kling-3.0-turbo')
    """
    found = SPELLINGS.get(model.strip().lower())  # the models' table: catalogue.MODELS
    return model if found is None else found.name


@dataclass(frozen=True, slots=True)
class PathCapability:
    """What one path of Kling's new API takes, in a manifest's (``/v1``) words, from its page
    (``kling-3.0-turbo-t2v.md``, ``-i2v.md``, ``kling-omni-3.0-i2v.md``, ``kling-2.6-*.md``,
    ``kling-2.5-turbo-*.md``, 2026-09): ``mode`` std is 720p, pro 1080p, 4k 4K."""

    modes: tuple[str, ...]
    durations: tuple[str, ...]
    prompt_limit: int = 2500
    #: settings.aspect_ratio (text-to-video only); empty: the path has none.
    aspect_ratios: tuple[str, ...] = ()
    #: The modes native audio is made in; empty: no audio setting.
    sound_modes: tuple[str, ...] = ()
    #: The modes a last frame is taken in; empty: no last frame.
    tail_modes: tuple[str, ...] = ()
    #: A last frame makes a silent video only (2.6: the capability map's "1080p silent").
    tail_silent: bool = False
    elements: int = 0
    voices: int = 0
    #: Multi-shot written in the prompt (``shot n, m, words;``).
    shots: bool = False
    #: Whether the path has settings.multi_shot (false: shots in the prompt only).
    multi_shot_setting: bool = False


_HD = ("std", "pro")
_HD_4K = ("std", "pro", "4k")
_RATIOS = ("16:9", "9:16", "1:1")
_LONG_PROMPT = 3072
#: The new API's video paths, by path (``{route}/{new name}``).
PATHS: Mapping[str, PathCapability] = MappingProxyType(
    {
        "text-to-video/kling-3.0-turbo": PathCapability(
            _HD, V3_DURATIONS, _LONG_PROMPT, _RATIOS, shots=True
        ),
        "image-to-video/kling-3.0-turbo": PathCapability(_HD, V3_DURATIONS, shots=True),
        "text-to-video/kling-3.0": PathCapability(
            _HD_4K, V3_DURATIONS, _LONG_PROMPT, _RATIOS, _HD_4K, shots=True, multi_shot_setting=True
        ),
        "image-to-video/kling-3.0": PathCapability(
            _HD_4K,
            V3_DURATIONS,
            _LONG_PROMPT,
            sound_modes=_HD_4K,
            tail_modes=_HD_4K,
            elements=3,
            shots=True,
            multi_shot_setting=True,
        ),
        "text-to-video/kling-2.6": PathCapability(
            _HD, CLASSIC_DURATIONS, aspect_ratios=_RATIOS, sound_modes=("pro",)
        ),
        "image-to-video/kling-2.6": PathCapability(
            _HD,
            CLASSIC_DURATIONS,
            sound_modes=("pro",),
            tail_modes=("pro",),
            tail_silent=True,
            voices=2,
        ),
        "text-to-video/kling-2.5-turbo": PathCapability(
            _HD, CLASSIC_DURATIONS, aspect_ratios=_RATIOS
        ),
        "image-to-video/kling-2.5-turbo": PathCapability(
            _HD, CLASSIC_DURATIONS, tail_modes=("pro",)
        ),
    }
)


def on_path(path: str) -> PathCapability | None:
    """What a path of the new API takes; None for one kbatch has no data of (omni, motion).

    >>> on_path("image-to-video/kling-3.0-turbo").tail_modes
    ()
    """
    return PATHS.get(path)


def capability(model: str, *, text: bool = False) -> Capability:
    """A model's capabilities for image2video (or text2video); KeyError for a model the map
    does not know."""
    return (TEXT2VIDEO if text else IMAGE2VIDEO)[canonical(model)]


def is_legacy(kind: JobKind, model: str | None) -> bool:
    """Whether a job of ``kind`` on ``model`` (None: the route's default) runs on a legacy model:
    one Kling still answers but has taken off its capability map and price list.

    >>> is_legacy(JobKind.IMAGE2VIDEO, None), is_legacy(JobKind.TEXT2VIDEO, "kling-v3")
    (True, False)
    >>> is_legacy(JobKind.TEXT2IMAGE, None), is_legacy(JobKind.MULTI_IMAGE2IMAGE, "kling-v2")
    (False, True)
    >>> is_legacy(JobKind.IMAGE_EXPAND, None)
    False
    """
    if kind in (JobKind.IMAGE2VIDEO, JobKind.TEXT2VIDEO):
        table = TEXT2VIDEO if kind is JobKind.TEXT2VIDEO else IMAGE2VIDEO
        found = table.get(canonical(model or DEFAULT_VIDEO_MODEL))
        return found is not None and found.legacy
    if kind is JobKind.TEXT2IMAGE:
        model = model or DEFAULT_TEXT2IMAGE_MODEL
    return model is not None and IMAGE_MODELS.get(kind, {}).get(model, False)


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
    "DEFAULT_TEXT2IMAGE_MODEL",
    "DEFAULT_VIDEO_MODEL",
    "FEATURES",
    "IMAGE2VIDEO",
    "IMAGE_MODELS",
    "NONE",
    "PATHS",
    "SUGGESTED",
    "TEXT2VIDEO",
    "V3_DURATIONS",
    "Capability",
    "PathCapability",
    "canonical",
    "capability",
    "is_legacy",
    "models_with",
    "on_path",
]
