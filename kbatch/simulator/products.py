"""The new path-addressed API's models (``POST /{capability}/{model}``) and what each accepts,
from the vendor's pages (2026-09): content types, resolutions, durations, audio, multi-shot,
prompt length, element and voice counts. Data only: :mod:`kbatch.simulator.pathrules` reads it.

These models are not in :mod:`kbatch.provider.catalogue` yet; they are defined here for the
simulator until the catalogue has them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

TEXT_TO_VIDEO = "text-to-video"
IMAGE_TO_VIDEO = "image-to-video"
OMNI_VIDEO = "omni-video"
MOTION_CONTROL = "motion-control"
CAPABILITIES = (TEXT_TO_VIDEO, IMAGE_TO_VIDEO, OMNI_VIDEO, MOTION_CONTROL)

ASPECT_RATIOS = ("16:9", "9:16", "1:1")
FRAMES = frozenset({"first_frame", "last_frame"})
IMAGES = frozenset({"first_frame", "last_frame", "refer_image", "image"})
VIDEOS = frozenset({"feature_video", "base_video", "video"})
OMNI_TYPES = frozenset({"prompt", "refer_image", "feature_video", "base_video", "element"}) | FRAMES
SECONDS_3_15 = tuple(range(3, 16))
SECONDS_5_10 = (5, 10)
HD = ("720p", "1080p")
HD_4K = ("720p", "1080p", "4k")


@dataclass(frozen=True, slots=True)
class Product:
    """One model on one capability's path."""

    capability: str
    model: str
    contents: frozenset[str]  # the content types it takes (empty: text-to-video's prompt)
    resolutions: tuple[str, ...] = HD
    durations: tuple[int, ...] = SECONDS_3_15  # empty: the reference video decides
    audio: tuple[str, ...] = ()  # the first is the default; empty: no audio setting
    multi_shot: bool = False  # has settings.multi_shot (default true)
    shots: bool = False  # takes multi-shot prompts ("shot n, m, words;")
    prompt_limit: int = 2500
    elements: int = 0
    voices: int = 0
    aspect: bool = False  # has settings.aspect_ratio

    @property
    def path(self) -> str:
        return f"{self.capability}/{self.model}"


t2v, i2v, omni, motion = TEXT_TO_VIDEO, IMAGE_TO_VIDEO, OMNI_VIDEO, MOTION_CONTROL
sound, kept = ("off", "native"), ("original", "off")
i2v_30 = frozenset({"prompt", "element"}) | FRAMES
_ALL = (
    Product(t2v, "kling-3.0-turbo", frozenset(), shots=True, prompt_limit=3072, aspect=True),
    Product(i2v, "kling-3.0-turbo", frozenset({"prompt", "first_frame"}), shots=True),
    Product(
        t2v,
        "kling-3.0",
        frozenset(),
        HD_4K,
        audio=sound,
        multi_shot=True,
        shots=True,
        prompt_limit=3072,
        aspect=True,
    ),
    Product(
        i2v,
        "kling-3.0",
        i2v_30,
        HD_4K,
        audio=sound,
        multi_shot=True,
        shots=True,
        prompt_limit=3072,
        elements=3,
    ),
    Product(t2v, "kling-2.6", frozenset(), HD, SECONDS_5_10, sound, aspect=True),
    Product(
        i2v,
        "kling-2.6",
        frozenset({"prompt", "voice"}) | FRAMES,
        HD,
        SECONDS_5_10,
        sound,
        voices=2,
    ),
    Product(t2v, "kling-2.5-turbo", frozenset(), HD, SECONDS_5_10, aspect=True),
    Product(i2v, "kling-2.5-turbo", frozenset({"prompt"}) | FRAMES, HD, SECONDS_5_10),
    Product(
        omni,
        "kling-3.0-omni",
        OMNI_TYPES,
        HD_4K,
        audio=("off", "native", "original"),
        multi_shot=True,
        shots=True,
        prompt_limit=3072,
        elements=7,
        aspect=True,
    ),
    Product(
        omni,
        "kling-o1",
        OMNI_TYPES,
        HD,
        tuple(range(3, 11)),
        ("off", "original"),
        elements=7,
        aspect=True,
    ),
    Product(
        motion,
        "kling-3.0",
        frozenset({"prompt", "image", "video", "element"}),
        durations=(),
        audio=kept,
        elements=1,
    ),
    Product(motion, "kling-2.6", frozenset({"prompt", "image", "video"}), durations=(), audio=kept),
)


#: Every product by its path, e.g. ``PRODUCTS["text-to-video/kling-3.0-turbo"]``.
PRODUCTS: Mapping[str, Product] = {product.path: product for product in _ALL}


__all__ = [
    "ASPECT_RATIOS",
    "CAPABILITIES",
    "FRAMES",
    "IMAGES",
    "IMAGE_TO_VIDEO",
    "MOTION_CONTROL",
    "OMNI_VIDEO",
    "PRODUCTS",
    "TEXT_TO_VIDEO",
    "VIDEOS",
    "Product",
]
