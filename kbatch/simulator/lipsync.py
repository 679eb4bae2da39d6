"""The simulator's checks of avatar, face identification and lip-sync (``kling-avatar.md``,
``kling-face-recog.md``, ``kling-lip-sync.md``): the sound given (a TTS ``audio_id`` or a
``sound_file``, exactly one), the video's faces, and lip-sync's audio window.

Face identification finds one face over the whole video (``face_id`` ``"0"``, as on the lip-sync
page's example), and a second one (``"1"``) over the second half of a video of 6 s or more, so
that a client's choice of face can be tested. A session keeps the video's length and its faces.
"""

from __future__ import annotations

from typing import Any

from kbatch.simulator import audio
from kbatch.simulator.blockrules import (
    MB,
    SOUND_BYTES,
    Checked,
    between,
    kept,
    number,
    one_of,
    sound,
    text,
    video,
)
from kbatch.simulator.made import BlockStore, refuse
from kbatch.simulator.rules import image_of

MIN_SOUND_MS = 2000  # the cropped sound, and its overlap with the face


async def given_sound(
    body: dict[str, Any], made: BlockStore, where: str, high: float
) -> tuple[str, float]:
    """The field given (audio_id or sound_file) and the sound's seconds, within 2..``high``."""
    name = one_of(body, "audio_id", "sound_file", where)
    field = f"{where}{name}"
    if name == "audio_id":
        seconds = made.audio(body["audio_id"], field)
    else:
        seconds = await sound(body["sound_file"], field, audio.SOUND_FORMATS, SOUND_BYTES)
    between(seconds, field, 2, high)
    return name, seconds


async def avatar(body: dict[str, Any], made: BlockStore, strict: bool) -> Checked:
    """An image (the /v1 rules), one of audio_id or sound_file (2-300 s), a prompt <= 2500,
    mode std (default) or pro. The video lasts as long as the sound."""
    if "image" not in body:
        refuse("image", "is required")
    image_of(body["image"], "image", main=True)
    text(body, "prompt", 2500)
    mode = body.get("mode", "std")
    if mode not in ("std", "pro"):
        refuse("mode", f"must be std or pro, not {mode!r}")
    _, seconds = await given_sound(body, made, "", 300)
    return Checked(kept(body, "image", "sound_file"), length=seconds)


async def identify_face(body: dict[str, Any], made: BlockStore, strict: bool) -> Checked:
    """One of video_id (made within 30 days, at most 60 s) or video_url (mp4/mov <= 100 MB,
    2-60 s, 720p or 1080p with both sides 512-2160 px). Answers a session and its faces."""
    name = one_of(body, "video_id", "video_url")
    if name == "video_id":
        seconds, _, _ = made.video(body["video_id"], "video_id")
        between(seconds, "video_id", 0, 60, "video")
    else:
        seconds, width, height = await video(body["video_url"], "video_url", 100 * MB, 2, 60)
        if width and height and not 512 <= min(width, height) <= max(width, height) <= 2160:
            refuse("video_url", f"is {width}x{height}; both sides must be 512 to 2160 px")
    total = round(seconds * 1000)
    faces = [{"face_id": "0", "start_time": 0, "end_time": total}]
    if seconds >= 6:
        faces.append({"face_id": "1", "start_time": total // 2, "end_time": total})
    parent = {"id": body.get("video_id", ""), "url": body.get("video_url", "")}
    made_from = {"faces": faces, "parent_video": parent | {"duration": f"{seconds:g}"}}
    return Checked(dict(body), length=seconds, made=made_from)


async def lip_sync(body: dict[str, Any], made: BlockStore, strict: bool) -> Checked:
    """A session of identify-face, one face in ``face_choose`` with its sound (audio_id or
    sound_file, 2-60 s) and its window: ``sound_start_time`` to ``sound_end_time`` (ms, within the
    sound, at least 2 s), inserted at ``sound_insert_time`` inside the video and overlapping the
    face's time by at least 2 s; volumes 0-2. The video made lasts as long as the session's."""
    session_id = body.get("session_id")
    if not isinstance(session_id, str) or not session_id:
        refuse("session_id", "is required")
    session = made.session(session_id)
    chosen = body.get("face_choose")
    if not isinstance(chosen, list) or len(chosen) != 1 or not isinstance(chosen[0], dict):
        refuse("face_choose", "exactly one face: lip-sync supports one person")
    face = chosen[0]
    if not strict:
        face = {name: value for name, value in face.items() if value != ""}
    faces = {item["face_id"]: item for item in session.made["faces"]}
    face_id = face.get("face_id")
    if face_id not in faces:
        refuse("face_choose[0].face_id", f"no face {face_id!r} in session {session_id}")
    _, seconds = await given_sound(face, made, "face_choose[0].", 60)
    window = _window(face, round(seconds * 1000), round(session.length * 1000), faces[face_id])
    for name in ("sound_volume", "original_audio_volume"):
        if name in face:
            number(face[name], f"face_choose[0].{name}", 0, 2)
    fields = dict(body)
    fields["face_choose"] = [kept(face, "sound_file")]
    parent = dict(session.made["parent_video"])
    return Checked(fields, length=session.length, made={"parent_video": parent, "window": window})


def _window(face: dict[str, Any], sound_ms: int, video_ms: int, found: dict[str, Any]) -> int:
    """The checks of the sound's window; the ms it lasts."""
    where = "face_choose[0]."
    times = {}
    for name in ("sound_start_time", "sound_end_time", "sound_insert_time"):
        value = face.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            refuse(where + name, "is required: a whole number of ms")
        if value < 0:
            refuse(where + name, f"must not be negative, not {value}")
        times[name] = value
    start, end = times["sound_start_time"], times["sound_end_time"]
    insert = times["sound_insert_time"]
    if end > sound_ms:
        refuse(where + "sound_end_time", f"{end} ms is after the sound's end ({sound_ms} ms)")
    if end - start < MIN_SOUND_MS:
        refuse(where + "sound_end_time", f"the cropped sound lasts {end - start} ms; at least 2 s")
    if insert + end - start > video_ms:
        message = f"the sound would end at {insert + end - start} ms, after the video's end"
        refuse(where + "sound_insert_time", f"{message} ({video_ms} ms)")
    overlap = min(insert + end - start, found["end_time"]) - max(insert, found["start_time"])
    if overlap < MIN_SOUND_MS:
        message = f"the sound overlaps face {found['face_id']}'s time by {max(overlap, 0)} ms"
        refuse(where + "sound_insert_time", f"{message}; at least 2 s")
    return end - start


__all__ = ["avatar", "given_sound", "identify_face", "lip_sync"]
