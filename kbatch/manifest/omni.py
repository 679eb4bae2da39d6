"""Pre-flight rules of an omni_video job (``POST /omni-video/kling-3.0-omni`` or
``/omni-video/kling-o1``), from the vendor's pages (kling-omni-3.0-ovg.md, kling-o1-video.md,
kling-guide-capability-map-video.md; KLING_API.md "Kling in late 2026", sections 1, 3 and 10).

A job names its inputs as the other video kinds do: ``image`` (the first frame), ``image_tail``
(the last), ``image_list`` (reference images), ``element_list`` (elements; ``element_type:
video_character`` for one customised from a video, else a multi-image element), ``video`` (one
reference video, by URL) used as ``video_refer_type: feature`` (a reference) or ``base`` (the
video to edit). How they combine is the pages' rules, each located at the field that breaks it::

    check_omni({"prompt": "a fox", "aspect_ratio": "1:1", "image_list": ["a.png"] * 8})
    # [(('image_list',), '8 reference images and 0 multi-image elements make 8; ...')]

The reference video is checked by its URL before anything is paid for (:mod:`kbatch.videos`:
a HEAD and a few ranged reads, never the whole file), each distinct URL once per process.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from kbatch.manifest.issues import show
from kbatch.manifest.references import Reference
from kbatch.media import NO_STORE, is_local, local_path, local_video_info
from kbatch.provider.capabilities import canonical
from kbatch.videos import (
    O1_REFERENCE,
    OMNI_REFERENCE,
    SAMPLE_SCHEME,
    VideoInfo,
    VideoLimits,
    VideoProblem,
    check_video_sync,
    sample_info,
    video_url,
)

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]

OMNI = "kling-v3-omni"
O1 = "kling-video-o1"
#: Both spellings of each model (the ``/v1`` name and the new API's).
PROMPT_LIMITS = {OMNI: 3072, O1: 2500}
DURATIONS = {OMNI: range(3, 16), O1: range(3, 11)}
AUDIO = {OMNI: ("native", "original", "off"), O1: ("original", "off")}
#: Reference images and multi-image elements together, without and with a reference video.
MOST_REFERENCES, MOST_WITH_VIDEO = 7, 4
#: Video-character elements without and with a reference video; with a first frame, elements.
MOST_CHARACTERS, MOST_CHARACTERS_WITH_VIDEO, MOST_ELEMENTS_WITH_FRAME = 3, 1, 3
#: Mixed video-character and multi-image elements (no video): references at most this many.
MOST_REFERENCES_MIXED = 4
SHOT = re.compile(r"\s*shot\s+(\d+)\s*,\s*(\d+)\s*,\s*(.*)", re.IGNORECASE | re.DOTALL)
MOST_SHOTS, SHOT_WORDS = 6, 512


def model_of(request: Mapping[str, Any]) -> str:
    """The job's model in its ``/v1`` spelling (kling-v3-omni when none is named)."""
    name = str(request.get("model_name", OMNI))
    return canonical(name)


def check_omni(request: dict[str, Any]) -> list[Problem]:
    """Every rule of an omni_video job, each located at the field that breaks it."""
    model = model_of(request)
    problems = _inputs(request, model) + _settings(request, model)
    problems += _references(request, model)
    if "video" in request:
        limits = O1_REFERENCE if model == O1 else OMNI_REFERENCE
        problems += reference_video(request["video"], limits, ("video",))
    return problems


def _inputs(request: dict[str, Any], model: str) -> list[Problem]:
    problems: list[Problem] = []
    prompt = request.get("prompt")
    if not prompt:
        problems.append(((), "missing required field 'prompt' (omni video is made from it)"))
    elif PROMPT_LIMITS.get(model, 3072) < len(prompt) <= PROMPT_LIMITS[OMNI]:
        # (longer ones are said by the kind's limit, which is kling-3.0-omni's)
        limit = PROMPT_LIMITS[model]
        problems.append((("prompt",), f"is {len(prompt)} characters; {model} takes {limit}"))
    if "image_tail" in request and "image" not in request:
        message = "a last frame alone is not supported: give the first frame (image) too"
        problems.append((("image_tail",), message))
    if "video_refer_type" in request and "video" not in request:
        problems.append((("video_refer_type",), "is used only with a video"))
    base = "video" in request and request.get("video_refer_type") == "base"
    if base:
        for name in ("image", "image_tail"):
            if name in request:
                message = "cannot be given with a base video (the video to edit has its frames)"
                problems.append(((name,), message))
    if model == O1 and "video" in request and "image_tail" in request and not base:
        message = "kling-o1 takes no last frame with a feature video"
        problems.append((("image_tail",), message))
    framed = "image" in request or "video" in request
    if not framed and "aspect_ratio" not in request:
        message = "missing required field 'aspect_ratio' (needed without a first frame or a video)"
        problems.append(((), message))
    return problems


