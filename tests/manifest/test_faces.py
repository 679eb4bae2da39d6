"""avatar and lip_sync: their rules before paying (kling-avatar.md, kling-lip-sync.md), a local
sound file read and checked (size, format, length), its price estimated from its length, and
lip-sync's two bodies made from a flat job (the face chosen, the default window)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kbatch import pricing
from kbatch.manifest.checks import unsent
from kbatch.manifest.faces import check_avatar, check_lip_sync, resolve_sound
from kbatch.provider.catalogue import JobKind
from kbatch.provider.faces import FaceSession, create_request, parse_session, window_problem
from kbatch.simulator.audio import mp3, wav
from kbatch.sounds import MAX_SOUND_BYTES, SoundInput, sound_seconds
from tests.clips import serving

LIP, AVATAR = JobKind.LIP_SYNC, JobKind.AVATAR


def test_one_video_and_one_speech_are_required() -> None:
    assert check_lip_sync({"video_id": "v", "audio_id": "a"}) == []
    found = check_lip_sync({"video_id": "v", "video_url": "https://x/v.mp4"})
    assert [path for path, _ in found] == [("video_url",), ()]
    assert "missing the speech" in found[1][1]
    assert check_avatar({"audio_id": "a"}) == [((), "missing required field 'image'")]


def test_a_local_video_url_is_refused_with_the_way_to_send_it() -> None:
    ((path, message),) = check_lip_sync({"video_url": "clips/talk.mp4", "audio_id": "a"})
    assert path == ("video_url",) and "Kling takes videos by URL only" in message


def test_a_local_sound_is_read_and_stands_by_its_content_in_the_fingerprint(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.wav").write_bytes(wav(4.0))
    request, view, problems = resolve_sound(LIP, {"sound_file": "a.wav"}, {}, tmp_path)
    sound = request["sound_file"]
    assert problems == [] and isinstance(sound, SoundInput) and sound.seconds == 4.0
    assert sound.value == str(tmp_path / "a.wav") and view["sound_file"].startswith("sha256:")
    url = {"sound_file": "https://cdn.example/a.mp3"}
    assert resolve_sound(AVATAR, url, url, tmp_path) == (url, url, [])


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"not a sound at all", "is not a sound Kling takes"),
        (wav(1.0), "lasts 1.0 s; lip_sync takes a sound of 2 to 60 s"),
        (mp3(61.0), "lasts 61.0 s; lip_sync takes a sound of 2 to 60 s"),
        (b"RIFF" + bytes(MAX_SOUND_BYTES), "Kling takes a sound file of at most 5 MB"),
    ],
    ids=["format", "short", "long", "size"],
)
def test_a_sound_kling_would_refuse_is_refused_at_its_line(
    tmp_path: Path, data: bytes, says: str
) -> None:
    (tmp_path / "s.mp3").write_bytes(data)
    _, _, problems = resolve_sound(LIP, {"sound_file": "s.mp3"}, {}, tmp_path)
    assert [(path, says in message) for path, message in problems] == [(("sound_file",), True)]


def test_the_window_lasts_at_least_2_s() -> None:
    written = {"video_id": "v", "audio_id": "a", "sound_start_time": 1000}
    assert check_lip_sync(written | {"sound_end_time": 3000}) == []
    short = check_lip_sync(written | {"sound_end_time": 2999})
    assert [path for path, _ in short] == [("sound_end_time",)]


def test_the_window_past_a_local_sound_s_end_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(wav(3.0))
    written = {"sound_file": "a.wav", "sound_end_time": 3500}
    _, _, problems = resolve_sound(LIP, written, {}, tmp_path)
    assert problems == [(("sound_end_time",), "is 3500 ms, after the end of 'a.wav' (3000 ms)")]
    _, _, problems = resolve_sound(
        LIP, {"sound_file": "a.wav", "sound_start_time": 1500}, {}, tmp_path
    )
    assert [path for path, _ in problems] == [("sound_start_time",)]


def test_mp3_and_wav_lengths_are_read_from_their_headers() -> None:
    assert sound_seconds(wav(2.5)) == 2.5
    assert sound_seconds(mp3(3.0)) == pytest.approx(3.0, abs=0.03)
    assert sound_seconds(b"\xff\xf1" + bytes(100)) is None  # AAC: not read


def test_avatar_is_priced_by_its_sound_s_seconds_and_mode(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(wav(12.0))
    request, _, _ = resolve_sound(AVATAR, {"sound_file": "a.wav", "mode": "pro"}, {}, tmp_path)
    assert pricing.DEFAULT.estimate(AVATAR, request) == pytest.approx(12 * 0.8)
    # a TTS result's length is not known before: the stated default, 10 s of std
    assert pricing.DEFAULT.estimate(AVATAR, {"audio_id": "a"}) == pytest.approx(4.0)
    # lip-sync: 0.5 per 5 s of its video (10 s estimated) and identify-face's 0.05
    assert pricing.DEFAULT.estimate(LIP, {"video_id": "v"}) == pytest.approx(1.05)
    table = pricing.DEFAULT.override({"avatar": {"std": 1}, "lip_sync": 2})
    assert table.estimate(AVATAR, {"audio_id": "a"}) == pytest.approx(10.0)
    assert table.estimate(LIP, {"video_id": "v"}) == pytest.approx(4.05)


SESSION = parse_session(
    {
        "session_id": "s1",
        "final_unit_deduction": "0.05",
        "face_data": [
            {"face_id": "0", "face_image": "u", "start_time": 0, "end_time": 8000},
            {"face_id": "1", "face_image": "u", "start_time": 4000, "end_time": 8000},
        ],
    }
)


def test_the_session_is_kept_as_text_and_the_first_face_is_the_default() -> None:
    assert FaceSession.from_text(SESSION.to_text()) == SESSION
    assert SESSION.face(None) == SESSION.faces[0] and SESSION.face("1") == SESSION.faces[1]
    assert SESSION.face("7") is None and SESSION.units == "0.05"
    with pytest.raises(ValueError, match="face_data"):
        parse_session({"session_id": "s", "face_data": [{"face_id": "0"}]})


def test_the_create_names_the_session_the_face_and_the_window() -> None:
    written: dict[str, Any] = {"video_id": "v", "face_id": "1", "sound_file": "https://x/a.mp3"}
    written |= {"sound_insert_time": 5000, "sound_volume": 2, "callback_url": "https://h/k"}
    body = create_request(written, SESSION, SESSION.faces[1], 3000)
    assert body == {
        "session_id": "s1",
        "face_choose": [
            {
                "face_id": "1",
                "sound_file": "https://x/a.mp3",
                "sound_start_time": 0,
                "sound_end_time": 3000,
                "sound_insert_time": 5000,
                "sound_volume": 2,
            }
        ],
        "callback_url": "https://h/k",
    }
    assert window_problem(body, SESSION.faces[1]) is None
    late = create_request({**written, "sound_insert_time": 7000}, SESSION, SESSION.faces[1], 3000)
    problem = window_problem(late, SESSION.faces[1])
    assert problem is not None and "overlaps face 1 (seen 4000-8000 ms) by 1000 ms" in problem


def test_a_lip_sync_by_url_is_estimated_on_its_video_s_seconds(tmp_path: Path) -> None:
    """The URL check learns the video's length (20 s: 4 x 0.5 units, and identify's 0.05);
    ``duration`` is never sent: the create's body is made from the session."""
    with serving(tmp_path / "cdn") as cdn:
        written = {"video_url": f"{cdn}/long.mp4", "audio_id": "a"}
        assert check_lip_sync(written) == []
        sent = unsent(LIP, written)
    assert sent["duration"] == "20"
    assert pricing.DEFAULT.estimate(LIP, sent) == pytest.approx(2.05)
    body = create_request(sent, SESSION, SESSION.faces[0], None)
    assert "duration" not in body and "duration" not in body["face_choose"][0]
