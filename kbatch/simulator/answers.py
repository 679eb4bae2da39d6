"""How the simulator answers: Kling's envelope and error codes, HTML pages, ranged files, dropped
connections, and the check of the Authorization header (a static key or Kling's JWT)."""

from __future__ import annotations

import hmac
import json
import uuid
import warnings
from collections.abc import Mapping
from typing import Any

import jwt
from aiohttp import web
from jwt.warnings import InsecureKeyLengthWarning

from kbatch.simulator.faults import Fault, Injected

#: HTTP status and message for each Kling code the simulator can answer.
CODE_ANSWERS: dict[int, tuple[int, str]] = {
    1000: (401, "Authentication failed"),
    1001: (401, "Authorization is empty"),
    1002: (401, "Authorization is invalid"),
    1003: (401, "Authorization is not yet valid"),
    1004: (401, "Authorization has expired"),
    1100: (429, "Account exception"),
    1101: (429, "Account in arrears"),
    1102: (429, "Resource pack depleted or expired"),
    1103: (403, "Unauthorized access to requested resource"),
    1200: (400, "Invalid request parameters"),
    1201: (400, "Invalid parameters"),
    1202: (404, "Invalid request method"),
    1203: (404, "Requested resource does not exist"),
    1300: (400, "Trigger platform strategy"),
    1301: (400, "Trigger the content security policy"),
    1302: (429, "The API request is too fast"),
    1303: (429, "Concurrency or QPS exceeds the prepaid resource package limit"),
    1304: (429, "Trigger the platform's IP whitelisting policy"),
    5000: (500, "Server internal error"),
    5001: (503, "Server temporarily unavailable"),
    5002: (504, "Server internal timeout"),
}
HTML = "<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"


class Refused(Exception):
    """The request is refused with this Kling code; the message names the field."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Dropped(Exception):
    """The connection was dropped on purpose."""


class Answer(web.Response):
    """A JSON answer that keeps its Kling code for the request log."""

    def __init__(self, body: Any, *, status: int, code: int | str) -> None:
        super().__init__(text=json.dumps(body), status=status, content_type="application/json")
        self.code = code


#: The Kling code each coded fault answers with.
FAULT_CODES = {
    Fault.RATE_LIMIT: 1302,
    Fault.PARALLEL: 1303,
    Fault.SERVER_ERROR: 5000,
    Fault.MAINTENANCE: 5001,
    Fault.TIMEOUT: 5002,
}


def coded(fault: Injected | None, retry_after: float) -> web.Response | None:
    """The error answer of a coded fault (a Kling code, or a fault that stands for one)."""
    code = fault if fault is None or isinstance(fault, int) else FAULT_CODES.get(fault)
    if code is None:
        return None
    response = envelope_error(code)
    if code == 1302:
        response.headers["Retry-After"] = f"{retry_after:g}"
    return response


def page_numbers(query: Mapping[str, str]) -> tuple[int, int] | web.Response:
    """A list request's page number and size, or the 1201 answer to a bad one."""
    numbers = []
    for name, low, high in (("pageNum", 1, 1000), ("pageSize", 1, 500)):
        text = query.get(name, "1" if name == "pageNum" else "30")
        if not text.isdigit() or not low <= int(text) <= high:
            return envelope_error(1201, f"Invalid parameter {name}: {low} to {high}")
        numbers.append(int(text))
    return numbers[0], numbers[1]


def envelope(data: Any) -> web.Response:
    body = {"code": 0, "message": "SUCCEED", "request_id": uuid.uuid4().hex, "data": data}
    return Answer(body, status=200, code=0)


def created(task_id: str, external: str | None, started_ms: int) -> web.Response:
    """A create's answer on the /v1 routes: the task, submitted, with its external id if any."""
    return envelope(
        {
            "task_id": task_id,
            "task_status": "submitted",
            "task_info": {"external_task_id": external} if external else {},
            "created_at": started_ms,
            "updated_at": started_ms,
        }
    )


