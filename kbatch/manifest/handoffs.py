"""What a downstream field takes of another job's video, decided from the upstream's request
before anything is sent (``validate``, ``plan``, ``run``).

A ``video`` field of motion_control or omni_video holds its video to limits (:mod:`kbatch.videos`:
its length, sides, pixels and aspect ratio). When the video is another job's (``job:<id>``), its
length is that job's ``duration`` (image2video, text2video, omni_video from its own inputs; 5 s
when the request names none, Kling's default), and its frame follows from ``mode`` (std 720p,
pro 1080p, 4k 2160p, on the short side) and ``aspect_ratio`` when the request writes both.
What the request does not decide (a motion_control's length is its own video's, an omni edit's
its base video's, an image2video's frame its image's) is checked once the file is downloaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kbatch.manifest import motion, omni, records
from kbatch.provider.catalogue import JobKind
from kbatch.videos import O1_REFERENCE, OMNI_REFERENCE, VideoInfo, VideoLimits

#: The short side of the frame each ``mode`` makes.
SHORT_SIDE: Mapping[str, int] = {"std": 720, "pro": 1080, "4k": 2160}
#: Kling's length of a video whose request names no ``duration``.
DEFAULT_SECONDS = 5.0
#: The kinds whose video lasts its request's ``duration``.
_TIMED = frozenset({JobKind.IMAGE2VIDEO, JobKind.TEXT2VIDEO, JobKind.OMNI_VIDEO})


@dataclass(frozen=True, slots=True)
class Clip:
    """What a video job's request decides of its video; None where it does not."""

    seconds: float | None = None
    width: int | None = None
    height: int | None = None

    def problems(self, limits: VideoLimits) -> list[str]:
        """Every rule of ``limits`` this video breaks (what is unknown breaks none)."""
        info = VideoInfo("video/mp4", None, self.seconds, self.width, self.height)
        return limits.problems(info)


def clip_of(kind: JobKind, request: Mapping[str, Any], ratio: float | None) -> Clip | None:
    """What a job's request decides of the video it makes (None: it makes no video, or the
    request decides nothing of it)."""
    if kind not in _TIMED:
        return None
    seconds: float | None = None
    edits = kind is JobKind.OMNI_VIDEO and request.get("video_refer_type") == "base"
    if not edits:  # an edit lasts as long as the video it edits
        try:
            seconds = float(str(request.get("duration", DEFAULT_SECONDS)))
        except ValueError:
            seconds = None
    width = height = None
    short = SHORT_SIDE.get(str(request.get("mode", "")))
    if short is not None and ratio is not None and not edits and kind is not JobKind.IMAGE2VIDEO:
        width, height = (
            (round(short * ratio), short) if ratio >= 1 else (short, round(short / ratio))
        )
    return Clip(seconds, width, height)


def video_limits(kind: JobKind, request: Mapping[str, Any]) -> VideoLimits | None:
    """The limits a job's ``video`` field holds its video to (None: it takes none)."""
    if kind is JobKind.MOTION_CONTROL:
        return motion.LIMITS.get(str(request.get("character_orientation", "")))
    if kind is JobKind.OMNI_VIDEO:
        return O1_REFERENCE if omni.model_of(request) == omni.O1 else OMNI_REFERENCE
    if kind is JobKind.ELEMENT:  # slice records: element_video_list.refer_videos[0].video_url
        return records.ELEMENT_VIDEO
    return None


__all__ = ["DEFAULT_SECONDS", "SHORT_SIDE", "Clip", "clip_of", "video_limits"]
