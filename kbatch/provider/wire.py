"""Kling's wire format: request bodies, answers, task records, and what each failure means.

::

    body = build_body(job.request, endpoint, external_task_id="kb-...")
    reply = envelope.read_reply(status, content_type, raw)    # the envelope, or a gateway error
    outcome = classify(reply.status, reply.code, creating=True)
    task = parse_task(reply.data)                            # Task(task_id, status, media, ...)

The error taxonomy (:func:`classify`) follows the table of KLING_API.md. Every failure gets one
:class:`~kbatch.errors.Outcome`; a create that may have reached the provider is never "retry" but
"unknown", so that the engine looks it up by its external task id instead of paying twice.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kbatch.errors import Outcome
from kbatch.provider import made


class TaskStatus(enum.StrEnum):
    """A task's status, as Kling spells it (``succeed``, not "succeeded")."""

    SUBMITTED = "submitted"
    PROCESSING = "processing"
    SUCCEED = "succeed"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (TaskStatus.SUCCEED, TaskStatus.FAILED)


#: Spellings seen for a status; read tolerantly, written as Kling does.
_STATUS_SPELLINGS = {
    "submitted": TaskStatus.SUBMITTED,
    "queued": TaskStatus.SUBMITTED,
    "processing": TaskStatus.PROCESSING,
    "running": TaskStatus.PROCESSING,
    "succeed": TaskStatus.SUCCEED,
    "succeeded": TaskStatus.SUCCEED,
    "success": TaskStatus.SUCCEED,
    "failed": TaskStatus.FAILED,
    "fail": TaskStatus.FAILED,
}


