"""What a simulated task costs, in resource-pack units, at the vendor's prices
(``kling-pricing-video.md``, 2026-09): one table, read by the new API's ``billing[]`` and the
old routes' ``final_unit_deduction`` alike, so the two can never disagree.

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
#: Image tasks: units per image made.
IMAGE_UNITS = 0.25


#: Omni image: units per image (kling-pricing-image.md), and kling-v3-omni's at 4k.
OMNI_IMAGE_UNITS = 8.0
OMNI_4K_UNITS = 16.0
#: Video effects: units per effect video (the pages give no per-effect prices; kbatch's default).
EFFECT_UNITS = 3.5


def own_kind(kind: object, fields: Mapping[str, object], images: int) -> str:
    """``final_unit_deduction`` of an omni-image task (per image made) or an effect video."""
    if str(kind) == "video_effects":
        return amount(EFFECT_UNITS)
    uhd = fields.get("model_name") == "kling-v3-omni" and fields.get("resolution") == "4k"
    return amount((OMNI_4K_UNITS if uhd else OMNI_IMAGE_UNITS) * images)


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
    "OMNI_4K_UNITS",
    "OMNI_IMAGE_UNITS",
    "UNITS_PER_SECOND",
    "amount",
    "legacy_video",
    "per_second",
]
