"""Pre-flight rules of a text2image request (``POST /v1/images/generations``).

Today's models are kling-v3 (the default when ``model_name`` is omitted) and kling-v2-1, with
the rules of Kling's page (``kling-image-2.1-generation.md``): a prompt is required; a reference
``image`` is optional; ``image_reference``, ``image_fidelity`` and ``human_fidelity`` belong to
kling-v2-1; ``element_list`` and the image together name at most 10 references; no negative
prompt with an image. The older models (kling-v1, kling-v1-5, kling-v2, kling-v2-new) are still
answered and keep the rules KLING_API.md gave them.

>>> check_text2image({"prompt": "a cat", "resolution": "2k"})
[]
>>> [path for path, _ in check_text2image({"prompt": "a cat", "model_name": "kling-v1",
...                                        "resolution": "2k"})]
[('resolution',)]
"""

from __future__ import annotations

from typing import Any

from kbatch.provider.capabilities import DEFAULT_TEXT2IMAGE_MODEL

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]

DEFAULT_MODEL = DEFAULT_TEXT2IMAGE_MODEL
CURRENT_MODELS = ("kling-v3", "kling-v2-1")
#: The legacy models that made 2k images.
V2_FAMILY = ("kling-v2", "kling-v2-new", "kling-v2-1")
#: Reference elements and the reference image together, at most.
MAX_REFERENCES = 10
#: The fields of kling-v2-1's face and subject reference (kling-v1-5 had the reference too).
_REFERENCE_FIELDS = ("image_reference", "image_fidelity", "human_fidelity")


def check_text2image(request: dict[str, Any]) -> list[Problem]:
    """Every rule of a text2image request, each located at the field that breaks it."""
    problems: list[Problem] = []
    model = str(request.get("model_name", DEFAULT_MODEL))
    has_image = "image" in request
    if not request.get("prompt"):
        problems.append(
            ((), "missing required field 'prompt' (text2image makes the image from it)")
        )
    if "negative_prompt" in request and has_image:
        problems.append((("negative_prompt",), "cannot be used together with an image"))
    reference = request.get("image_reference")
    if reference is not None and not has_image:
        problems.append((("image_reference",), "needs an image to refer to"))
    if "human_fidelity" in request and reference != "subject":
        problems.append((("human_fidelity",), "is used only with image_reference: subject"))
    if model in CURRENT_MODELS:
        return problems + _current(model, request, has_image)
    return problems + _legacy(model, request, has_image)


def _current(model: str, request: dict[str, Any], has_image: bool) -> list[Problem]:
    """kling-v3 and kling-v2-1: the reference fields are kling-v2-1's; elements count with the
    image; 1k and 2k, the eight aspect ratios on both."""
    problems: list[Problem] = []
    if model != "kling-v2-1":
        problems += [
            ((name,), f"is for kling-v2-1 only, not {model}")
            for name in _REFERENCE_FIELDS
            if name in request
        ]
    elements = request.get("element_list")
    if isinstance(elements, list):
        total = len(elements) + (1 if has_image else 0)
        if total > MAX_REFERENCES:
            message = (
                f"{len(elements)} elements and {'an image' if has_image else 'no image'} make "
                f"{total} references; Kling takes at most {MAX_REFERENCES} in all"
            )
            problems.append((("element_list",), message))
    return problems


def _legacy(model: str, request: dict[str, Any], has_image: bool) -> list[Problem]:
    """The older models' rules, as KLING_API.md's first edition gave them."""
    problems: list[Problem] = []
    reference = request.get("image_reference")
    if reference is not None and model != "kling-v1-5":
        message = f"is for kling-v2-1 and kling-v1-5 only, not {model}"
        problems.append((("image_reference",), message))
    if model == "kling-v1-5" and has_image and reference is None:
        message = "kling-v1-5 needs image_reference (subject or face) with an image"
        problems.append((("image_reference",), message))
    if "element_list" in request:
        message = f"is for {' and '.join(CURRENT_MODELS)} only, not {model}"
        problems.append((("element_list",), message))
    if request.get("resolution") == "2k" and model not in V2_FAMILY:
        message = (
            f"{model} makes 1k images only; 2k is for {', '.join(CURRENT_MODELS)} and the "
            f"kling-v2 family ({', '.join(V2_FAMILY)})"
        )
        problems.append((("resolution",), message))
    if model == "kling-v2-new" and not has_image:
        problems.append((("model_name",), "kling-v2-new restyles an image: give an image"))
    if request.get("aspect_ratio") == "21:9" and model == "kling-v1":
        problems.append((("aspect_ratio",), "21:9 is not made by kling-v1"))
    return problems


__all__ = ["check_text2image"]
