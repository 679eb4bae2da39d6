"""What a job may cost, in Kling units, before it runs: the figures the budget and ``kbatch plan``
use.

Kling charges from resource packs in "units" and reports each finished task's charge as
``final_unit_deduction``; kbatch counts spending from that field only. Before a task runs, the
budget needs an upper estimate, which this table gives:

- image to video: units per 5 s of video, by model and mode (``std``, ``pro``), times
  ``duration / 5``;
- image expansion and multi-image to image: units per generated image, times ``n``.

Video and image units come from separate resource packs and are different currencies (one
published summary: 8 units per expanded image, 16 per multi-image image, against about $0.14 per
video unit): figures are kept per pack (:data:`Units`), never added into one.

Where the defaults come from: Kling does not publish a unit price list in its API reference
(KLING_API.md documents only ``final_unit_deduction``). The defaults are kbatch's own estimates,
taken from the resource-pack rates that Kling's developer console and gateway price pages showed
when this table was written, and rounded up where sources disagreed, so that a budget errs on the
side of stopping early. They are not a bill: a manifest sets its own with ``pricing:`` (README,
"Pricing"), and the units actually charged are always the provider's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from kbatch.provider.catalogue import PACK, JobKind, PackType

#: Units per resource pack. A pack that is absent has spent (or may spend) nothing.
Units = Mapping[PackType, float]

#: Default units per 5 s of video, by model: (std, pro).
VIDEO_PER_5S: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "kling-v1": (1.0, 3.5),
        "kling-v1-5": (2.0, 3.5),
        "kling-v1-6": (2.0, 3.5),
        "kling-v2-master": (10.0, 10.0),
        "kling-v2-1": (2.0, 3.5),
        "kling-v2-1-master": (10.0, 10.0),
        "kling-v2-5-turbo": (2.5, 3.5),
        "kling-v2-6": (2.5, 5.0),
        "kling-v3": (3.5, 7.0),  # no published figure yet: above kling-v2-6, rounded up
    }
)
#: Sound on changes the price; no figure is published: estimated at twice, to err early.
SOUND_FACTOR = 2.0
#: Default units per generated image.
PER_IMAGE: Mapping[JobKind, float] = MappingProxyType(
    # text2image: no published figure; estimated as an expansion, rounded up
    {JobKind.IMAGE_EXPAND: 8.0, JobKind.MULTI_IMAGE2IMAGE: 16.0, JobKind.TEXT2IMAGE: 8.0}
)
#: The model a video request without ``model_name`` gets (KLING_API.md).
DEFAULT_VIDEO_MODEL = "kling-v1"

#: What decides a job's price: its kind, then (model, mode, duration) or the image count.
Key = tuple[JobKind, str, str, int]


def key(kind: JobKind, request: Mapping[str, Any]) -> Key:
    """The few fields of a request its price depends on (cheap to keep for a million jobs)."""
    if PACK[kind] is PackType.VIDEO:  # image2video and text2video: the same prices
        model = str(request.get("model_name", DEFAULT_VIDEO_MODEL))
        mode = "pro" if request.get("mode") == "pro" else "std"
        if request.get("sound") == "on":
            mode += "+sound"
        return kind, model, mode, int(str(request.get("duration", 5)))
    return kind, "", "", int(request.get("n", 1))


@dataclass(frozen=True)
class PriceTable:
    """Units per 5 s of video by model and mode, and per image by kind."""

    video_per_5s: Mapping[str, tuple[float, float]] = field(default_factory=lambda: VIDEO_PER_5S)
    per_image: Mapping[JobKind, float] = field(default_factory=lambda: PER_IMAGE)
    overridden: bool = False  # the manifest's pricing: changed something

    def price(self, key: Key) -> float:
        """Units one task with this key may cost."""
        kind, model, mode, count = key
        if PACK[kind] is PackType.VIDEO:
            # An unknown model (the schema refuses them) is priced as the dearest known one.
            dearest = max(self.video_per_5s.values(), key=max)
            std, pro = self.video_per_5s.get(model, dearest)
            per_5s = pro if mode.startswith("pro") else std
            factor = SOUND_FACTOR if mode.endswith("+sound") else 1.0
            return per_5s * factor * count / 5
        return self.per_image[kind] * count

    def estimate(self, kind: JobKind, request: Mapping[str, Any]) -> float:
        return self.price(key(kind, request))

    def override(self, written: Mapping[str, Any]) -> PriceTable:
        """This table with a manifest's ``pricing:`` section laid over it."""
        if not written:
            return self
        video = dict(self.video_per_5s)
        for model, modes in written.get("image2video", {}).items():
            std, pro = video.get(model, (0.0, 0.0))
            video[model] = (float(modes.get("std", std)), float(modes.get("pro", pro)))
        images = dict(self.per_image)
        for kind in self.per_image:
            if kind.value in written:
                images[kind] = float(written[kind.value])
        return PriceTable(MappingProxyType(video), MappingProxyType(images), overridden=True)


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
