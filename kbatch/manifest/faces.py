"""The rules of avatar and lip-sync jobs, checked before anything is paid (``kling-avatar.md``,
``kling-lip-sync.md``, ``kling-face-recog.md``; KLING_API.md section 11).

- avatar: an ``image`` and the speech, exactly one of ``audio_id`` (a text-to-speech result)
  and ``sound_file`` (a local file, a URL, or a made audio), 2 to 300 s.
- lip_sync: the video, exactly one of ``video_id`` (a video Kling made) and ``video_url`` (by
  URL only: mp4/mov, 2-60 s, at most 100 MB, sides 512-2160 px); the speech as for avatar, 2 to
  60 s; its window in ms: ``sound_start_time`` (default 0) to ``sound_end_time`` (default the
  sound's end) lasts at least 2 s and ends within the sound, inserted at ``sound_insert_time``
  (default 0). Where the window meets the video (inside it, overlapping the face by 2 s) is
  checked once the faces are known (:mod:`kbatch.engine.faces`), before the lip-sync is paid.

A local ``sound_file`` is read here (:func:`resolve_sound`): its size, format and (WAV, MP3)
length, so that a window past its end is refused at the manifest line.

>>> check_lip_sync({"video_id": "v", "audio_id": "a", "sound_end_time": 1500})
[(('sound_end_time',), 'the sound used lasts 1500 ms (sound_start_time 0 to sound_end_time 1500); Kling takes at least 2000 ms')]
"""  # noqa: E501

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kbatch.manifest.issues import missing
from kbatch.manifest.omni import measured, reference_video
from kbatch.manifest.references import Reference
from kbatch.provider.catalogue import JobKind
from kbatch.sounds import SoundInput, SoundProblem, read_sound
from kbatch.videos import MB, VideoLimits

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]

#: The kinds that take a ``sound_file``, and the seconds their sound may last.
SOUND_SECONDS: Mapping[JobKind, tuple[float, float]] = {
    JobKind.AVATAR: (2.0, 300.0),
    JobKind.LIP_SYNC: (2.0, 60.0),
}
#: The shortest sound lip-sync uses, and its overlap with the face (ms).
MIN_WINDOW_MS = 2000
#: A lip-sync video by URL (kling-face-recog.md).
LIP_SYNC_VIDEO = VideoLimits("lip-sync's video", 100 * MB, 2.0, 60.0, min_side=512, max_side=2160)


def _one_of(request: Mapping[str, Any], first: str, second: str, what: str) -> list[Problem]:
    given = [name for name in (first, second) if name in request]
    if len(given) == 2:
        return [((second,), f"cannot be used together with {first}: give one {what}")]
    if not given:
        return [((), f"missing the {what}: '{first}' or '{second}'")]
    return []


def check_avatar(request: dict[str, Any]) -> list[Problem]:
    """An image and one sound (its length: :func:`resolve_sound`)."""
    return missing(request, "image") + _one_of(request, "audio_id", "sound_file", "speech")


def check_lip_sync(request: dict[str, Any]) -> list[Problem]:
    """One video, one sound, and the sound's window as far as the manifest decides it."""
    problems = _one_of(request, "video_id", "video_url", "video")
    problems += _one_of(request, "audio_id", "sound_file", "speech")
    if "video_url" in request and "video_id" not in request:
        problems += reference_video(request["video_url"], LIP_SYNC_VIDEO, ("video_url",))
    start = request.get("sound_start_time", 0)
    end = request.get("sound_end_time")
    if isinstance(end, int) and end - start < MIN_WINDOW_MS:
        message = (
            f"the sound used lasts {end - start} ms (sound_start_time {start} to "
            f"sound_end_time {end}); Kling takes at least {MIN_WINDOW_MS} ms"
        )
        problems.append((("sound_end_time",), message))
    return problems


def with_seconds(request: Mapping[str, Any]) -> dict[str, Any]:
    """A lip-sync's request with ``duration``: its video's whole seconds when its URL check
    learnt them (it ran already: the answer is remembered), for the estimate. Never sent: the
    create's body is made from the session (:mod:`kbatch.provider.faces`)."""
    out = dict(request)
    url = request.get("video_url")
    if isinstance(url, str) and "video_id" not in request:
        found = measured(url, LIP_SYNC_VIDEO)
        if not isinstance(found, Exception) and found.duration is not None:
            out["duration"] = str(max(1, math.ceil(found.duration - 1e-6)))
    return out


def resolve_sound(
    kind: JobKind, request: dict[str, Any], view: dict[str, Any], base_dir: Path
) -> tuple[dict[str, Any], dict[str, Any], list[Problem]]:
    """A local ``sound_file`` read and checked (size, format, length), sent as base64: the
    request with a :class:`~kbatch.sounds.SoundInput` in its place, the view with its content
    hash (the fingerprint's), and the problems. URLs and references are left as written."""
    text = request.get("sound_file")
    if kind not in SOUND_SECONDS or not isinstance(text, str) or isinstance(text, Reference):
        return request, view, []
    if text.strip().lower().startswith(("http://", "https://")):
        return request, view, []
    try:
        sound, digest = read_sound(base_dir / Path(text.strip()).expanduser())
    except SoundProblem as exc:
        return request, view, [(("sound_file",), f"{text!r} {exc}")]
    problems = _length(kind, request, sound, text)
    return {**request, "sound_file": sound}, {**view, "sound_file": digest}, problems


def _length(
    kind: JobKind, request: Mapping[str, Any], sound: SoundInput, text: str
) -> list[Problem]:
    if sound.seconds is None:
        return []
    low, high = SOUND_SECONDS[kind]
    if not low - 0.05 <= sound.seconds <= high + 0.05:
        lasts = f"{text!r} lasts {sound.seconds:.1f} s"
        message = f"{lasts}; {kind} takes a sound of {low:g} to {high:g} s"
        return [(("sound_file",), message)]
    if kind is not JobKind.LIP_SYNC:
        return []
    total = int(sound.seconds * 1000)
    start = int(request.get("sound_start_time", 0))
    end = request.get("sound_end_time")
    if isinstance(end, int) and end > total:
        message = f"is {end} ms, after the end of {text!r} ({total} ms)"
        return [(("sound_end_time",), message)]
    if end is None and total - start < MIN_WINDOW_MS:
        message = (
            f"leaves {total - start} ms of {text!r} ({total} ms long); Kling takes at least "
            f"{MIN_WINDOW_MS} ms"
        )
        return [(("sound_start_time",), message)]
    return []


__all__ = [
    "LIP_SYNC_VIDEO",
    "MIN_WINDOW_MS",
    "SOUND_SECONDS",
    "check_avatar",
    "check_lip_sync",
    "resolve_sound",
    "with_seconds",
]
