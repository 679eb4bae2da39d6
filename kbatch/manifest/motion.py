"""Pre-flight rules of a motion_control job (``POST /motion-control/kling-3.0`` or
``/motion-control/kling-2.6``), from the vendor's pages (kling-omni-3.0-motion-control.md,
kling-2.6-motion-control.md; KLING_API.md "Kling in late 2026", sections 1, 5 and 10).

A character ``image`` follows the motion of a reference ``video`` (by URL). The video's length
bounds depend on ``character_orientation``: ``image`` (the character faces as in the image) takes
a video of up to 10 s, ``video`` up to 30 s; both at least 3 s, mp4/mov up to 100 MB, sides of
340 to 3850 px. kling-3.0 takes one element (then the video's orientation is used); kling-2.6
none. 720p (``mode: std``) or 1080p (``pro``), no 4k; audio ``original`` (the default) or ``off``.

Kling bills the seconds it made, which is at most the video's: :func:`seconds` gives the
video's length, learnt from its header by the URL check, for the budget's estimate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kbatch.manifest.omni import measured, reference_video
from kbatch.manifest.references import Reference
from kbatch.provider.capabilities import canonical
from kbatch.videos import MOTION_IMAGE_ORIENTATION, MOTION_VIDEO_ORIENTATION, VideoLimits

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]

V30 = "kling-v3"
V26 = "kling-v2-6"
#: Elements each model takes.
ELEMENTS = {V30: 1, V26: 0}
LIMITS: Mapping[str, VideoLimits] = {
    "image": MOTION_IMAGE_ORIENTATION,
    "video": MOTION_VIDEO_ORIENTATION,
}


def model_of(request: Mapping[str, Any]) -> str:
    """The job's model in its ``/v1`` spelling (kling-v2-6 when none is named)."""
    name = str(request.get("model_name", V26))
    return canonical(name)


def check_motion(request: dict[str, Any]) -> list[Problem]:
    """Every rule of a motion_control job, each located at the field that breaks it."""
    model = model_of(request)
    problems: list[Problem] = []
    elements = len(request.get("element_list") or ())
    orientation = str(request.get("character_orientation", ""))
    if not orientation:
        problems.append(((), "missing required field 'character_orientation' (image or video)"))
    if "video" not in request:
        problems.append(((), "missing required field 'video' (the motion to follow, by URL)"))
    if "image" not in request and not elements:
        problems.append(((), "missing required field 'image' (the character; or an element)"))
    if elements > ELEMENTS.get(model, 0):
        most = ELEMENTS.get(model, 0)
        takes = f"at most {most} element" if most else "no elements"
        problems.append((("element_list",), f"{model} takes {takes}, not {elements}"))
    elif elements and orientation == "image":
        message = "with an element Kling follows the video's orientation: set video"
        problems.append((("character_orientation",), message))
    if request.get("mode") == "4k":
        problems.append((("mode",), "motion control makes 720p (std) or 1080p (pro), not 4k"))
    if "video" in request and orientation in LIMITS:
        problems += reference_video(request["video"], LIMITS[orientation], ("video",))
    return problems


def seconds(request: Mapping[str, Any]) -> int | None:
    """The reference video's whole seconds, when its URL check learnt them (it ran already:
    the answer is remembered); None when unknown."""
    orientation = str(request.get("character_orientation", ""))
    if "video" not in request or orientation not in LIMITS:
        return None
    if isinstance(request["video"], Reference):  # another job's video: not measured before
        return None
    found = measured(str(request["video"]), LIMITS[orientation])
    if isinstance(found, Exception) or found.duration is None:
        return None
    return max(1, round(found.duration))


def with_seconds(request: Mapping[str, Any]) -> dict[str, Any]:
    """The request with ``duration``: the video's seconds when known, for the estimate (the
    video decides the length; ``duration`` is never sent)."""
    out = dict(request)
    found = seconds(request)
    if found is not None:
        out["duration"] = str(found)
    return out


__all__ = ["check_motion", "model_of", "seconds", "with_seconds"]