def envelope_error(code: int, message: str | None = None) -> web.Response:
    status, default = CODE_ANSWERS[code]
    body = {
        "code": code,
        "message": message or default,
        "request_id": uuid.uuid4().hex,
        "data": None,
    }
    return Answer(body, status=status, code=code)


def html_page(status: int) -> web.Response:
    return web.Response(status=status, text=HTML.format(status=status), content_type="text/html")


def ranged(request: web.Request, data: bytes, content_type: str) -> web.Response:
    """The file, or the part a ``Range: bytes=N-`` header asks for (206), as a CDN serves it."""
    try:
        ranges = request.http_range
    except ValueError:
        ranges = slice(None)
    start = ranges.start or 0
    if ranges.start is None or ranges.start < 0 or ranges.stop is not None:
        return web.Response(body=data, content_type=content_type)
    if start >= len(data):
        return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
    headers = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
    return web.Response(status=206, body=data[start:], content_type=content_type, headers=headers)


def origin(request: web.Request) -> str:
    return str(request.url.origin())


def drop(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()
    raise Dropped


async def truncated(request: web.Request, data: bytes, content_type: str) -> web.StreamResponse:
    """Announce the whole body, send half, drop the connection."""
    response = web.StreamResponse(headers={"Content-Type": content_type})
    response.content_length = len(data)
    await response.prepare(request)
    await response.write(data[: len(data) // 2])
    drop(request)
    return response  # pragma: no cover - _drop raises


def authorize(
    request: web.Request,
    *,
    api_key: str | None,
    access_key: str | None,
    secret_key: str | None,
) -> web.Response | None:
    """None if the request's credentials pass, else the answer Kling gives."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return envelope_error(1001)
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":
        return envelope_error(1000, "Authorization must be 'Bearer <token>'")
    if not token:
        return envelope_error(1001)
    if api_key and hmac.compare_digest(token, api_key):
        return None
    if access_key and secret_key and token.count(".") == 2:
        return _check_jwt(token, access_key, secret_key)
    if api_key or access_key:
        return envelope_error(1002)
    return None


def authorize_key(request: web.Request, *, api_key: str | None) -> web.Response | None:
    """The new path-addressed API: ``Bearer <API key>`` only (any key when none is set); a JWT
    made from an access/secret key pair is valid on the old routes only, and refused here."""
    header = request.headers.get("Authorization", "").strip()
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if not header or not token:
        return envelope_error(1001)
    if scheme.lower() != "bearer":
        return envelope_error(1000, "Authorization must be 'Bearer <API key>'")
    if _looks_like_jwt(token):
        message = "Authorization is invalid: a JWT is accepted on the legacy routes only"
        return envelope_error(1002, message + "; send the API key")
    if api_key and not hmac.compare_digest(token, api_key):
        return envelope_error(1002)
    return None


def _looks_like_jwt(token: str) -> bool:
    try:
        return token.count(".") == 2 and bool(jwt.get_unverified_header(token))
    except jwt.PyJWTError:
        return False


def _check_jwt(token: str, access_key: str, secret_key: str) -> web.Response | None:
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "HS256" or header.get("typ") != "JWT":
            return envelope_error(1002, "JWT header must be {alg: HS256, typ: JWT}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            claims = jwt.decode(
                token,
                secret_key,
                algorithms=["HS256"],
                options={"require": ["iss", "exp", "nbf"]},
            )
    except jwt.ExpiredSignatureError:
        return envelope_error(1004)
    except jwt.ImmatureSignatureError:
        return envelope_error(1003)
    except jwt.PyJWTError as exc:
        return envelope_error(1002, f"Authorization is invalid: {type(exc).__name__}")
    if claims.get("iss") != access_key:
        return envelope_error(1000, "Authentication failed: unknown access key (iss)")
    return None


__all__ = [
    "CODE_ANSWERS",
    "FAULT_CODES",
    "Answer",
    "Dropped",
    "Refused",
    "authorize",
    "authorize_key",
    "coded",
    "created",
    "drop",
    "envelope",
    "envelope_error",
    "html_page",
    "origin",
    "page_numbers",
    "ranged",
    "truncated",
]
