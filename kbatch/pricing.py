"""What a job may cost, in Kling units, before it runs: the figures the budget and ``kbatch plan``
use.

Kling charges from resource packs in "units" and reports each finished task's charge as
``final_unit_deduction``; kbatch counts spending from that field only. Before a task runs, the
budget needs an upper estimate, which this table gives:

- video (image2video, text2video): units per 5 s of video, by model and mode (``std`` is billed
  as 720p, ``pro`` as 1080p, ``4k`` as native 4K), with sound on, with voices, times
  ``duration / 5``;
- images: units per generated image, times ``n`` (text2image by model, and whether an image is
  given); omni image 8 per image, 16 for kling-v3-omni at 4k, a series at its ``series_amount``
  (``auto``: the most, 9, as an estimate);
- speech, sound effects and sound for a video (``tts``, ``text2audio``, ``video2audio``): units
  a call (:data:`PER_CALL`: 0.05, 0.25, 0.25, the video price page's figures, whatever the
  length), over-written by ``pricing: <kind>: <units>``;
- video effects: units per effect video. Kling's pages give no per-effect prices (the "Effects
  Pricing List" they link to is not in the snapshot), so every scene costs
  :data:`EFFECT_UNITS` (3.5, kbatch's figure for a 5 s pro video) unless the manifest's
  ``pricing: video_effects:`` says otherwise, for all scenes or by scene.

Video and image units come from separate resource packs and are different currencies: figures
are kept per pack (:data:`Units`), never added into one.

Where the defaults come from: Kling's price pages (``kling-pricing-video.md`` and
``kling-pricing-image.md`` in the vendor snapshot of 2026-09, KLING_API.md "Kling in late 2026"),
per second for video: Kling 3.0 silent 0.6/0.8/3 units per second (720p/1080p/4K), with native
audio 0.9/1.2/3; Kling 3.0 Turbo 0.8/1.0 (no audio); Kling 2.6 0.3/0.5, audio 1.0 (1080p only),
voices 1.2 (1080p only); Kling 2.5 Turbo 0.3/0.5. A model is priced the same in either spelling
(``kling-v3`` / ``kling-3.0``). Images: Kling Image 3.0 8 per image, Image 2.1 4 from text and
8 from an image, multi-image 16, outpainting 8. The older models (kling-v1 to kling-v2-1-master)
have left the price pages: their figures are the resource-pack rates kbatch had before, kept.
They are estimates, not a bill: a manifest sets its own with ``pricing:`` (README, "Pricing"),
and the units actually charged are always the provider's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from kbatch.blockprices import (
    FACE_KINDS,
    PER_CALL,
    face_key,
    face_price,
    faces_over,
    per_call_over,
)
from kbatch.provider.capabilities import DEFAULT_TEXT2IMAGE_MODEL, DEFAULT_VIDEO_MODEL, canonical
from kbatch.provider.catalogue import (
    NEW_API_KINDS,
    NEW_KIND_DEFAULTS,
    PACK,
    JobKind,
    PackType,
    request_slots,
)

#: Units per resource pack. A pack that is absent has spent (or may spend) nothing.
Units = Mapping[PackType, float]
#: Units per 5 s of one model's video, by billing mode: ``std``, ``pro``, ``4k``, each with
#: ``+sound`` (sound on) or ``+voice`` (sound on, with a voice_list).
Rates = Mapping[str, float]


def _rates(**per_5s: float) -> Rates:
    return MappingProxyType({mode.replace("_", "+"): units for mode, units in per_5s.items()})


_UHD = "4k"
#: Default units per 5 s of video, by model and billing mode.
VIDEO_RATES: Mapping[str, Rates] = MappingProxyType(
    {
        # Legacy models, off the price pages: kbatch's earlier figures.
        "kling-v1": _rates(std=1.0, pro=3.5),
        "kling-v1-5": _rates(std=2.0, pro=3.5),
        "kling-v1-6": _rates(std=2.0, pro=3.5),
        "kling-v2-master": _rates(std=10.0, pro=10.0),
        "kling-v2-1": _rates(std=2.0, pro=3.5),
        "kling-v2-1-master": _rates(std=10.0, pro=10.0),
        # kling-pricing-video.md, units per second x 5.
        "kling-v2-5-turbo": _rates(std=1.5, pro=2.5),
        "kling-v2-6": _rates(std=1.5, pro=2.5, pro_sound=5.0, pro_voice=6.0),
        # Kling 3.0 Turbo (new API only): 0.8 units/s at 720p, 1.0 at 1080p; no audio.
        "kling-3.0-turbo": _rates(std=4.0, pro=5.0),
        "kling-v3": MappingProxyType(
            {
                "std": 3.0,
                "pro": 4.0,
                _UHD: 15.0,
                "std+sound": 4.5,
                "pro+sound": 6.0,
                "4k+sound": 15.0,
            }
        ),
        # Omni video (kling-pricing-video.md): with native audio, or with a reference video
        # ("+video": billed as video input; Kling makes no native audio with one).
        "kling-v3-omni": MappingProxyType(
            {
                "std": 3.0,
                "pro": 4.0,
                _UHD: 15.0,
                "std+sound": 4.0,
                "pro+sound": 5.0,
                "4k+sound": 15.0,
                "std+video": 4.5,
                "pro+video": 6.0,
                "4k+video": 15.0,
            }
        ),
        "kling-video-o1": _rates(std=3.0, pro=4.0, std_video=4.5, pro_video=6.0),
    }
)
#: Motion control per 5 s, by model (kling-pricing-video.md): billed on the seconds made.
MOTION_RATES: Mapping[str, Rates] = MappingProxyType(
    {"kling-v3": _rates(std=4.5, pro=6.0), "kling-v2-6": _rates(std=2.5, pro=4.0)}
)
#: A motion-control task lasts as long as its reference video, at most 10 s with
#: character_orientation image and 30 s with video: the estimate when the length is unknown.
MOTION_LONGEST: Mapping[str, int] = MappingProxyType({"image": 10, "video": 30})
#: Sound on a model whose price the table lacks (kbatch checks it is not asked for): estimated at
#: twice the silent price, to err early.
SOUND_FACTOR = 2.0
#: Default units per generated image, by kind.
PER_IMAGE: Mapping[JobKind, float] = MappingProxyType(
    {
        JobKind.IMAGE_EXPAND: 8.0,
        JobKind.MULTI_IMAGE2IMAGE: 16.0,
        JobKind.TEXT2IMAGE: 8.0,
        JobKind.OMNI_IMAGE: 8.0,
    }
)
#: Omni image: the model and resolution that cost twice the per-image figure.
OMNI_DOUBLE = ("kling-v3-omni", "4k")
#: Units of one effect video when nothing says otherwise (no per-effect prices published).
EFFECT_UNITS = 3.5
#: The key under ``pricing: video_effects:`` of the scenes not named there.
EFFECT_DEFAULT = "default"
#: text2image by (model, whether an image is given); a model not here costs PER_IMAGE's figure.
TEXT2IMAGE_RATES: Mapping[tuple[str, bool], float] = MappingProxyType(
    {
        ("kling-v3", False): 8.0,
        ("kling-v3", True): 8.0,
        ("kling-v2-1", False): 4.0,
        ("kling-v2-1", True): 8.0,
    }
)

#: What decides a job's price: its kind, then (model, billing mode, duration) for a video, or
#: (model, "image" when one is given, n) for text2image, or ("", "", n).
Key = tuple[JobKind, str, str, int]


def key(kind: JobKind, request: Mapping[str, Any]) -> Key:
    """The few fields of a request its price depends on (cheap to keep for a million jobs).

    >>> key(JobKind.IMAGE2VIDEO, {"mode": "4k", "sound": "on", "model_name": "kling-v3"})
    (<JobKind.IMAGE2VIDEO: 'image2video'>, 'kling-v3', '4k+sound', 5)
    >>> key(JobKind.TEXT2VIDEO, {"model_name": "kling-2.6", "duration": "10"})
    (<JobKind.TEXT2VIDEO: 'text2video'>, 'kling-v2-6', 'std', 10)
    >>> key(JobKind.TEXT2IMAGE, {"n": 2})
    (<JobKind.TEXT2IMAGE: 'text2image'>, 'kling-v3', '', 2)
    """
    if kind in NEW_API_KINDS:
        return _new_kind_key(kind, request)
    if kind in FACE_KINDS:
        return face_key(kind, request)
    if kind is JobKind.VIDEO_EFFECTS:
        return kind, str(request.get("effect_scene", "")), "", 1
    if kind in PER_CALL:  # a price a call
        return kind, "", "", 1
    if PACK[kind] is PackType.VIDEO:  # image2video and text2video: the same prices
        model = canonical(str(request.get("model_name", DEFAULT_VIDEO_MODEL)))  # either spelling
        mode = str(request["mode"]) if request.get("mode") in ("pro", _UHD) else "std"
        if request.get("sound") == "on":
            mode += "+voice" if "voice_list" in request else "+sound"
        return kind, model, mode, int(str(request.get("duration", 5)))
    if kind is JobKind.OMNI_IMAGE:
        model = str(request.get("model_name", "kling-image-o1"))
        resolution = str(request.get("resolution", "1k"))
        return kind, model, resolution, request_slots(kind, request)
    if kind is JobKind.TEXT2IMAGE:
        model = str(request.get("model_name", DEFAULT_TEXT2IMAGE_MODEL))
        return kind, model, "image" if "image" in request else "", int(request.get("n", 1))
    return kind, "", "", int(request.get("n", 1))


def _new_kind_key(kind: JobKind, request: Mapping[str, Any]) -> Key:
    """Omni video: model, resolution (std 720p, pro 1080p, 4k), ``+sound`` for native audio or
    ``+video`` with a reference video, and the duration. Motion control: model, resolution and
    the reference video's seconds (``duration``, measured by the manifest check), else the
    orientation's longest.

    >>> _new_kind_key(JobKind.OMNI_VIDEO, {"mode": "pro", "video": "https://x/v.mp4"})
    (<JobKind.OMNI_VIDEO: 'omni_video'>, 'kling-v3-omni', 'pro+video', 5)
    >>> _new_kind_key(JobKind.MOTION_CONTROL, {"character_orientation": "video"})
    (<JobKind.MOTION_CONTROL: 'motion_control'>, 'kling-v2-6', 'std', 30)
    """
    name = str(request.get("model_name", NEW_KIND_DEFAULTS[kind]))
    model = canonical(name)
    mode = str(request["mode"]) if request.get("mode") in ("pro", _UHD) else "std"
    if kind is JobKind.MOTION_CONTROL:
        longest = MOTION_LONGEST.get(str(request.get("character_orientation")), 30)
        return kind, model, mode, int(str(request.get("duration", longest)))
    if request.get("video"):
        mode += "+video"
    elif request.get("audio") == "native":
        mode += "+sound"
    return kind, model, mode, int(str(request.get("duration", 5)))


@dataclass(frozen=True)
class PriceTable:
    """Units per 5 s of video by model and billing mode, and per image by kind (and, for
    text2image, by model)."""

    video: Mapping[str, Rates] = field(default_factory=lambda: VIDEO_RATES)
    per_image: Mapping[JobKind, float] = field(default_factory=lambda: PER_IMAGE)
    text2image: Mapping[tuple[str, bool], float] = field(default_factory=lambda: TEXT2IMAGE_RATES)
    overridden: bool = False  # the manifest's pricing: changed something
    #: Units of one effect video, by scene; ``default`` for the others.
    effects: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({EFFECT_DEFAULT: EFFECT_UNITS})
    )
    per_call: Mapping[JobKind, float] = field(default_factory=lambda: PER_CALL)
    #: slice faces: ``avatar:std``, ``avatar:pro`` (per second), ``lip_sync`` (per 5 s).
    faces: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def price(self, key: Key) -> float:
        """Units one task with this key may cost."""
        kind, model, mode, count = key
        if kind in FACE_KINDS:
            return face_price(self.faces, key)
        if kind is JobKind.MOTION_CONTROL:
            rates = MOTION_RATES.get(model) or MOTION_RATES["kling-v3"]  # unknown: the dearer
            return rates.get(mode, max(rates.values())) * count / 5
        if kind is JobKind.VIDEO_EFFECTS:
            return self.effects.get(model, self.effects.get(EFFECT_DEFAULT, EFFECT_UNITS))
        if kind in self.per_call:
            return self.per_call[kind] * count
        if kind is JobKind.OMNI_IMAGE:
            return self.per_image[kind] * count * (2 if (model, mode) == OMNI_DOUBLE else 1)
        if PACK[kind] is PackType.VIDEO:
            return self.per_5s(model, mode) * count / 5
        if kind is JobKind.TEXT2IMAGE:
            fallback = self.per_image[kind]
            return self.text2image.get((model, mode == "image"), fallback) * count
        return self.per_image[kind] * count

    def per_5s(self, model: str, mode: str) -> float:
        """Units per 5 s of a model's video in a billing mode. What the table lacks errs high:
        an unknown model (the schema refuses them) costs the dearest any model has in that mode;
        a mode a model lacks costs the dearest any model has, and sound twice the silent price."""
        rates = self.video.get(model)
        if rates is None:
            known = [found[mode] for found in self.video.values() if mode in found]
            return (
                max(known) if known else max(max(found.values()) for found in self.video.values())
            )
        if mode in rates:
            return rates[mode]
        base, _, extra = mode.partition("+")
        silent = rates.get(base) or max(found.get(base, 0.0) for found in self.video.values())
        return silent * (SOUND_FACTOR if extra else 1.0)

    def estimate(self, kind: JobKind, request: Mapping[str, Any]) -> float:
        return self.price(key(kind, request))

    def override(self, written: Mapping[str, Any]) -> PriceTable:
        """This table with a manifest's ``pricing:`` section laid over it. A video price names
        the silent one; sound and voices keep their proportion to it (twice it where kbatch has
        no figure). A text2image price is every text2image model's."""
        if not written:
            return self
        video = dict(self.video)
        for model, modes in written.get("image2video", {}).items():
            model = canonical(model)  # either spelling names the same model's prices
            video[model] = _laid_over(video.get(model, {}), modes)
        images = dict(self.per_image)
        for kind in self.per_image:
            if kind.value in written:
                images[kind] = float(written[kind.value])
        by_model = {} if JobKind.TEXT2IMAGE.value in written else self.text2image
        return PriceTable(
            MappingProxyType(video),
            MappingProxyType(images),
            MappingProxyType(dict(by_model)),
            overridden=True,
            effects=_effects_over(self.effects, written.get(JobKind.VIDEO_EFFECTS.value)),
            per_call=per_call_over(self.per_call, written),
            faces=faces_over(self.faces, written),
        )


