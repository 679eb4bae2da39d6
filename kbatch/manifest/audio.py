"""Speech, sound effects and sound for a video: the rules of ``tts``, ``text2audio`` and
``video2audio`` jobs beyond what the JSON Schema says (its types, ranges and text lengths).

From the vendor's pages (``aself101/kling-api`` ``docs/api/``): ``kling-text-to-speech.md``
(``text`` and ``voice_id`` required; ``voice_speed`` 0.8 to 2.0 with one decimal),
``kling-text-to-audio.md`` (``prompt`` and ``duration`` required, 3.0 to 10.0 s with one
decimal), ``kling-video-to-audio.md`` (exactly one of ``video_id`` and ``video_url``; a URL's
video mp4/mov, at most 100 MB, 3 to 20 s, taken by URL only).

>>> check_tts({"text": "Hello", "voice_id": "oversea_male1", "voice_speed": 1.25})
[(('voice_speed',), 'is 1.25; Kling takes one decimal (0.8 to 2.0): write 1.2 or 1.3')]
>>> check_text2audio({"prompt": "rain on a tin roof"})
[((), "missing required field 'duration'")]
>>> [path for path, _ in check_video2audio({"video_id": "v1", "video_url": "https://x/v.mp4"})]
[('video_url',)]
"""

from __future__ import annotations

from typing import Any

from kbatch.manifest.issues import missing
from kbatch.manifest.omni import reference_video
from kbatch.manifest.references import Reference
from kbatch.videos import MB, VideoLimits

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]

#: kling-video-to-audio.md: the video given by URL (its pixels are not limited there).
VIDEO2AUDIO_SOURCE = VideoLimits("video-to-audio", 100 * MB, 3.0, 20.0, 1, 100_000)


def _one_decimal(request: dict[str, Any], name: str, what: str) -> list[Problem]:
    value = request.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return []  # a type the schema refuses
    if abs(round(value, 1) - value) > 1e-9:
        low, high = f"{int(value * 10) / 10:g}", f"{int(value * 10 + 1) / 10:g}"
        message = f"is {value:g}; Kling takes one decimal ({what}): write {low} or {high}"
        return [((name,), message)]
    return []


def check_tts(request: dict[str, Any]) -> list[Problem]:
    """Speech: the words and a voice; the speed with one decimal (Kling rounds others)."""
    problems = missing(request, "text", "voice_id")
    text = request.get("text")
    if isinstance(text, str) and not text.strip():
        problems.append((("text",), "is blank: there is nothing to speak"))
    return problems + _one_decimal(request, "voice_speed", "0.8 to 2.0")


def check_text2audio(request: dict[str, Any]) -> list[Problem]:
    """A sound effect: a prompt and a duration of 3.0 to 10.0 s with one decimal."""
    problems = missing(request, "prompt", "duration")
    prompt = request.get("prompt")
    if isinstance(prompt, str) and not prompt.strip():
        problems.append((("prompt",), "is blank: say what sound to make"))
    return problems + _one_decimal(request, "duration", "3.0 to 10.0 s")


def check_video2audio(request: dict[str, Any]) -> list[Problem]:
    """Sound for a video: exactly one of ``video_id`` (a video Kling made, or ``job:<id>``)
    and ``video_url`` (a URL, or ``job:<id>`` for the made video's URL), the URL's video
    checked before paying; a local file is refused unless ``media:`` sends it by URL."""
    given = [name for name in ("video_id", "video_url") if name in request]
    if not given:
        return [((), "give the video: video_id (a video Kling made, or job:<id>) or video_url")]
    if len(given) == 2:
        message = "give one of video_id and video_url, not both: Kling takes exactly one"
        return [(("video_url",), message)]
    url = request.get("video_url")
    if url is None or isinstance(url, Reference):
        return []
    return reference_video(url, VIDEO2AUDIO_SOURCE, ("video_url",))


__all__ = ["VIDEO2AUDIO_SOURCE", "check_text2audio", "check_tts", "check_video2audio"]
