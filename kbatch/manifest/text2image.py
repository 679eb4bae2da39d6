"""Pre-flight rules of a text2image request (``POST /v1/images/generations``), from
KLING_API.md: a prompt is required; a reference ``image`` is optional, and some fields depend on
it and on the model.

>>> [path for path, _ in check_text2image({"prompt": "a cat", "resolution": "2k"})]
[('resolution',)]
>>> check_text2image({"prompt": "a cat", "model_name": "kling-v2", "resolution": "2k"})
[]
"""

from __future__ import annotations

from typing import Any

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]

DEFAULT_MODEL = "kling-v1"
V2_FAMILY = ("kling-v2", "kling-v2-new", "kling-v2-1")


def check_text2image(request: dict[str, Any]) -> list[Problem]:
    """Every rule of a text2image request, each located at the field that breaks it."""
    problems: list[Problem] = []
    model = str(request.get("model_name", DEFAULT_MODEL))
    has_image = "image" in request
    if not request.get("prompt"):
        problems.append(
            ((), "missing required field 'prompt' (text2image makes the image from it)")
        )
    reference = request.get("image_reference")
    if reference is not None and model != "kling-v1-5":
        problems.append((("image_reference",), f"is for kling-v1-5 only, not {model}"))
    if model == "kling-v1-5" and has_image and reference is None:
        message = "kling-v1-5 needs image_reference (subject or face) with an image"
        problems.append((("image_reference",), message))
    if reference is not None and not has_image:
        problems.append((("image_reference",), "needs an image to refer to"))
    if "human_fidelity" in request and reference != "subject":
        problems.append((("human_fidelity",), "is used only with image_reference: subject"))
    if "negative_prompt" in request and has_image:
        problems.append((("negative_prompt",), "cannot be used together with an image"))
    if request.get("resolution") == "2k" and model not in V2_FAMILY:
        message = (
            f"{model} makes 1k images only; 2k is for the kling-v2 family ({', '.join(V2_FAMILY)})"
        )
        problems.append((("resolution",), message))
    if model == "kling-v2-new" and not has_image:
        problems.append((("model_name",), "kling-v2-new restyles an image: give an image"))
    if request.get("aspect_ratio") == "21:9" and model == "kling-v1":
        problems.append((("aspect_ratio",), "21:9 is not made by kling-v1"))
    return problems


__all__ = ["check_text2image"]
