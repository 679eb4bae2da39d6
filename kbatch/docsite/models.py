"""Which models take a field, from the tables the checks use: the capability maps and the new
API's paths (:mod:`kbatch.provider.capabilities`), the image models and the video catalogue
(:mod:`kbatch.provider.catalogue`).

>>> "kling-v3" in models_column(JobKind.IMAGE2VIDEO, "multi_shot")
True
>>> models_column(JobKind.IMAGE_EXPAND, "prompt")
''
"""

from __future__ import annotations

from collections.abc import Mapping

from kbatch.provider import capabilities as caps
from kbatch.provider.catalogue import NEW_KIND_DEFAULTS, VIDEO_KINDS, JobKind
from kbatch.provider.videomodels import KIND_ROUTES, MODELS

#: Each request field that asks for a feature of the capability map, and its feature.
FEATURE_OF: Mapping[str, str] = {
    field: feature for feature, fields in caps.FEATURES.items() for field in fields
}
#: A feature of the capability map and the attribute of a new-API path that says where it works.
PATH_FEATURES: Mapping[str, str] = {
    "image_tail": "tail_modes",
    "sound": "sound_modes",
    "element_list": "elements",
    "voice_list": "voices",
    "multi_shot": "multi_shot_setting",
}


def video_table(kind: JobKind) -> Mapping[str, caps.Capability]:
    """The capability map of a video kind (image2video or text2video)."""
    return caps.TEXT2VIDEO if kind is JobKind.TEXT2VIDEO else caps.IMAGE2VIDEO


def kind_paths(kind: JobKind) -> dict[str, caps.PathCapability]:
    """The new API's paths of a kind, by path."""
    route = KIND_ROUTES.get(kind)
    if route is None:
        return {}
    return {path: cap for path, cap in caps.PATHS.items() if path.startswith(f"{route.value}/")}


def model_names(kind: JobKind) -> list[str]:
    """The models a kind takes, each marked where it is legacy, the default, or new-API only."""
    if kind in VIDEO_KINDS:
        table = video_table(kind)
        names = [f"{name} (legacy)" if cap.legacy else name for name, cap in table.items()]
        route = KIND_ROUTES[kind]
        only_new = [m.name for m in MODELS if route in m.new_routes and m.legacy is None]
        return names + [f"{name} (new API only)" for name in only_new]
    if kind in caps.IMAGE_MODELS:
        return [
            f"{name} (legacy)" if legacy else name
            for name, legacy in caps.IMAGE_MODELS[kind].items()
        ]
    served = KIND_ROUTES.get(kind)
    if served is None:
        return []
    default = NEW_KIND_DEFAULTS.get(kind)
    found = [m.name for m in MODELS if served in m.new_routes or served in m.legacy_routes]
    return [f"{name} (default)" if name == default else name for name in found]


def _grouped(pairs: Mapping[str, str]) -> str:
    """``{model: what}`` as ``what: model, model; what: model``."""
    by_value: dict[str, list[str]] = {}
    for model, value in pairs.items():
        by_value.setdefault(value, []).append(model)
    return "; ".join(f"{value}: {', '.join(models)}" for value, models in by_value.items())


def _video_column(kind: JobKind, field: str) -> str:
    table = video_table(kind)
    if field == "model_name":
        return ", ".join(model_names(kind))
    if field == "mode":
        return _grouped({m: ", ".join(c.modes) or "one quality" for m, c in table.items()})
    if field == "duration":
        return _grouped({m: _seconds(c.durations) for m, c in table.items()})
    feature = FEATURE_OF.get(field)
    if feature is None:
        return "every model"
    where = {m: c.where(feature) for m, c in table.items() if c.features.get(feature, caps.NONE)}
    parts = [f"{model} ({place})" for model, place in where.items()]
    attribute = PATH_FEATURES.get(feature)
    if attribute:
        paths = [p for p, cap in kind_paths(kind).items() if getattr(cap, attribute)]
        parts.extend(f"new API `{path}`" for path in paths)
    return ", ".join(parts) or "no model"


def _seconds(durations: tuple[str, ...]) -> str:
    if len(durations) > 2:
        return f"{durations[0]} to {durations[-1]} s"
    return " or ".join(durations) + " s"


def models_column(kind: JobKind, field: str) -> str:
    """Which models take ``field`` of a ``kind``: empty where the kind has no models to choose."""
    if kind in VIDEO_KINDS:
        return _video_column(kind, field)
    if field == "model_name":
        return ", ".join(model_names(kind))
    return ""
