"""What the building blocks cost (issue 31), as :mod:`kbatch.pricing` reads it: a price a call
for speech, sound, voices, elements and subject views; avatar by the second of its sound, lip-sync
by each 5 s begun of its video plus face identification's call (kling-pricing-video.md,
kling-pricing-image.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from kbatch.provider.catalogue import JobKind

#: What decides a job's price (:data:`kbatch.pricing.Key`).
Key = tuple[JobKind, str, str, int]

# -- a price a call --
#: Units a call, whatever the length (kling-pricing-video.md: TTS 0.05, text to audio 0.25,
#: video to audio 0.25, custom voice 0.05 video units; kling-pricing-image.md: AI Multi-Shot 20
#: image units for its three views). An element's price is stated on no page: estimated at a
#: custom voice's 0.05 (the other call that adds to the account's library), marked so
#: (:data:`UNSTATED`), and the charge Kling reports for the task is what counts.
PER_CALL: Mapping[JobKind, float] = MappingProxyType(
    {
        JobKind.TTS: 0.05,
        JobKind.TEXT2AUDIO: 0.25,
        JobKind.VIDEO2AUDIO: 0.25,
        JobKind.ELEMENT: 0.05,
        JobKind.VOICE: 0.05,
        JobKind.SUBJECT_COMPLETION: 20.0,
    }
)
#: Kinds whose price no page of Kling's states: kbatch's figure is an estimate.
UNSTATED = frozenset({JobKind.ELEMENT})


# -- avatar and lip-sync --
FACE_KINDS = frozenset({JobKind.AVATAR, JobKind.LIP_SYNC})
#: Avatar: units a second of the video made (std billed as 720p, pro as 1080p).
AVATAR_PER_SECOND: Mapping[str, float] = MappingProxyType({"std": 0.4, "pro": 0.8})
#: Lip-sync: units per 5 s of the video made (each 5 s begun), and face identification's call.
LIP_SYNC_PER_5S = 0.5
IDENTIFY_FACE_UNITS = 0.05
#: The seconds estimated when they are unknown before the run: an avatar lasts as long as its
#: sound (a local WAV or MP3's length is read; a TTS result's or a URL's is not known), a
#: lip-sync as long as its video (a made video's or a URL's length is not read). Estimates,
#: marked so by ``validate``; the task's reported charge is what counts.
FACE_DEFAULT_SECONDS = 10


def face_key(kind: JobKind, request: Mapping[str, Any]) -> Key:
    """Avatar: its mode and its sound's seconds; lip-sync: its video's seconds (a video by URL
    measured by the manifest's check, else estimated).

    >>> face_key(JobKind.AVATAR, {"mode": "pro"})  # 0: not known before the run
    (<JobKind.AVATAR: 'avatar'>, '', 'pro', 0)
    """
    mode = "pro" if request.get("mode") == "pro" else "std"
    seconds: Any = request.get("duration")  # a lip-sync's video by URL: measured when checked
    seconds = int(seconds) if isinstance(seconds, str) and seconds.isdigit() else None
    if kind is JobKind.AVATAR:
        seconds = getattr(request.get("sound_file"), "seconds", None)
    if not isinstance(seconds, float | int):
        return kind, "", mode, 0
    return kind, "", mode, max(1, math.ceil(seconds - 1e-6))


def unknown_lengths(keys: Iterable[tuple[Key, int]]) -> int:
    """How many jobs (price keys with their counts) are avatars or lip-syncs whose length is
    not known before the run: priced at :data:`FACE_DEFAULT_SECONDS`, an estimate ``plan``
    says it made.

    >>> unknown_lengths([(face_key(JobKind.LIP_SYNC, {}), 3)])
    3
    """
    return sum(count for key, count in keys if key[0] in FACE_KINDS and key[3] == 0)


def face_price(faces: Mapping[str, float], key: Key) -> float:
    """Units of an avatar or lip-sync task with this key (``faces``: the manifest's prices,
    ``avatar:std``, ``avatar:pro``, ``lip_sync``).

    >>> face_price({}, (JobKind.AVATAR, "", "pro", 5))
    4.0
    """
    kind, _, mode, seconds = key
    seconds = seconds or FACE_DEFAULT_SECONDS
    if kind is JobKind.AVATAR:
        return faces.get(f"avatar:{mode}", AVATAR_PER_SECOND[mode]) * seconds
    per_5s = faces.get("lip_sync", LIP_SYNC_PER_5S)
    return per_5s * max(1, math.ceil(seconds / 5 - 1e-9)) + IDENTIFY_FACE_UNITS


def faces_over(faces: Mapping[str, float], written: Mapping[str, Any]) -> Mapping[str, float]:
    """slice faces: ``pricing: avatar: {std, pro}`` and ``pricing: lip_sync:`` laid over."""
    out = dict(faces)
    for mode, units in (written.get("avatar") or {}).items():
        out[f"avatar:{mode}"] = float(units)
    if "lip_sync" in written:
        out["lip_sync"] = float(written["lip_sync"])
    return MappingProxyType(out)


def per_call_over(per_call: Mapping[JobKind, float], written: Any) -> Mapping[JobKind, float]:
    """slice records: prices per call with ``pricing: element: 0.1`` (and the like) laid over.

    >>> per_call_over(PER_CALL, {"element": 0.1})[JobKind.ELEMENT]
    0.1
    """
    laid = {kind: float(written[kind.value]) for kind in per_call if kind.value in written}
    return MappingProxyType({**per_call, **laid})


__all__ = [
    "AVATAR_PER_SECOND",
    "FACE_DEFAULT_SECONDS",
    "FACE_KINDS",
    "IDENTIFY_FACE_UNITS",
    "LIP_SYNC_PER_5S",
    "PER_CALL",
    "UNSTATED",
    "face_key",
    "face_price",
    "faces_over",
    "per_call_over",
    "unknown_lengths",
]