def _settings(request: dict[str, Any], model: str) -> list[Problem]:
    problems: list[Problem] = []
    if request.get("mode") == "4k" and model != OMNI:
        problems.append((("mode",), f"4k is made by {OMNI} only, not {model}"))
    duration = int(str(request.get("duration", 5)))
    allowed = DURATIONS.get(model, DURATIONS[OMNI])
    if duration not in allowed:
        message = f"{model} makes videos of {allowed[0]} to {allowed[-1]} s, not {duration} s"
        problems.append((("duration",), message))
    bare = "image" in request and not _refs(request) and "video" not in request
    if model == O1 and bare and duration not in (5, 10):
        message = "kling-o1 makes a video from a first frame alone of 5 or 10 s only"
        problems.append((("duration",), message))
    audio = str(request.get("audio", "off"))
    if audio not in AUDIO.get(model, AUDIO[OMNI]):
        message = f"{model} takes audio {', '.join(AUDIO.get(model, AUDIO[OMNI]))}, not {audio}"
        problems.append((("audio",), message))
    elif audio == "original" and "video" not in request:
        problems.append((("audio",), "original keeps a reference video's sound: give a video"))
    if "multi_shot" in request and model != OMNI:
        problems.append((("multi_shot",), f"is for {OMNI} only, not {model}"))
    problems += _with_video(request, model, audio)
    if model == OMNI and request.get("multi_shot", _feature(request)) is True:
        problems += check_shots(str(request.get("prompt", "")), duration)
    return problems


def _feature(request: Mapping[str, Any]) -> bool:
    return "video" in request and request.get("video_refer_type", "feature") == "feature"


def _with_video(request: dict[str, Any], model: str, audio: str) -> list[Problem]:
    """A base video: no multi-shot, no native audio; a feature video: no native audio, and on
    kling-3.0-omni multi_shot true and audio off."""
    if "video" not in request:
        return []
    problems: list[Problem] = []
    refer = request.get("video_refer_type", "feature")
    if refer == "base" and request.get("multi_shot") is True:
        problems.append((("multi_shot",), "a base video is edited in one shot: not multi_shot"))
    if audio == "native":
        problems.append((("audio",), f"native audio is not made with a {refer} video"))
    elif refer == "feature" and model == OMNI:
        if request.get("multi_shot") is False:
            message = f"{OMNI} makes a video from a feature video with multi_shot true only"
            problems.append((("multi_shot",), message))
        if audio != "off":
            message = f"{OMNI} makes a video from a feature video with audio off only"
            problems.append((("audio",), message))
    return problems


def _refs(request: Mapping[str, Any]) -> int:
    return len(request.get("image_list") or ()) + len(request.get("element_list") or ())


def _references(request: dict[str, Any], model: str) -> list[Problem]:
    """How many reference images and elements of each type a job may combine."""
    images = len(request.get("image_list") or ())
    elements = list(request.get("element_list") or ())
    characters = sum(1 for e in elements if e.get("element_type") == "video_character")
    pictures = len(elements) - characters
    video = "video" in request
    where = ("element_list",) if elements else ("image_list",)
    if model == O1 and characters:
        return [(("element_list",), "kling-o1 takes multi-image elements only")]
    if model == O1 and "image" in request and "image_tail" in request and images + len(elements):
        return [(where, "kling-o1 takes no reference images or elements with a last frame")]
    most = MOST_WITH_VIDEO if video else MOST_REFERENCES
    if characters and not video and pictures:
        most = MOST_REFERENCES_MIXED
    problems: list[Problem] = []
    if images + pictures > most:
        message = (
            f"{images} reference images and {pictures} multi-image elements make "
            f"{images + pictures}; {model} takes at most {most}"
            + (" with a video" if video else "")
            + (" with video-character elements" if characters and not video else "")
        )
        problems.append((where, message))
    top = MOST_CHARACTERS_WITH_VIDEO if video else MOST_CHARACTERS
    if characters > top:
        message = f"{characters} video-character elements; at most {top}"
        problems.append((("element_list",), message + (" with a video" if video else "")))
    if video and characters and (pictures or images):
        message = "with a video, video-character elements take no reference images or others"
        problems.append((("element_list",), message))
    if model == OMNI and "image" in request and len(elements) > MOST_ELEMENTS_WITH_FRAME:
        message = f"{len(elements)} elements; at most {MOST_ELEMENTS_WITH_FRAME} with a first frame"
        problems.append((("element_list",), message))
    return problems


