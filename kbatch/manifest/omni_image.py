"""Pre-flight rules of an omni-image request (``POST /v1/images/omni-image``).

From Kling's pages (``kling-image-o1-generation.md``, ``kling-guide-capability-map-image.md``,
``kling-pricing-image.md``): a prompt of at most 2500 characters is required; reference images
(``image_list``) and elements (``element_list``) are at most 10 together; ``n`` (1 to 9) is for
single images only, ``series_amount`` (2 to 9, or auto) for a series only; a series and 4k are
kling-v3-omni's (kling-image-o1, the default, makes neither); series are image-to-image (the
capability map lists them there only), so a series needs a reference; kling-v3-omni has no
``auto`` aspect ratio from text alone.

>>> check_omni_image({"prompt": "a cat", "resolution": "4k"})
[(('resolution',), '4k is made by kling-v3-omni only, not kling-image-o1')]
>>> check_omni_image({"prompt": "a cat", "model_name": "kling-v3-omni", "result_type": "series",
...                   "image_list": [{"image": "a.png"}], "series_amount": "auto"})
[]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]

DEFAULT_MODEL = "kling-image-o1"
#: The model that makes 4k images and image series.
OMNI_V3 = "kling-v3-omni"
#: Reference images and elements together, at most.
MAX_REFERENCES = 10
#: ``series_amount`` when a series leaves it out.
DEFAULT_SERIES = 4


def normalize_omni_image(request: Mapping[str, Any]) -> dict[str, Any]:
    """``image_list`` items as Kling takes them: ``{"image": ...}`` (a plain string is one)."""
    out = dict(request)
    if isinstance(out.get("image_list"), list):
        out["image_list"] = [
            item if isinstance(item, dict) else {"image": item} for item in out["image_list"]
        ]
    return out


def check_omni_image(request: Mapping[str, Any]) -> list[Problem]:
    """Every rule of an omni-image request, each located at the field that breaks it."""
    problems: list[Problem] = []
    model = str(request.get("model_name", DEFAULT_MODEL))
    series = request.get("result_type") == "series"
    images, elements = request.get("image_list") or [], request.get("element_list") or []
    if not request.get("prompt"):
        problems.append(((), "missing required field 'prompt' (omni image makes images from it)"))
    if len(images) + len(elements) > MAX_REFERENCES:
        message = (
            f"{len(images)} images and {len(elements)} elements make "
            f"{len(images) + len(elements)} references; Kling takes at most {MAX_REFERENCES}"
        )
        problems.append((("element_list" if elements else "image_list",), message))
    if request.get("resolution") == "4k" and model != OMNI_V3:
        problems.append((("resolution",), f"4k is made by {OMNI_V3} only, not {model}"))
    if series:
        problems += _series(model, request, bool(images or elements))
    elif "series_amount" in request:
        problems.append((("series_amount",), "is for result_type: series only"))
    if model == OMNI_V3 and request.get("aspect_ratio") == "auto" and not images:
        message = f"{OMNI_V3} has no auto aspect ratio from text alone: give image_list or a ratio"
        problems.append((("aspect_ratio",), message))
    return problems


def _series(model: str, request: Mapping[str, Any], referenced: bool) -> list[Problem]:
    problems: list[Problem] = []
    if model != OMNI_V3:
        message = f"a series is made by {OMNI_V3} only, not {model} (set model_name: {OMNI_V3})"
        problems.append((("result_type",), message))
    if "n" in request:
        problems.append((("n",), "is for result_type: single only; a series has series_amount"))
    if not referenced:
        message = "a series is image-to-image: give image_list (or element_list)"
        problems.append((("result_type",), message))
    return problems


__all__ = ["check_omni_image", "normalize_omni_image"]
