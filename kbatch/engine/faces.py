"""Lip-sync's first step in a job's life: identify the faces of its video (a call Kling answers
at once, with no task and no external id), then make the create's body from the session.

The session is remembered in the state under a key per job, fingerprint and attempt
(``store.remember``), in two writes, each durable before the next step:

1. ``identifying`` before the call. A run that finds this (killed between the call and its
   answer being written) cannot know whether Kling made, and charged, a session: the job fails
   with reason ``lost`` and is never identified again by itself (``--retry-failed`` does, and
   may pay a second time). An answer lost on the wire (OutcomeUnknown: a timeout, a reset)
   ends the same way.
2. the session (its id, faces and charge) once answered, before the create is sent. A resumed
   lip-sync (its create lost, the run killed) finds it and does not identify again.

Identification's charge (0.05 units) is the job's too: it is added to what the lip-sync task
reports (:func:`charged`), so the attempt's units are both calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kbatch.engine.context import RunContext
from kbatch.errors import (
    ApiError,
    JobRejected,
    OutcomeUnknown,
    RetryLater,
    RouteNotServed,
    RunFatal,
    TaskNotFound,
)
from kbatch.manifest.jobs import Job
from kbatch.provider.catalogue import PACK, JobKind
from kbatch.provider.faces import FaceSession, create_request, window_problem
from kbatch.provider.wire import Charge, ChargeType, Task
from kbatch.sounds import MAX_SOUND_BYTES, SoundInput, sound_seconds
from kbatch.store.records import FailureReason, JobRow

IDENTIFYING = "identifying"
#: Kinds whose sound may be an ``audio_id``: the made audio's file is found among their results.
_AUDIO_MAKERS = frozenset({JobKind.TTS, JobKind.TEXT2AUDIO, JobKind.VIDEO2AUDIO})


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a lip-sync is not created: the job fails with this reason (nothing more is paid)."""

    reason: FailureReason
    message: str
    code: int | str | None = None
    #: Units identify-face was charged, when it answered before the refusal (they count).
    charged: float | None = None


def session_key(row: JobRow) -> str:
    """Where a job's attempt keeps its face session in the state."""
    return f"face-session:{row.id}:{row.fingerprint}:{row.attempt}"


async def request_of(run: RunContext, row: JobRow, job: Job) -> Mapping[str, Any] | Refused | None:
    """What a job's create sends: its request; a lip-sync's made from its face session
    (:func:`prepared`). Refused when the job fails; None when the run stops first."""
    if job.kind is not JobKind.LIP_SYNC:
        return job.request
    request = job.request
    if run.state.media is not None:  # a local video_url: by the store's URL
        request = run.state.media.sent(request)
    return await prepared(run, row, request)


async def prepared(
    run: RunContext, row: JobRow, request: Mapping[str, Any]
) -> dict[str, Any] | Refused | None:
    """The advanced-lip-sync request for this attempt (identifying the faces first unless the
    state has the session); Refused when the job fails; None when the run stops first."""
    store = run.recorder.store
    key = session_key(row)
    kept = await asyncio.to_thread(store.recall, key)
    if kept == IDENTIFYING:
        return _lost(row, "a run was stopped between the call and its answer being kept")
    if kept:
        session = FaceSession.from_text(kept)
    else:
        found = await _identify(run, row, request, key)
        if not isinstance(found, FaceSession):
            return found
        session = found
    named = request.get("face_id")
    face = session.face(None if named is None else str(named))
    if face is None:
        ids = ", ".join(f.face_id for f in session.faces) or "none"
        what = f"no face {named!r}" if named is not None else "no face"
        message = f"Kling found {what} in the video (faces found: {ids}); nothing more is paid"
        return Refused(FailureReason.REJECTED, message, charged=session.charged)
    sound_ms = None
    if "sound_end_time" not in request:
        sound_ms = await _sound_ms(run, request)
        if sound_ms is None:
            message = (
                "the sound's length cannot be read before it is sent (not a WAV or MP3 kbatch "
                "can reach): write sound_end_time (ms)"
            )
            return Refused(FailureReason.REJECTED, message, charged=session.charged)
    body = create_request(request, session, face, sound_ms)
    problem = window_problem(body, face)
    if problem is None:
        return body
    return Refused(FailureReason.REJECTED, problem, charged=session.charged)