class MediaKind(enum.StrEnum):
    """What a made thing is: a file to fetch (image, video, audio), or a record kept as a small
    JSON file (an element's or a voice's id, and its trial file's URL, if any)."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    ELEMENT = "element"
    VOICE = "voice"


@dataclass(frozen=True, slots=True)
class Media:
    """One generated file: where to fetch it (the provider deletes it after 30 days)."""

    kind: MediaKind
    index: int
    url: str
    id: str | None = None
    duration: str | None = None
    watermark_url: str | None = None
    variant: str = ""  # "" the result; "wav" a sound's wav file, "trial" a record's trial file

    @property
    def extension(self) -> str:
        """The file extension to save it under, from the URL, else by kind."""
        if self.kind in (MediaKind.ELEMENT, MediaKind.VOICE):  # slice records: a JSON record
            return "json"
        if self.kind is MediaKind.AUDIO and self.variant == made.TRIAL:
            return made.extension(self.url)
        path = self.url.split("?", 1)[0].rsplit("/", 1)[-1]
        suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
        if suffix in ("png", "jpg", "jpeg", "webp", "mp4", "mov", "webm", "mp3", "wav"):
            return suffix
        if self.kind is MediaKind.AUDIO:
            return self.variant or "mp3"
        return "png" if self.kind is MediaKind.IMAGE else "mp4"


class ChargeType(enum.StrEnum):
    """What paid for a task: units of a resource pack, or money from the balance."""

    UNIT = "unit"
    CASH = "cash"


@dataclass(frozen=True, slots=True)
class Charge:
    """What a finished task really cost (amounts are decimal strings, as sent): units of a
    ``package_type`` pack, or cash (``currency``; ``cash_type`` balance or test_balance; the
    ``list_price`` before discount). Reported, never estimated: the budget counts it once known."""

    type: ChargeType
    amount: str
    package_type: str | None = None
    currency: str | None = None
    cash_type: str | None = None
    list_price: str | None = None

    @property
    def value(self) -> float | None:
        """The amount as a number (None when it is unreadable)."""
        try:
            return float(self.amount)
        except ValueError:
            return None

    @property
    def units(self) -> float | None:
        """The units this charge took from a pack; None for cash (or an unreadable amount)."""
        return self.value if self.type is ChargeType.UNIT else None


@dataclass(frozen=True, slots=True)
class Task:
    """A task as the provider reports it (either API's shape)."""

    task_id: str
    status: TaskStatus
    status_msg: str = ""
    external_task_id: str | None = None
    final_unit_deduction: str | None = None
    created_at: int | None = None
    updated_at: int | None = None
    media: tuple[Media, ...] = ()
    charges: tuple[Charge, ...] = ()

    @property
    def units(self) -> float | None:
        """Units charged, once the task has finished: the unit charges (``billing[]``, or
        ``final_unit_deduction``, which :func:`parse_task` reads as one); None when the provider
        has not said."""
        units = [c.units for c in self.charges if c.units is not None]
        return sum(units) if units else None


def parse_task(obj: Any) -> Task:
    """A Task from a task object; ValueError when it is not one."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"a task must be an object, not {type(obj).__name__}")
    task_id = obj.get("task_id")
    if not isinstance(task_id, str | int) or isinstance(task_id, bool) or task_id == "":
        raise ValueError("the task has no task_id")
    spelling = str(obj.get("task_status", "")).lower()
    if spelling not in _STATUS_SPELLINGS:
        raise ValueError(f"unknown task_status {obj.get('task_status')!r}")
    info = obj.get("task_info")
    external = info.get("external_task_id") if isinstance(info, Mapping) else None
    units = obj.get("final_unit_deduction")
    return Task(
        task_id=str(task_id),
        status=_STATUS_SPELLINGS[spelling],
        status_msg=str(obj.get("task_status_msg") or ""),
        external_task_id=str(external) if external not in (None, "") else None,
        final_unit_deduction=None if units is None else str(units),
        created_at=int_or_none(obj.get("created_at")),
        updated_at=int_or_none(obj.get("updated_at")),
        media=_parse_media(obj.get("task_result")),
        charges=legacy_charges(units, obj.get("final_balance_deduction")),
    )


def legacy_charges(units: Any, balance: Any) -> tuple[Charge, ...]:
    """The /v1 routes' charges: ``final_unit_deduction`` (units, a string) and
    ``final_balance_deduction {quota, list_price}`` (cash; its currency is not given)."""
    charges = []
    if units not in (None, "") and not isinstance(units, bool | Mapping | list):
        charges.append(Charge(ChargeType.UNIT, str(units)))
    if isinstance(balance, Mapping) and (quota := text_or_none(balance.get("quota"))):
        price = text_or_none(balance.get("list_price"))
        charges.append(Charge(ChargeType.CASH, quota, list_price=price))
    return tuple(charges)


def text_or_none(value: Any) -> str | None:
    """A field as text; None when absent or empty."""
    return None if value in (None, "") else str(value)


def int_or_none(value: Any) -> int | None:
    """A field as an integer (ms since the epoch, say); None when absent or unreadable."""
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _parse_media(result: Any) -> tuple[Media, ...]:
    if not isinstance(result, Mapping):
        return ()
    out: list[Media] = []
    for key in ("images", "series_images", "videos"):  # series_images: an omni-image series
        kind, items = MediaKind.VIDEO if key == "videos" else MediaKind.IMAGE, result.get(key)
        for position, item in enumerate(items if isinstance(items, list) else ()):
            if key == "images" and isinstance(item, Mapping) and made.VIEW_KEYS[0] in item:
                out += [Media(kind, index, url) for index, url in made.views(item, position)]
                continue  # slice records: a subject's three views
            if not isinstance(item, Mapping) or not isinstance(item.get("url"), str):
                raise ValueError(f"task_result.{key}[{position}] has no url")
            index = int_or_none(item.get("index"))
            out.append(
                Media(
                    kind=kind,
                    index=position if index is None else index,
                    url=item["url"],
                    id=None if item.get("id") is None else str(item["id"]),
                    duration=None if item.get("duration") is None else str(item["duration"]),
                    watermark_url=item.get("watermark_url") or None,
                )
            )
    sounds, after = result.get("audios"), len(out)  # slice audio: after the video, if any
    for position, item in enumerate(sounds if isinstance(sounds, list) else ()):
        out += _audio(item, position, after + position)
    for kind_name, index, url, made_id, variant in made.records(result):  # slice records
        out.append(Media(MediaKind(kind_name), index, url, id=made_id, variant=variant))
    return tuple(out)


def _audio(item: Any, position: int, index: int) -> list[Media]:
    """One of ``audios[]``: speech ``{id, url, duration}``, or a sound ``{id, url_mp3, url_wav,
    duration_mp3, duration_wav}``, whose mp3 is the result and wav a second file of it."""
    main = item.get("url") or item.get("url_mp3") if isinstance(item, Mapping) else None
    if not isinstance(main, str):
        raise ValueError(f"task_result.audios[{position}] has no url")
    made, wav = text_or_none(item.get("id")), item.get("url_wav")
    seconds = text_or_none(item.get("duration") or item.get("duration_mp3"))
    found = [Media(MediaKind.AUDIO, index, main, made, seconds)]
    if isinstance(wav, str) and wav:
        found.append(Media(MediaKind.AUDIO, index, wav, made, seconds, variant="wav"))
    return found


class Code(enum.IntEnum):
    """Kling's error codes (KLING_API.md), by name."""

    AUTH_FAILED = 1000
    AUTH_EMPTY = 1001
    TOKEN_INVALID = 1002
    TOKEN_NOT_YET_VALID = 1003
    TOKEN_EXPIRED = 1004
    ACCOUNT_ABNORMAL = 1100
    ACCOUNT_IN_ARREARS = 1101
    PACK_EXHAUSTED = 1102
    NO_PERMISSION = 1103
    INVALID_REQUEST = 1200
    INVALID_PARAMETERS = 1201
    INVALID_METHOD = 1202
    RESOURCE_NOT_FOUND = 1203
    PLATFORM_POLICY = 1300
    CONTENT_SAFETY = 1301
    TOO_FAST = 1302
    PARALLEL_LIMIT = 1303
    IP_POLICY = 1304
    SERVER_ERROR = 5000
    MAINTENANCE = 5001
    SERVER_TIMEOUT = 5002


#: What each code means, and what a client does about it.
CODES: Mapping[int, tuple[Outcome, str]] = {
    Code.AUTH_FAILED: (Outcome.FATAL, "authentication failed"),
    Code.AUTH_EMPTY: (Outcome.FATAL, "the Authorization header is empty"),
    Code.TOKEN_INVALID: (Outcome.FATAL, "the token is invalid"),
    Code.TOKEN_NOT_YET_VALID: (Outcome.FATAL, "the token is not yet valid"),
    Code.TOKEN_EXPIRED: (Outcome.FATAL, "the token has expired"),
    Code.ACCOUNT_ABNORMAL: (Outcome.FATAL, "the account is abnormal"),
    Code.ACCOUNT_IN_ARREARS: (Outcome.FATAL, "the account is in arrears"),
    Code.PACK_EXHAUSTED: (Outcome.FATAL, "the resource pack is used up or expired"),
    Code.NO_PERMISSION: (Outcome.FAIL_JOB, "no permission for this API or model"),
    Code.INVALID_REQUEST: (Outcome.FAIL_JOB, "invalid request parameters"),
    Code.INVALID_PARAMETERS: (Outcome.FAIL_JOB, "invalid parameters"),
    Code.INVALID_METHOD: (Outcome.FAIL_JOB, "invalid request method"),
    Code.RESOURCE_NOT_FOUND: (Outcome.FAIL_JOB, "the requested resource (a model?) does not exist"),
    Code.PLATFORM_POLICY: (Outcome.FAIL_JOB, "refused by platform policy"),
    Code.CONTENT_SAFETY: (Outcome.FAIL_JOB, "refused by content safety"),
    Code.TOO_FAST: (Outcome.RETRY, "requests too fast"),
    Code.PARALLEL_LIMIT: (Outcome.RETRY, "parallel tasks over the account's limit"),
    Code.IP_POLICY: (Outcome.FATAL, "refused by the IP allow-list policy"),
    Code.SERVER_ERROR: (Outcome.RETRY, "server error"),
    Code.MAINTENANCE: (Outcome.RETRY, "service under maintenance"),
    Code.SERVER_TIMEOUT: (Outcome.RETRY, "server timeout"),
}
#: Codes after which a JWT is signed afresh and the request sent once more.
RESIGN_CODES = frozenset({Code.TOKEN_NOT_YET_VALID, Code.TOKEN_EXPIRED})
#: Codes that mean the credentials are wrong.
AUTH_CODES = frozenset({Code.AUTH_FAILED, Code.AUTH_EMPTY, Code.TOKEN_INVALID, *RESIGN_CODES})
#: Codes that mean the account or its pack must be topped up.
ACCOUNT_CODES = frozenset({Code.ACCOUNT_ABNORMAL, Code.ACCOUNT_IN_ARREARS, Code.PACK_EXHAUSTED})
_NOT_FOUND_WORDS = ("not_exist", "not_found", "notfound", "not exist", "not found")


#: Words of a refusal that says an external id is in use (Kling: "external_task_id already
#: exists"; gateways: "already used", "duplicate").
_TAKEN_WORDS = ("already", "exist", "duplicate", "in use", "used by")


def external_id_taken(message: str) -> bool:
    """Whether a create's refusal says its external task id names a task already.

    >>> external_id_taken("Invalid parameter external_task_id: already used by task 7")
    True
    >>> external_id_taken("external_task_id must be at most 64 characters")
    False
    """
    text = message.lower()
    names_it = "external_task_id" in text or "external id" in text or "external_id" in text
    return names_it and any(word in text for word in _TAKEN_WORDS)


def classify(status: int | None, code: int | str | None, *, creating: bool) -> Outcome:
    """What a failed call means. ``status`` None: no answer came (timeout, lost connection).

    A create answered with a server error, or not answered at all, may have created the task:
    that is ``UNKNOWN`` (look it up), never ``RETRY``.
    """
    outcome = _by_code(code) or _by_status(status, code, creating=creating)
    if not creating and code == Code.RESOURCE_NOT_FOUND:
        return Outcome.NOT_FOUND  # "resource not found" when asking about a task: no such task
    server_side = status is None or status >= 500
    if creating and outcome is Outcome.RETRY and server_side:
        return Outcome.UNKNOWN
    return outcome


def _by_code(code: int | str | None) -> Outcome | None:
    if isinstance(code, str):
        lowered = code.lower()
        return Outcome.NOT_FOUND if any(w in lowered for w in _NOT_FOUND_WORDS) else None
    if code is None or code == 0:
        return None
    if code in CODES:
        return CODES[code][0]
    if 1000 <= code < 1200:
        return Outcome.FATAL
    if 1200 <= code < 1400:
        return Outcome.FAIL_JOB
    if 5000 <= code < 6000:
        return Outcome.RETRY
    return None


def _by_status(status: int | None, code: int | str | None, *, creating: bool) -> Outcome:
    if status is None or status >= 500 or status in (408, 425, 429):
        return Outcome.RETRY
    if 300 <= status < 400:
        return Outcome.NOT_SERVED
    if status in (401, 402):
        return Outcome.FATAL
    if status == 404:
        # A create route answering 404 without a Kling code is not served by this provider.
        return Outcome.NOT_SERVED if creating or code is None else Outcome.NOT_FOUND
    return Outcome.FAIL_JOB


def describe(code: int | str | None) -> str:
    """Kling's meaning of a code, or ''."""
    return CODES[code][1] if isinstance(code, int) and code in CODES else ""