def check_shots(prompt: str, duration: int) -> list[Problem]:
    """A multi-shot prompt, ``shot n, m, words;``: 1 to 6 shots, each m >= 1 s, the m summing
    to the video's duration, words at most 512 characters. A prompt that does not begin with a
    shot is not multi-shot and passes.

    >>> check_shots("shot 1, 2, a fox; shot 2, 3, it runs;", 5)
    []
    >>> check_shots("shot 1, 2, a fox; shot 2, 2, it runs;", 5)
    [(('prompt',), 'the shots last 4 s in all; the video lasts 5 s')]
    """
    parts = [part for part in prompt.split(";") if part.strip()]
    if not parts or not SHOT.match(parts[0]):
        return []
    if len(parts) > MOST_SHOTS:
        return [(("prompt",), f"{len(parts)} shots; at most {MOST_SHOTS}")]
    total = 0
    for part in parts:
        shot = SHOT.match(part)
        if shot is None:
            return [(("prompt",), f"not a shot ('shot n, m, words;'): {show(part.strip(), 40)}")]
        seconds, words = int(shot.group(2)), shot.group(3).strip()
        if seconds < 1:
            return [(("prompt",), f"shot {shot.group(1)} lasts {seconds} s; at least 1")]
        if len(words) > SHOT_WORDS:
            message = f"shot {shot.group(1)}'s words are {len(words)} characters; {SHOT_WORDS}"
            return [(("prompt",), message)]
        total += seconds
    if total != duration:
        return [(("prompt",), f"the shots last {total} s in all; the video lasts {duration} s")]
    return []


def reference_video(text: Any, limits: VideoLimits, where: FieldPath) -> list[Problem]:
    """A reference video checked by its URL for one use (local paths are refused: Kling takes
    videos by URL only). The URL is shown without its query, which may hold a signature."""
    if isinstance(text, Reference):  # another job's video: its URL once that job is done
        return []
    if is_local(str(text)):  # no media: in the manifest (else it would be local:)
        return [(where, f"{shown(str(text))} {NO_STORE}")]
    found = measured(str(text), limits)
    if isinstance(found, VideoProblem):
        return [(where, f"{shown(str(text))} {found}")]
    return []


@functools.lru_cache(maxsize=4096)
def measured(text: str, limits: VideoLimits) -> VideoInfo | VideoProblem:
    """What one URL serves, checked for one use; remembered for this process, so that a
    thousand jobs naming one video ask its server once."""
    try:
        if text.strip().startswith(SAMPLE_SCHEME):  # the simulator's own sample
            return sample_info(text, limits)
        path = local_path(text)
        if path is not None:  # sent through the media store: checked from its bytes
            return local_video_info(path, limits)
        return check_video_sync(video_url(text), limits)
    except VideoProblem as exc:
        return exc


def shown(text: str) -> str:
    """A video as a message shows it: a URL without its query and fragment.

    >>> shown("https://cdn.example/v.mp4?X-Amz-Signature=abc")
    '"https://cdn.example/v.mp4?…"'
    """
    try:
        parts = urlsplit(text.strip())
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return show(text)
    path = local_path(text)
    if path is not None:  # the location says where; the name says which file
        return show(path.rpartition("/")[2])
    if not parts.scheme or not parts.hostname:
        return show(text)
    tail = "?…" if parts.query or parts.fragment else ""  # a user:password@ is left out too
    return show(f"{parts.scheme}://{parts.hostname}{port}{parts.path}{tail}")


__all__ = ["check_omni", "check_shots", "measured", "model_of", "reference_video", "shown"]