def _effects_over(effects: Mapping[str, float], written: Any) -> Mapping[str, float]:
    """Effect prices with ``pricing: video_effects:`` laid over: one figure for every scene,
    or figures by scene (``default``: the scenes not named).

    >>> dict(_effects_over({"default": 3.5}, {"hug_pro": 5}))
    {'default': 3.5, 'hug_pro': 5.0}
    >>> dict(_effects_over({"default": 3.5, "hug_pro": 5.0}, 2))
    {'default': 2.0}
    """
    if written is None:
        return effects
    if isinstance(written, Mapping):
        return MappingProxyType({**effects, **{k: float(v) for k, v in written.items()}})
    return MappingProxyType({EFFECT_DEFAULT: float(written)})


def _laid_over(rates: Rates, written: Mapping[str, Any]) -> Rates:
    """A model's rates with silent prices replaced, and their sound and voice prices scaled alike.

    >>> dict(_laid_over(VIDEO_RATES["kling-v2-6"], {"pro": 5}))
    {'std': 1.5, 'pro': 5.0, 'pro+sound': 10.0, 'pro+voice': 12.0}
    """
    out = dict(rates)
    for mode, units in written.items():
        out[mode] = float(units)
        for variant, figure in rates.items():
            if variant.startswith(f"{mode}+") and rates.get(mode):
                out[variant] = figure * float(units) / rates[mode]
    return MappingProxyType(out)


#: kbatch's defaults.
DEFAULT = PriceTable()


def by_pack(items: Iterable[tuple[JobKind, float]]) -> dict[PackType, float]:
    """Units summed per pack, from (kind, units) pairs.

    >>> by_pack([(JobKind.IMAGE2VIDEO, 2.0), (JobKind.IMAGE_EXPAND, 8.0)])
    {<PackType.VIDEO: 'video'>: 2.0, <PackType.IMAGE: 'image'>: 8.0}
    """
    out: dict[PackType, float] = {}
    for kind, units in items:
        out[PACK[kind]] = out.get(PACK[kind], 0.0) + units
    return out


def show_units(units: Units) -> str:
    """Units per pack in words, never one sum of both.

    >>> show_units({PackType.VIDEO: 10.75, PackType.IMAGE: 16.0})
    'image 16, video 10.75'
    >>> show_units({})
    '0'
    """
    shown = [f"{pack.value} {units[pack]:g}" for pack in PackType if units.get(pack)]
    return ", ".join(shown) or "0"