async def _identify(
    run: RunContext, row: JobRow, request: Mapping[str, Any], key: str
) -> FaceSession | Refused | None:
    store = run.recorder.store
    backoff = run.backoff()
    while True:
        await asyncio.to_thread(store.remember, key, IDENTIFYING)  # durable before the call
        try:
            session = await run.provider.identify_face(request)
        except OutcomeUnknown as exc:
            return _lost(row, exc.message)
        except RetryLater as exc:  # not made: the key is free again while we wait
            await asyncio.to_thread(store.remember, key, "")
            await backoff.pause(exc, announce=run.announcer(row.id, exc))
            if run.stops.reason is not None:
                return None
            continue
        except RunFatal as exc:
            await asyncio.to_thread(store.remember, key, "")
            run.stops.fatal(exc, PACK[row.kind])
            return None
        except RouteNotServed as exc:
            return Refused(FailureReason.NOT_SERVED, exc.message, exc.code)
        except (JobRejected, TaskNotFound) as exc:
            return Refused(FailureReason.REJECTED, exc.message, exc.code)
        await asyncio.to_thread(store.remember, key, session.to_text())  # before the create
        return session


def _lost(row: JobRow, why: str) -> Refused:
    message = (
        f"lip-sync's face identification (attempt {row.attempt}) may have been made and charged "
        f"but its answer was lost ({why}); it has no task to look up, so kbatch does not call "
        "it again by itself: --retry-failed identifies the faces again, which may pay a second "
        "time"
    )
    return Refused(FailureReason.LOST, message)


def charged(run: RunContext, row: JobRow, task: Task) -> Task:
    """A finished lip-sync task with identification's charge added to what it reported (when
    it reported a charge: else the attempt's estimate, which holds both calls, counts)."""
    kept = run.recorder.store.recall(session_key(row))
    if task.units is None or not kept or kept == IDENTIFYING:
        return task
    units = FaceSession.from_text(kept).units
    if units is None:
        return task
    extra = Charge(ChargeType.UNIT, units, PACK[row.kind].value)
    return replace(task, charges=(*task.charges, extra))


async def _sound_ms(run: RunContext, request: Mapping[str, Any]) -> int | None:
    """The sound's length in ms: a local file's, read when the manifest was; a URL's or a made
    audio's, from its bytes (at most 5 MB, Kling's limit); None when it cannot be read."""
    sound = request.get("sound_file")
    if isinstance(sound, SoundInput):
        return None if sound.seconds is None else int(sound.seconds * 1000)
    data: bytes | None = None
    if isinstance(sound, str) and sound.startswith(("http://", "https://")):
        data = await _fetched(run, sound)
    elif isinstance(request.get("audio_id"), str):
        data = await asyncio.to_thread(_made_audio, run, str(request["audio_id"]))
    seconds = sound_seconds(data) if data else None
    return None if seconds is None else int(seconds * 1000)


async def _fetched(run: RunContext, url: str) -> bytes | None:
    chunks: list[bytes] = []
    try:
        async with run.provider.download(url) as body:
            async for chunk in body.chunks:
                chunks.append(chunk)
                if sum(map(len, chunks)) > MAX_SOUND_BYTES:
                    return None
    except ApiError:
        return None
    return b"".join(chunks)


def _made_audio(run: RunContext, audio_id: str) -> bytes | None:
    """The downloaded file of the audio this run's jobs made with this id, if any."""
    store = run.recorder.store
    for job_id, row in list(run.recorder.rows.items()):
        if row.kind not in _AUDIO_MAKERS:
            continue
        for media in store.media(job_id):
            if media.made_id == audio_id and media.path:
                path = Path(run.manifest.output.dir) / media.path
                return path.read_bytes() if path.is_file() else None
    return None


__all__ = ["IDENTIFYING", "Refused", "charged", "prepared", "request_of", "session_key"]
