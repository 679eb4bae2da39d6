"""Kling's answer envelope unwrapped: ``{"code", "message", "request_id", "data"}``, a gateway's
``{"error": {...}}``, or a body that is not the JSON the API speaks (:class:`Reply`). What each
code means is :mod:`kbatch.provider.wire`'s (:func:`~kbatch.provider.wire.classify`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer, unwrapped. ``code`` is 0 for success; ``json`` False when the body was
    not the JSON the API speaks (an HTML error page, a proxy's text)."""

    status: int
    code: int | str | None
    message: str
    data: Any = None
    request_id: str | None = None
    json: bool = True
    broken: bool = False  # JSON cut short or garbled on the way: the API spoke, we lost it

    @property
    def ok(self) -> bool:
        return self.json and self.code == 0 and 200 <= self.status < 300


def read_reply(status: int, content_type: str, raw: bytes) -> Reply:
    """Unwrap Kling's envelope ``{"code", "message", "request_id", "data"}`` or a gateway's
    ``{"error": {"code", "message", "type"}}``."""
    try:
        body = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        body = None
    if not isinstance(body, dict):
        kind = "an HTML page" if b"<html" in raw[:512].lower() else "a body that is not JSON"
        if not raw:
            kind = "an empty body"
        type_ = content_type.split(";")[0] or "no content type"
        broken = "json" in type_.lower() or raw.lstrip()[:1] in (b"{", b"[")
        if broken and body is None:
            kind = "JSON cut short or garbled"
        broken = broken and body is None
        return Reply(status, None, f"answered with {kind} ({type_})", json=False, broken=broken)
    request_id = body.get("request_id")
    request_id = str(request_id) if request_id not in (None, "") else None
    error = body.get("error")
    if isinstance(error, dict) and "code" not in body:
        code = error.get("code")
        message = str(error.get("message") or error.get("type") or "gateway error")
        return Reply(status, _code(code) or str(code or "error"), message, None, request_id)
    if "code" not in body:
        return Reply(status, None, "answered JSON without Kling's envelope", body, request_id)
    if body.get("code") is None and str(body.get("message", "")).strip() == "404":
        # CometAPI's answer for a route it does not serve: {"code": null, "message": "404"}
        message = 'answered {"code": null, "message": "404"}: the route is not served'
        return Reply(404, None, message, None, request_id, json=False)
    code = _code(body.get("code"))
    message = str(body.get("message") or "")
    return Reply(status, code, message, body.get("data"), request_id)


def _code(value: Any) -> int | str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if text.lstrip("-").isdigit() else text


__all__ = ["Reply", "read_reply"]
