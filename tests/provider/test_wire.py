"""The wire format: envelopes, task records, request bodies and the error taxonomy."""

from __future__ import annotations

import base64
import email.utils
import json

import pytest

from kbatch.errors import Outcome
from kbatch.provider.bodies import build_body
from kbatch.provider.catalogue import ENDPOINTS, Dialect, JobKind
from kbatch.provider.envelope import read_reply
from kbatch.provider.transport import retry_after
from kbatch.provider.wire import (
    CODES,
    Charge,
    ChargeType,
    MediaKind,
    TaskStatus,
    classify,
    parse_task,
)
from tests.conftest import IMAGES, image, request_of

# -- the error table of KLING_API.md, row by row ---------------------------------------------------

TABLE = [
    (401, range(1000, 1005), Outcome.FATAL),
    (429, (1100, 1101, 1102), Outcome.FATAL),
    (403, (1103,), Outcome.FAIL_JOB),
    (400, (1200, 1201), Outcome.FAIL_JOB),
    (404, (1202, 1203), Outcome.FAIL_JOB),
    (400, (1300, 1301), Outcome.FAIL_JOB),
    (429, (1302, 1303), Outcome.RETRY),
    (429, (1304,), Outcome.FATAL),
    (500, (5000,), Outcome.RETRY),
    (503, (5001,), Outcome.RETRY),
    (504, (5002,), Outcome.RETRY),
]


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [(status, code, outcome) for status, codes, outcome in TABLE for code in codes],
)
def test_every_code_of_the_table_has_its_outcome(status: int, code: int, outcome: Outcome) -> None:
    assert classify(status, code, creating=False) in (outcome, Outcome.NOT_FOUND)
    if code != 1203:
        assert classify(status, code, creating=False) is outcome
    assert code in CODES


@pytest.mark.parametrize("code", [5000, 5001, 5002])
def test_a_create_answered_with_a_server_error_may_have_landed(code: int) -> None:
    assert classify(500, code, creating=True) is Outcome.UNKNOWN


def test_a_create_with_no_answer_is_unknown_but_a_read_is_retried() -> None:
    assert classify(None, None, creating=True) is Outcome.UNKNOWN
    assert classify(None, None, creating=False) is Outcome.RETRY


def test_rate_limits_on_a_create_are_plain_retries() -> None:
    """429 means the request was refused: nothing was created."""
    assert classify(429, 1302, creating=True) is Outcome.RETRY
    assert classify(429, 1303, creating=True) is Outcome.RETRY


def test_code_errors_with_http_200_are_still_errors() -> None:
    reply = read_reply(200, "application/json", b'{"code": 1201, "message": "bad n"}')
    assert not reply.ok
    assert classify(reply.status, reply.code, creating=True) is Outcome.FAIL_JOB


@pytest.mark.parametrize(
    ("status", "code", "creating", "outcome"),
    [
        (404, None, True, Outcome.NOT_SERVED),  # a create route the gateway lacks
        (404, 1203, False, Outcome.NOT_FOUND),  # no such task
        (400, "task_not_exist", False, Outcome.NOT_FOUND),  # CometAPI's word for it
        (301, None, False, Outcome.NOT_SERVED),
        (502, None, False, Outcome.RETRY),
        (401, "invalid_api_key", False, Outcome.FATAL),
        (429, "rate_limited", True, Outcome.RETRY),
        (400, 1299, True, Outcome.FAIL_JOB),  # an undocumented code: by its range
        (200, 1050, False, Outcome.FATAL),
        (200, 5099, False, Outcome.RETRY),
    ],
)
def test_answers_outside_the_table(
    status: int, code: int | str | None, creating: bool, outcome: Outcome
) -> None:
    assert classify(status, code, creating=creating) is outcome


# -- envelopes -------------------------------------------------------------------------------------


def test_the_kling_envelope_is_unwrapped() -> None:
    body = {"code": 0, "message": "SUCCEED", "request_id": "r1", "data": {"task_id": "7"}}
    reply = read_reply(200, "application/json", json.dumps(body).encode())
    assert reply.ok
    assert (reply.data, reply.request_id) == ({"task_id": "7"}, "r1")


def test_a_gateway_error_envelope_is_read() -> None:
    body = {"error": {"code": "task_not_exist", "message": "no task", "type": "comet_api_error"}}
    reply = read_reply(400, "application/json", json.dumps(body).encode())
    assert (reply.code, reply.message, reply.ok) == ("task_not_exist", "no task", False)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "an HTML page"),
        (b"upstream connect error", "not JSON"),
        (b"", "an empty body"),
        (b'["not", "an", "object"]', "not JSON"),
    ],
)
def test_bodies_that_are_not_the_api_speaking(raw: bytes, says: str) -> None:
    reply = read_reply(200, "text/html", raw)
    assert not reply.ok and not reply.json
    assert says in reply.message


def test_a_string_code_that_is_a_number_is_read_as_one() -> None:
    reply = read_reply(429, "application/json", b'{"code": "1303", "message": "full"}')
    assert reply.code == 1303


