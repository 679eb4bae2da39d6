"""What a simulated task costs, in resource-pack units, at the vendor's prices
(``kling-pricing-video.md`` and ``kling-pricing-image.md``, 2026-09): one table per pack,
read by the new API's ``billing[]`` and the old routes' ``final_unit_deduction`` alike, so the
two can never disagree. Written from the pages on its own, not from :mod:`kbatch.pricing`
(the estimator): ``tests/simulator/test_price_tables.py`` holds the two against each other.

>>> per_second("kling-3.0-turbo", "silent", "1080p")
1.0
>>> amount(per_second("kling-3.0", "audio", "720p") * 7)
'6.3'
"""

from __future__ import annotations

from collections.abc import Mapping

#: Units per second by (model, what the task uses) and resolution. "silent": no native audio;
#: "audio": native audio; "voice": native audio with voices; "video": a video input (omni);
#: "motion": motion control. A resolution missing from a row is not sold (and not accepted).
UNITS_PER_SECOND: Mapping[tuple[str, str], Mapping[str, float]] = {
    ("kling-3.0-turbo", "silent"): {"720p": 0.8, "1080p": 1.0},
    ("kling-3.0", "silent"): {"720p": 0.6, "1080p": 0.8, "4k": 3.0},
    ("kling-3.0", "audio"): {"720p": 0.9, "1080p": 1.2, "4k": 3.0},
    ("kling-3.0", "motion"): {"720p": 0.9, "1080p": 1.2},
    ("kling-3.0-omni", "silent"): {"720p": 0.6, "1080p": 0.8, "4k": 3.0},
    ("kling-3.0-omni", "audio"): {"720p": 0.8, "1080p": 1.0, "4k": 3.0},
    ("kling-3.0-omni", "video"): {"720p": 0.9, "1080p": 1.2, "4k": 3.0},
    ("kling-o1", "silent"): {"720p": 0.6, "1080p": 0.8},
    ("kling-o1", "video"): {"720p": 0.9, "1080p": 1.2},
    ("kling-2.6", "silent"): {"720p": 0.3, "1080p": 0.5},
    ("kling-2.6", "audio"): {"1080p": 1.0},
    ("kling-2.6", "voice"): {"1080p": 1.2},
    ("kling-2.6", "motion"): {"720p": 0.5, "1080p": 0.8},
    ("kling-2.5-turbo", "silent"): {"720p": 0.3, "1080p": 0.5},
}

#: The old routes' model names for the models above; their mode stands for a resolution
#: (std is billed as 720p, pro as 1080p, 4k as 4K).
LEGACY_MODELS: Mapping[str, str] = {
    "kling-v3": "kling-3.0",
    "kling-v2-6": "kling-2.6",
    "kling-v2-5-turbo": "kling-2.5-turbo",
}
LEGACY_MODES: Mapping[str, str] = {"std": "720p", "pro": "1080p", "4k": "4k"}

#: Older video models (not on the pricing page any more): units per 5 s by mode, as before.
CLASSIC_PER_5S: Mapping[str, float] = {"std": 1.0, "pro": 3.5}

#: Image tasks: units per image made, by (kind, model, variant), from kling-pricing-image.md
#: (2026-09), row by row. The variant is "text" or "image" (text-to-image, image-to-image)
#: for text2image, the resolution for omni image, "" where the price has none.
IMAGE_UNITS: Mapping[tuple[str, str, str], float] = {
    # Kling Image 3.0 | Text-to-Image, Image-to-Image | 1K, 2K | 8 Units / image
    ("text2image", "kling-v3", "text"): 8.0,
    ("text2image", "kling-v3", "image"): 8.0,
    # Kling Image 2.1 | Text-to-Image | 4 Units; Image-to-Image | 8 Units
    ("text2image", "kling-v2-1", "text"): 4.0,
    ("text2image", "kling-v2-1", "image"): 8.0,
    # Kling Image 2.1 | Multi-image to Image | 16 Units / image
    ("multi_image2image", "kling-v2-1", ""): 16.0,
    # General | Outpainting | 1K | 8 Units / image
    ("image_expand", "", ""): 8.0,
    # Kling Image 3.0 Omni | 1K, 2K | 8 Units; 4K | 16 Units
    ("omni_image", "kling-v3-omni", "1k"): 8.0,
    ("omni_image", "kling-v3-omni", "2k"): 8.0,
    ("omni_image", "kling-v3-omni", "4k"): 16.0,
    # Kling Image O1 | 1K, 2K | 8 Units / image
    ("omni_image", "kling-image-o1", "1k"): 8.0,
    ("omni_image", "kling-image-o1", "2k"): 8.0,
}
#: The model Kling uses when a request names none, per kind (the pages' defaults).
IMAGE_DEFAULT_MODELS: Mapping[str, str] = {
    "text2image": "kling-v3",
    "multi_image2image": "kling-v2-1",
    "omni_image": "kling-image-o1",
}
#: Video effects: units per effect video (the pages give no per-effect prices; kbatch's default).
EFFECT_UNITS = 3.5


def image_units(kind: str, fields: Mapping[str, object]) -> float:
    """Units per image of an image task (:data:`IMAGE_UNITS`)."""
    model = str(fields.get("model_name") or IMAGE_DEFAULT_MODELS.get(kind, ""))
    if kind == "text2image":
        variant = "image" if fields.get("image") else "text"
    elif kind == "omni_image":
        variant = str(fields.get("resolution") or "1k")
    else:
        variant = ""
    found = IMAGE_UNITS.get((kind, model, variant)) or IMAGE_UNITS.get((kind, "", variant))
    if found is None:  # off the page: the kind's dearest price
        found = max(units for (row, _, _), units in IMAGE_UNITS.items() if row == kind)
    return found


def own_kind(kind: object, fields: Mapping[str, object], images: int) -> str:
    """``final_unit_deduction`` of an image task (per image made) or an effect video."""
    if str(kind) == "video_effects":
        return amount(EFFECT_UNITS)
    return amount(image_units(str(kind), fields) * images)


def per_second(model: str, feature: str, resolution: str) -> float:
    """Units per second; a feature a model does not price falls back to its silent price."""
    row = UNITS_PER_SECOND.get((model, feature)) or UNITS_PER_SECOND[model, "silent"]
    return row.get(resolution) or max(row.values())


def amount(units: float) -> str:
    """Units as Kling writes them: a decimal string without trailing zeros."""
    return f"{round(units, 4):g}"


def legacy_video(fields: Mapping[str, object]) -> str:
    """``final_unit_deduction`` of an old-route video task (image2video, text2video)."""
    model = str(fields.get("model_name", "kling-v1"))
    mode = str(fields.get("mode", "std"))
    seconds = int(str(fields.get("duration", "5")))
    family = LEGACY_MODELS.get(model)
    if family is None:
        return amount(CLASSIC_PER_5S.get(mode, 1.0) * seconds / 5)
    feature = "silent"
    if fields.get("sound") == "on":
        feature = "voice" if fields.get("voice_list") else "audio"
    return amount(per_second(family, feature, LEGACY_MODES.get(mode, "720p")) * seconds)


__all__ = [
    "CLASSIC_PER_5S",
    "EFFECT_UNITS",
    "IMAGE_UNITS",
    "LEGACY_MODELS",
    "UNITS_PER_SECOND",
    "amount",
    "image_units",
    "legacy_video",
    "per_second",
]
