"""Lip-sync's two steps on the wire (``kling-face-recog.md``, ``kling-lip-sync.md``).

1. ``POST /v1/videos/identify-face`` with ``video_id`` or ``video_url``, answered at once (no
   task, no external id): a ``session_id`` and ``face_data[]{face_id, face_image, start_time,
   end_time}`` (ms).
2. ``POST /v1/videos/advanced-lip-sync`` with the ``session_id`` and ``face_choose`` (one face:
   the lip-sync page says "one person"; the changelog's "multi person" is not what the create
   documents, so kbatch sends one), an ordinary task from then on.

A manifest's lip-sync job is written flat (``video_id``, ``face_id``, ``audio_id`` or
``sound_file``, the times and volumes); :func:`identify_request` and :func:`create_request`
make the two bodies from it.

>>> session = parse_session({"session_id": "s1", "face_data": [
...     {"face_id": "0", "start_time": 0, "end_time": 5000}]})
>>> create_request({"video_id": "v", "audio_id": "a"}, session, session.faces[0], 3000)
{'session_id': 's1', 'face_choose': [{'face_id': '0', 'audio_id': 'a', 'sound_start_time': 0, 'sound_end_time': 3000, 'sound_insert_time': 0}]}
"""  # noqa: E501

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: What the manifest's lip-sync job names that goes into ``face_choose[0]``, besides the times.
_FACE_FIELDS = ("audio_id", "sound_file", "sound_volume", "original_audio_volume")
#: The fields of the create itself, as written.
_TASK_FIELDS = ("callback_url", "watermark_info")


@dataclass(frozen=True, slots=True)
class Face:
    """One face found: its id and when it is seen (ms of the video)."""

    face_id: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class FaceSession:
    """What identification answered: the session the create names, the faces, its charge."""

    session_id: str
    faces: tuple[Face, ...]
    units: str | None = None  # final_unit_deduction, when the answer says it

    def to_text(self) -> str:
        """The session as the state keeps it (:meth:`from_text` reads it back)."""
        faces = [[f.face_id, f.start_ms, f.end_ms] for f in self.faces]
        return json.dumps({"session_id": self.session_id, "faces": faces, "units": self.units})

    @classmethod
    def from_text(cls, text: str) -> FaceSession:
        data = json.loads(text)
        faces = tuple(Face(str(i), int(s), int(e)) for i, s, e in data["faces"])
        return cls(str(data["session_id"]), faces, data.get("units"))

    @property
    def charged(self) -> float | None:
        """The units this session was charged, as a number (None: not said, or unreadable)."""
        try:
            return None if self.units is None else float(self.units)
        except ValueError:
            return None

    def face(self, face_id: str | None) -> Face | None:
        """The face named, or the first found (None: no such face, or none at all)."""
        if face_id is None:
            return self.faces[0] if self.faces else None
        return next((f for f in self.faces if f.face_id == face_id), None)


def parse_session(data: Any) -> FaceSession:
    """The identify-face answer's data; ValueError when it is not one."""
    if not isinstance(data, Mapping) or not isinstance(data.get("session_id"), str | int):
        raise ValueError("no session_id")
    faces = []
    for position, item in enumerate(data.get("face_data") or ()):
        try:
            start, end = int(item["start_time"]), int(item["end_time"])
            faces.append(Face(str(item["face_id"]), start, end))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"face_data[{position}] is not a face") from None
    units = data.get("final_unit_deduction")
    return FaceSession(str(data["session_id"]), tuple(faces), None if units is None else str(units))


def identify_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """The identify-face body: the job's video, by id or by URL."""
    return {name: request[name] for name in ("video_id", "video_url") if name in request}


def create_request(
    request: Mapping[str, Any], session: FaceSession, face: Face, sound_ms: int | None
) -> dict[str, Any]:
    """The advanced-lip-sync request: the session, and the face with its sound and window
    (defaults: from the sound's start, to its end ``sound_ms``, inserted at the video's
    start). ``sound_ms`` is needed only when ``sound_end_time`` is not written."""
    start = int(request.get("sound_start_time", 0))
    end = request.get("sound_end_time", sound_ms)
    chosen: dict[str, Any] = {"face_id": face.face_id}
    chosen |= {name: request[name] for name in _FACE_FIELDS[:2] if name in request}
    chosen |= {"sound_start_time": start, "sound_end_time": end}
    chosen["sound_insert_time"] = int(request.get("sound_insert_time", 0))
    chosen |= {name: request[name] for name in _FACE_FIELDS[2:] if name in request}
    body = {"session_id": session.session_id, "face_choose": [chosen]}
    return body | {name: request[name] for name in _TASK_FIELDS if name in request}


def window_problem(body: Mapping[str, Any], face: Face) -> str | None:
    """Kling's rule of the window against the face found: the inserted sound overlaps the
    face's time by at least 2 s (checked before the lip-sync is paid)."""
    chosen = body["face_choose"][0]
    start, end = chosen["sound_start_time"], chosen["sound_end_time"]
    insert = chosen["sound_insert_time"]
    overlap = min(insert + end - start, face.end_ms) - max(insert, face.start_ms)
    if overlap >= 2000:
        return None
    return (
        f"the sound ({end - start} ms, inserted at {insert} ms) overlaps face {face.face_id} "
        f"(seen {face.start_ms}-{face.end_ms} ms) by {max(overlap, 0)} ms; Kling needs 2000: "
        "change sound_insert_time, or name another face_id"
    )


__all__ = [
    "Face",
    "FaceSession",
    "create_request",
    "identify_request",
    "parse_session",
    "window_problem",
]
