"""The record kinds' rules, prices and outputs (issue 31, slice "records"): element, voice and
subject_completion checked where the manifest decides them, local files Kling takes by URL only
sent through ``media:``, a price per call (an element's estimated), and a task's elements,
voices and views read as records and images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kbatch import blockprices, pricing
from kbatch.manifest import validate
from kbatch.manifest.records import check_element, check_voice, element_number, speaks
from kbatch.provider import made
from kbatch.provider.catalogue import PROVIDERS, JobKind, PackType, ProviderName
from kbatch.provider.presets import LISTINGS, PresetKind, parse
from kbatch.provider.wire import MediaKind, parse_task
from tests.clips import clip
from tests.conftest import IMAGES

IMAGES_OF = {"frontal_image": "a.png", "refer_images": [{"image_url": "b.png"}]}
ELEMENT = {"element_name": "Hero", "element_description": "a knight"}


@pytest.mark.parametrize(
    ("request_", "where", "words"),
    [
        ({**ELEMENT}, (), "missing required field 'reference_type'"),
        (
            {**ELEMENT, "reference_type": "image_refer"},
            ("element_image_list",),
            "image_refer needs element_image_list",
        ),
        (
            {**ELEMENT, "reference_type": "image_refer", "element_image_list": IMAGES_OF}
            | {"element_video_list": {"refer_videos": [{"video_url": "https://x/v.mp4"}]}},
            ("element_video_list",),
            "is for reference_type: video_refer",
        ),
        (
            {**ELEMENT, "reference_type": "video_refer"},
            ("element_video_list",),
            "video_refer needs element_video_list",
        ),
        (
            {**ELEMENT, "reference_type": "video_refer", "element_image_list": IMAGES_OF},
            ("element_image_list",),
            "is for reference_type: image_refer",
        ),
    ],
)
def test_each_element_rule_is_located(
    request_: dict[str, Any], where: tuple[str, ...], words: str
) -> None:
    found = check_element(request_)
    assert [path for path, _ in found][:1] == [where], found
    assert words in found[0][1]


def test_a_valid_element_and_voice_pass() -> None:
    assert (
        check_element(
            {**ELEMENT, "reference_type": "image_refer"} | {"element_image_list": IMAGES_OF}
        )
        == []
    )
    assert check_voice({"voice_name": "Ann", "voice_url": "https://x/ann.mp3"}) == []
    assert check_voice({"voice_name": "Ann"}) == [
        ((), "give one of voice_url (an audio or video URL) and video_id")
    ]


def test_a_voice_is_made_only_of_a_speaking_video() -> None:
    assert speaks(JobKind.TEXT2VIDEO, {"model_name": "kling-v2-6", "sound": "on"})
    assert not speaks(JobKind.IMAGE2VIDEO, {"model_name": "kling-v3", "sound": "on"})
    assert speaks(JobKind.LIP_SYNC, {}) and speaks(JobKind.AVATAR, {})
    assert not speaks(JobKind.OMNI_VIDEO, {"audio": "native"})


def test_an_element_id_of_digits_is_sent_as_a_number() -> None:
    assert element_number("42") == 42 and element_number("e-42") == "e-42"


def write(tmp_path: Path, job: dict[str, Any], media: Any = None) -> Path:
    (tmp_path / "ok.png").write_bytes((IMAGES / "ok.png").read_bytes())
    data: dict[str, Any] = {"version": 1, "name": "t", "provider": "simulator"}
    data |= {"media": media} if media else {}
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({**data, "jobs": [job]}, sort_keys=False), encoding="utf-8")
    return path


def test_local_media_kling_takes_by_url_goes_through_media(tmp_path: Path) -> None:
    """Without media: refused at its field; with media: {serve: true}, written local: and
    checked from its bytes (an element's video) or sent as it is (a voice's source)."""
    (tmp_path / "hero.mp4").write_bytes(clip(5, 1920, 1080))
    (tmp_path / "ann.mp3").write_bytes(b"ID3" + bytes(400))
    videos = {"refer_videos": [{"video_url": "hero.mp4"}]}
    element: dict[str, Any] = {"kind": "element", **ELEMENT, "reference_type": "video_refer"}
    element |= {"element_video_list": videos}
    voice = {"kind": "voice", "voice_name": "Ann", "voice_url": "ann.mp3"}
    for job in (element, voice):
        found = validate(write(tmp_path, job))
        assert len(found.issues) == 1 and "by URL only" in found.issues[0].message, found.issues
        sent = validate(write(tmp_path, job, {"serve": True}), keep=1)
        assert not sent.issues, sent.issues
        assert sent.uploads.count == 1
    short = {"refer_videos": [{"video_url": "short.mp4"}]}
    (tmp_path / "short.mp4").write_bytes(clip(2, 1920, 1080))
    found = validate(write(tmp_path, {**element, "element_video_list": short}, {"serve": True}))
    (issue,) = found.issues
    assert issue.path == "$.jobs[0].element_video_list.refer_videos[0].video_url"
    assert "lasts 2.0 s; an element's reference video takes 3 to 8 s" in issue.message


def test_prices_per_call_and_the_element_s_estimate() -> None:
    table = pricing.DEFAULT
    assert table.estimate(JobKind.VOICE, {"voice_name": "a"}) == 0.05
    assert table.estimate(JobKind.SUBJECT_COMPLETION, {}) == 20.0
    assert JobKind.ELEMENT in blockprices.UNSTATED and table.estimate(JobKind.ELEMENT, {}) == 0.05
    laid = table.override({"element": 0.2, "subject_completion": 16})
    assert laid.estimate(JobKind.ELEMENT, {}) == 0.2
    assert laid.estimate(JobKind.SUBJECT_COMPLETION, {}) == 16.0
    units = pricing.by_pack([(JobKind.SUBJECT_COMPLETION, 20.0), (JobKind.VOICE, 0.05)])
    assert units == {PackType.IMAGE: 20.0, PackType.VIDEO: 0.05}


def test_the_gateways_document_no_record_route() -> None:
    for name in (ProviderName.COMETAPI, ProviderName.ANYAPI):
        assert {JobKind.ELEMENT, JobKind.VOICE, JobKind.SUBJECT_COMPLETION} <= PROVIDERS[
            name
        ].unserved


def test_a_task_s_records_and_views_are_read() -> None:
    voice = {"voice_id": "v9", "voice_name": "Ann", "trial_url": "https://cdn/t/trial.mp3"}
    task = parse_task(
        {"task_id": "1", "task_status": "succeed", "task_result": {"voices": [voice]}}
    )
    record, trial = task.media
    assert (record.kind, record.id, record.extension) == (MediaKind.VOICE, "v9", "json")
    body = made.record_bytes(record.url)
    assert body is not None and b'"trial_file": "0.trial.mp3"' in body
    assert (trial.kind, trial.variant, trial.extension) == (MediaKind.AUDIO, "trial", "mp3")
    element = {"element_id": 829, "element_name": "Hero", "element_voice_info": {}}
    task = parse_task(
        {"task_id": "2", "task_status": "succeed", "task_result": {"elements": [element]}}
    )
    assert [(m.kind, m.id) for m in task.media] == [(MediaKind.ELEMENT, "829")]
    views = {"index": 0, "url_1": "https://a/1.png", "url_2": "https://a/2.png"}
    with pytest.raises(ValueError, match=r"images\[0\] has no url_3"):
        parse_task({"task_id": "3", "task_status": "succeed", "task_result": {"images": [views]}})
    views["url_3"] = "https://a/3.png"
    task = parse_task(
        {"task_id": "3", "task_status": "succeed", "task_result": {"images": [views]}}
    )
    assert [(m.index, m.url) for m in task.media] == [
        (n, f"https://a/{n + 1}.png") for n in range(3)
    ]


def test_a_preset_element_s_trial_is_its_voice_s() -> None:
    voice = {"voice_id": "v1", "trial_url": "https://cdn/v1/trial.mp3"}
    element = {"element_id": 7, "element_name": "Cat", "element_voice_info": voice}
    page = [{"task_result": {"elements": [element]}}, {"task_result": {"elements": [{}]}}]
    (found,) = parse(page, LISTINGS[PresetKind.ELEMENTS])
    assert (found.id, found.name, found.trial_url) == ("7", "Cat", "https://cdn/v1/trial.mp3")
