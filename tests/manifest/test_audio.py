"""Speech, sound effects and sound for a video in a manifest: the rules the schema cannot say,
the body sent (a tts has no external id), the prices of the vendor's page (per call, a tts
holding no slot), the audios of a task parsed (an mp3 result and its wav) and where they land."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbatch import validate
from kbatch.engine.downloads import target
from kbatch.engine.outcomes import media_rows
from kbatch.manifest.audio import check_text2audio, check_tts, check_video2audio
from kbatch.manifest.references import Reference
from kbatch.pricing import DEFAULT
from kbatch.provider.bodies import body_parts
from kbatch.provider.catalogue import ENDPOINTS, PROVIDERS, Dialect, JobKind, request_slots
from kbatch.provider.wire import MediaKind, parse_task

SPEECH = {"text": "Hello", "voice_id": "oversea_male1"}


@pytest.mark.parametrize(
    ("request_", "paths"),
    [
        (SPEECH, []),
        (SPEECH | {"voice_speed": 1.3}, []),
        (SPEECH | {"voice_speed": 1.25}, [("voice_speed",)]),
        ({"voice_id": "oversea_male1"}, [()]),
        ({"text": "Hello"}, [()]),
        ({"text": " ", "voice_id": "v"}, [("text",)]),
        ({"text": "Hello", "voice_id": Reference("narrator")}, []),  # a voice job's voice_id
    ],
)
def test_speech_needs_words_and_a_voice(request_: dict[str, object], paths: list[object]) -> None:
    assert [path for path, _ in check_tts(dict(request_))] == paths


@pytest.mark.parametrize(
    ("request_", "paths"),
    [
        ({"prompt": "rain", "duration": 3}, []),
        ({"prompt": "rain", "duration": 9.9}, []),
        ({"prompt": "rain", "duration": 9.95}, [("duration",)]),
        ({"prompt": "rain"}, [()]),
        ({"duration": 5}, [()]),
    ],
)
def test_a_sound_needs_a_prompt_and_a_duration_of_one_decimal(
    request_: dict[str, object], paths: list[object]
) -> None:
    assert [path for path, _ in check_text2audio(dict(request_))] == paths


def test_sound_for_a_video_takes_exactly_one_video() -> None:
    assert check_video2audio({"video_id": "842250903629086785"}) == []
    assert check_video2audio({"video_id": Reference("clip")}) == []
    assert check_video2audio({"video_url": Reference("clip")}) == []
    assert check_video2audio({"video_url": "simulator:samples/dance.mp4"}) == []  # 5 s
    assert [p for p, _ in check_video2audio({"bgm_prompt": "piano"})] == [()]
    both = check_video2audio({"video_id": "1", "video_url": "https://x.example/v.mp4"})
    assert [p for p, _ in both] == [("video_url",)]
    local = check_video2audio({"video_url": "clip.mp4"})
    assert [p for p, _ in local] == [("video_url",)] and "by URL only" in local[0][1]


def test_a_text_over_1000_characters_is_refused_at_its_line(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "version: 1\nname: t\nprovider: simulator\njobs:\n"
        f"  - kind: tts\n    voice_id: oversea_male1\n    text: {'a' * 1001}\n",
        encoding="utf-8",
    )
    [issue] = validate(manifest).issues
    assert (issue.location.line, issue.path) == (7, "$.jobs[0].text")
    assert "1001 characters" in issue.message


def test_the_tts_body_has_no_external_id_and_the_others_do() -> None:
    speech = ENDPOINTS[JobKind.TTS, Dialect.OFFICIAL]
    sent = b"".join(body_parts(SPEECH, speech, external_task_id=None, encoded=lambda i: b""))
    assert sent == b'{"text": "Hello", "voice_id": "oversea_male1"}'
    assert speech.route == "audio/tts"
    sound = ENDPOINTS[JobKind.TEXT2AUDIO, Dialect.LEGACY]
    body = b"".join(
        body_parts({"prompt": "x"}, sound, external_task_id="kb-1", encoded=lambda i: b"")
    )
    assert b'"external_task_id": "kb-1"' in body and sound.route == "audio/text-to-audio"
    gateway = PROVIDERS["cometapi"]  # type: ignore[index]
    assert {JobKind.TTS, JobKind.TEXT2AUDIO, JobKind.VIDEO2AUDIO} <= gateway.unserved


def test_prices_are_per_call_and_a_tts_holds_no_slot() -> None:
    assert DEFAULT.estimate(JobKind.TTS, SPEECH) == 0.05
    assert DEFAULT.estimate(JobKind.TEXT2AUDIO, {"prompt": "x", "duration": 10}) == 0.25
    assert DEFAULT.estimate(JobKind.VIDEO2AUDIO, {"video_id": "1"}) == 0.25
    assert DEFAULT.override({"video2audio": 0.5}).estimate(JobKind.VIDEO2AUDIO, {}) == 0.5
    assert request_slots(JobKind.TTS, SPEECH) == 0
    assert request_slots(JobKind.TEXT2AUDIO, {}) == request_slots(JobKind.VIDEO2AUDIO, {}) == 1


def test_audios_are_parsed_the_mp3_the_result_and_the_wav_a_second_file_of_it() -> None:
    cdn = "https://cdn.example/s"
    speech = parse_task(
        {"task_id": "1", "task_status": "succeed"}
        | {"task_result": {"audios": [{"id": "a1", "url": f"{cdn}/o.mp3", "duration": "2.4"}]}}
    )
    [audio] = speech.media
    assert (audio.kind, audio.id, audio.duration, audio.extension) == (
        MediaKind.AUDIO,
        "a1",
        "2.4",
        "mp3",
    )
    sound = {"id": "a2", "url_mp3": f"{cdn}/x", "url_wav": f"{cdn}/y", "duration_mp3": "5"}
    made = {"videos": [{"id": "v2", "url": f"{cdn}/v.mp4"}], "audios": [sound]}
    task = parse_task({"task_id": "2", "task_status": "succeed", "task_result": made})
    rows = media_rows("job", task)
    shown = [(r.index, r.kind, r.variant, r.extension, r.made_id) for r in rows]
    assert shown == [
        (0, "video", "", "mp4", "v2"),
        (1, "audio", "", "mp3", "a2"),
        (1, "audio", "wav", "wav", "a2"),
    ]
    names = [
        target(Path("o"), "j", index=r.index, extension=r.extension, variant=r.variant)
        for r in rows
    ]
    assert [p.as_posix() for p in names] == ["o/j/0.mp4", "o/j/1.mp3", "o/j/1.wav"]
    with pytest.raises(ValueError, match=r"audios\[0\] has no url"):
        parse_task({"task_id": "3", "task_status": "succeed", "task_result": {"audios": [{}]}})


def test_a_local_video_is_sent_by_url_when_the_manifest_has_media(tmp_path: Path) -> None:
    """Kling takes video2audio's video by URL only: with ``media: {serve: true}`` a local file
    is checked from its bytes (5 s: within 3 to 20) and listed as an upload."""
    sample = Path(__file__).parents[2] / "kbatch" / "data" / "samples" / "dance.mp4"
    (tmp_path / "clip.mp4").write_bytes(sample.read_bytes())
    manifest = tmp_path / "m.yaml"
    jobs = "jobs:\n  - {kind: video2audio, video_url: clip.mp4, bgm_prompt: piano}\n"
    head = "version: 1\nname: t\nprovider: simulator\n"
    manifest.write_text(head + "media: {serve: true}\n" + jobs, encoding="utf-8")
    checked = validate(manifest)
    assert checked.ok, checked.issues
    assert len(checked.uploads.sizes) == 1
    manifest.write_text(head + jobs, encoding="utf-8")  # no media: refused at its line
    [issue] = validate(manifest).issues
    assert issue.path == "$.jobs[0].video_url" and "by URL only" in issue.message
