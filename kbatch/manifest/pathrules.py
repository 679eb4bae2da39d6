"""Pre-flight rules of a video job that goes to a model's path on Kling's new API
(``models.choose``): the path's own rules, from the vendor's pages, in place of the ``/v1``
capability map.

Per path (data in ``provider/capabilities.py``): its modes (std is 720p, pro 1080p, 4k), its
durations, its prompt limit (3072 characters for 3.0 Turbo text-to-video and 3.0, 2500
elsewhere), whether it takes a last frame and in which modes (2.6 and 2.5 Turbo: 1080p only;
3.0 Turbo: never; an end frame alone: never), native audio and in which modes (2.6: 1080p), its
element and voice counts, and multi-shot prompts (``shot n, m, words;``, :mod:`shots`). A field
the new API has no place for (``contents.unmapped``) is a problem at that field. The rules of a
``/v1`` request that do not depend on the model (camera shape, voices need sound, shots summing
to the video) still apply (:func:`~kbatch.manifest.video.check_video`).

>>> target = ModelPath(JobKind.IMAGE2VIDEO, "image-to-video/kling-3.0-turbo")
>>> request = {"model_name": "kling-3.0-turbo", "image": "a.png", "image_tail": "b.png"}
>>> [path for path, _ in check_path(JobKind.IMAGE2VIDEO, request, target)]
[('image_tail',)]
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from kbatch.manifest.shots import read_shots, shot_problems, written_in_shots
from kbatch.manifest.video import Problem, check_video, seconds
from kbatch.provider import capabilities, contents, models
from kbatch.provider.capabilities import PathCapability
from kbatch.provider.catalogue import JobKind
from kbatch.provider.config import Api
from kbatch.provider.protocol import ModelPath

_QUALITY = {"std": "720p (std)", "pro": "1080p (pro)", "4k": "4K (4k)"}
_RELAX = " (Kling's page; if Kling now allows it, set provider.check_capabilities: false)"


def check_path(
    kind: JobKind,
    request: dict[str, Any],
    target: ModelPath,
    *,
    capability_map: bool = True,
    unsent: Collection[str] = (),
) -> list[Problem]:
    """Every rule of a job bound for a path of the new API, each located at its field.
    ``unsent``: fields kbatch never sends for this kind (warned about elsewhere)."""
    text = kind is JobKind.TEXT2VIDEO
    cap = capabilities.on_path(target.path)
    written = written_in_shots(request.get("prompt"))
    problems = [
        problem
        for problem in check_video(request, text=text, capability_map=False)
        if not (written and problem[0] == ("multi_shot",))  # its shots are in the prompt
    ]
    if cap is not None:
        problems += _prompt(request, cap, target)
        if capability_map:
            problems += _frames(request, cap, target) + _extras(request, cap, target)
    said = {str(path[0]) for path, _ in problems if path}
    return problems + _unplaced(kind, request, target, said | set(unsent))


def _unplaced(
    kind: JobKind, request: Mapping[str, Any], target: ModelPath, said: set[str]
) -> list[Problem]:
    """The fields the new API has no place for (``contents.unmapped``), but those said already."""
    name = str(request.get("model_name"))
    found = models.model(name)
    if found is not None and found.legacy is None:
        advice = f"remove it ({name} is served by Kling's new API only)"
    else:
        advice = "remove it, or send the job to the /v1 routes (provider.api: legacy)"
    return [
        ((field,), f"Kling's new API does not take {field} ({target.path}): {advice}")
        for field in contents.unmapped(kind, request, Api.NEW)
        if field not in said
    ]


def _prompt(request: Mapping[str, Any], cap: PathCapability, target: ModelPath) -> list[Problem]:
    """The prompt's length, and its shots when it is written in shots."""
    prompt = request.get("prompt")
    if not isinstance(prompt, str):
        return []
    problems: list[Problem] = []
    if len(prompt) > cap.prompt_limit:
        message = (
            f"is {len(prompt)} characters long; {target.path} takes at most {cap.prompt_limit}"
        )
        problems.append((("prompt",), message))
    try:
        shots = read_shots(prompt)
    except ValueError as exc:
        return [*problems, (("prompt",), f"is written in shots, but {exc}")]
    if shots is None:
        return problems
    if not cap.shots:
        message = f"is written in shots; {target.path} makes one shot (multi-shot: the 3.0 family)"
        return [*problems, (("prompt",), message)]
    if cap.multi_shot_setting and request.get("multi_shot") is not True:
        message = f"is written in shots; {target.path} makes them only with multi_shot: true"
        problems.append((("prompt",), message))
    duration = int(str(request.get("duration", "5")))
    problems += [(("prompt",), message) for message in shot_problems(shots, duration)]
    return problems


def _frames(request: Mapping[str, Any], cap: PathCapability, target: ModelPath) -> list[Problem]:
    """Modes and durations first; then the last frame: never alone, on the paths that take one,
    in their modes, and silent where the capability map says so."""
    mode = str(request.get("mode", "std"))
    duration = str(request.get("duration", "5"))
    problems: list[Problem] = []
    if mode not in cap.modes:
        made = " or ".join(_QUALITY[m] for m in cap.modes)
        problems.append((("mode",), f"{target.path} makes {made} only, not {mode!r}{_RELAX}"))
    if duration not in cap.durations:
        made = seconds(cap.durations)
        message = f"{target.path} makes videos of {made}, not {duration} s{_RELAX}"
        problems.append((("duration",), message))
    if problems or "image_tail" not in request:
        return problems
    if "image" not in request:
        message = "an end frame alone is never taken: give the first frame (image) too"
        return [(("image_tail",), message)]
    if not cap.tail_modes:
        message = f"{target.path} takes a first frame only: no end frame (image_tail){_RELAX}"
        return [(("image_tail",), message)]
    if mode not in cap.tail_modes:
        made = " or ".join(_QUALITY[m] for m in cap.tail_modes)
        message = f"{target.path} takes an end frame in {made} only; this job asks for {mode!r}"
        return [(("image_tail",), message + _RELAX)]
    if cap.tail_silent and request.get("sound") == "on":
        message = f"{target.path} makes videos with an end frame silent only: set sound: off"
        return [(("sound",), message + _RELAX)]
    return []


def _extras(request: Mapping[str, Any], cap: PathCapability, target: ModelPath) -> list[Problem]:
    """Sound (native audio) in its modes, elements and voices in their counts, aspect ratio."""
    problems: list[Problem] = []
    mode = str(request.get("mode", "std"))
    if request.get("sound") == "on" and cap.sound_modes and mode not in cap.sound_modes:
        made = " or ".join(_QUALITY[m] for m in cap.sound_modes)
        message = f"{target.path} makes native audio in {made} only; this job asks for {mode!r}"
        problems.append((("sound",), message + _RELAX))
    for field, most in (("element_list", cap.elements), ("voice_list", cap.voices)):
        given = request.get(field)
        if most and isinstance(given, list) and len(given) > most:
            message = f"has {len(given)} items; {target.path} takes at most {most}"
            problems.append(((field,), message + _RELAX))
    ratio = request.get("aspect_ratio")
    if cap.aspect_ratios and ratio is not None and ratio not in cap.aspect_ratios:
        message = f"{target.path} makes {', '.join(cap.aspect_ratios)} only, not {ratio}"
        problems.append((("aspect_ratio",), message + _RELAX))
    return problems


__all__ = ["check_path"]