# -- task records ----------------------------------------------------------------------------------


def test_a_finished_video_task_is_parsed() -> None:
    task = parse_task(
        {
            "task_id": 42,
            "task_status": "succeed",
            "task_status_msg": "",
            "task_info": {"external_task_id": "kb-1"},
            "final_unit_deduction": "3.5",
            "created_at": 1_700_000_000_000,
            "updated_at": 1_700_000_060_000,
            "task_result": {"videos": [{"id": "v", "url": "https://cdn/x/v.mp4", "duration": "5"}]},
        }
    )
    assert task.task_id == "42" and task.status is TaskStatus.SUCCEED and task.status.finished
    assert (task.external_task_id, task.units) == ("kb-1", 3.5)
    [video] = task.media
    assert (video.kind, video.duration, video.extension) == (MediaKind.VIDEO, "5", "mp4")


def test_image_results_keep_their_index_and_extension() -> None:
    task = parse_task(
        {
            "task_id": "t",
            "task_status": "succeed",
            "task_result": {
                "images": [
                    {"index": 1, "url": "https://cdn/b.jpg?sig=abc"},
                    {"index": 0, "url": "https://cdn/noext"},
                ]
            },
        }
    )
    assert [(m.index, m.extension) for m in task.media] == [(1, "jpg"), (0, "png")]


def test_an_empty_task_info_and_missing_units_are_fine() -> None:
    task = parse_task({"task_id": "t", "task_status": "submitted", "task_info": {}})
    assert (task.external_task_id, task.units, task.media) == (None, None, ())


@pytest.mark.parametrize(
    "obj",
    [
        None,
        [],
        {"task_status": "submitted"},
        {"task_id": "t", "task_status": "exploded"},
        {"task_id": "t", "task_status": "succeed", "task_result": {"images": [{"index": 0}]}},
    ],
)
def test_what_is_not_a_task_is_refused(obj: object) -> None:
    with pytest.raises(ValueError):
        parse_task(obj)


# -- request bodies --------------------------------------------------------------------------------


def test_local_images_go_out_as_raw_base64() -> None:
    body = build_body(
        request_of(JobKind.IMAGE2VIDEO),
        ENDPOINTS[JobKind.IMAGE2VIDEO, Dialect.OFFICIAL],
        external_task_id="kb-1",
    )
    assert not body["image"].startswith("data:")
    assert base64.b64decode(body["image"], validate=True) == (IMAGES / "ok.png").read_bytes()
    assert (body["duration"], body["external_task_id"]) == ("5", "kb-1")


def test_nested_images_are_encoded_too() -> None:
    body = build_body(
        request_of(JobKind.MULTI_IMAGE2IMAGE, scene_image=image()),
        ENDPOINTS[JobKind.MULTI_IMAGE2IMAGE, Dialect.OFFICIAL],
        external_task_id="kb-2",
    )
    for item in body["subject_image_list"]:
        base64.b64decode(item["subject_image"], validate=True)
    assert "scene_image" in body


def test_the_legacy_dialect_misspells_the_scene_field() -> None:
    body = build_body(
        request_of(JobKind.MULTI_IMAGE2IMAGE, scene_image=image()),
        ENDPOINTS[JobKind.MULTI_IMAGE2IMAGE, Dialect.LEGACY],
        external_task_id="kb-3",
    )
    assert "scence_image" in body and "scene_image" not in body


# -- Retry-After -----------------------------------------------------------------------------------


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after("7") == 7.0
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert retry_after(date, now=1_000_000) == pytest.approx(30)
    assert retry_after(None) is None
    assert retry_after("soon") is None


# -- what a task really cost ----------------------------------------------------------------------

#: A /v1 query answer's data as the vendor's pages show it (kling-effects-video-effects.md):
#: ``final_unit_deduction`` a string, ``final_balance_deduction {quota, list_price}``.
LEGACY_DONE = {
    "task_id": "t-1",
    "task_status": "succeed",
    "task_status_msg": "",
    "task_info": {"external_task_id": "kb-1"},
    "task_result": {"videos": [{"id": "v", "url": "https://cdn/v.mp4", "duration": "5"}]},
    "watermark_info": {"enabled": False},
    "final_unit_deduction": "2.5",
    "final_balance_deduction": {"quota": "0.35", "list_price": "0.5"},
    "created_at": 1722769557708,
    "updated_at": 1722769557708,
}


def test_the_v1_routes_report_units_and_cash_deducted() -> None:
    task = parse_task(LEGACY_DONE)
    assert task.units == 2.5
    assert task.charges == (
        Charge(ChargeType.UNIT, "2.5"),
        Charge(ChargeType.CASH, "0.35", list_price="0.5"),
    )


def test_a_task_not_yet_charged_has_no_units() -> None:
    task = parse_task({**LEGACY_DONE, "final_unit_deduction": None, "final_balance_deduction": {}})
    assert task.units is None and task.charges == ()
    assert parse_task({**LEGACY_DONE, "final_unit_deduction": 3}).units == 3.0
