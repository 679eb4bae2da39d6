"""Signed callbacks: Kling signs each callback by the Standard Webhooks scheme once the account
has a webhook secret (``whsec_`` + base64 key).

::

    secret = WebhookSecret.parse(os.environ["KLING_WEBHOOK_SECRET"])
    problem = secret.check(request.headers, body, now=time.time())   # None: it verifies

The signature is ``v1,`` + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")); the
``webhook-signature`` header lists one or more, space-separated (two while a secret is rotated);
any match passes, compared in constant time, and a timestamp more than 300 s from now is refused
(a replay). What is signed is the ``webhook-timestamp`` header exactly as sent, as the standard
says: ``+0001781080794`` is not ``1781080794``; a timestamp that is not plain digits (at most
:data:`STAMP_DIGITS`), or headers that are not ASCII text, are ``malformed``. Thirty lines of
the standard library: the ``standardwebhooks`` package would bring httpx, attrs and dateutil
along for them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from kbatch.errors import ConfigError

PREFIX = "whsec_"
#: Where the secret is read from, unless the manifest's ``callbacks.secret_env`` names another.
SECRET_ENV = "KLING_WEBHOOK_SECRET"
#: Seconds a callback's timestamp may be from now (Kling's and the standard's window).
TOLERANCE = 300.0
#: The most digits a timestamp has (seconds since 1970: 10 until the year 2286).
STAMP_DIGITS = 12


@dataclass(frozen=True, slots=True)
class WebhookSecret:
    """A webhook secret's key. Never shown: it is neither in a repr nor in a message."""

    key: bytes = field(repr=False)

    @classmethod
    def parse(cls, text: str, *, variable: str = "the webhook secret") -> WebhookSecret:
        """The key of ``whsec_<base64>``; ConfigError naming ``variable``, never the value.

        >>> WebhookSecret.parse("whsec_c2VjcmV0").key
        b'secret'
        """
        encoded = text.strip().removeprefix(PREFIX)
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not key:
            raise ConfigError(f"{variable} is not a webhook secret: expected whsec_ and base64")
        return cls(key)

    def sign(self, message_id: str, timestamp: int | str, body: bytes) -> str:
        """The ``v1,...`` signature of a callback (what the provider sends): over the
        ``webhook-timestamp`` header as sent (an int is written in plain digits)."""
        signed = f"{message_id}.{timestamp}.".encode() + body
        digest = hmac.new(self.key, signed, hashlib.sha256).digest()
        return "v1," + base64.b64encode(digest).decode()

    def check(self, headers: Mapping[str, str], body: bytes, *, now: float) -> str | None:
        """None when the callback verifies; else why not (``unsigned``, ``malformed``,
        ``stale`` or ``forged``). ``headers`` must be case-insensitive (aiohttp's are)."""
        message_id = headers.get("webhook-id", "")
        stamp = headers.get("webhook-timestamp", "")
        offered = headers.get("webhook-signature", "")
        if not (message_id and stamp and offered):
            return "unsigned"
        texts = (message_id, stamp, offered)
        if not all(text.isascii() and text.isprintable() for text in texts):
            return "malformed"  # bytes that are not text (aiohttp keeps them as surrogates)
        if not (stamp.isdigit() and len(stamp) <= STAMP_DIGITS):
            return "malformed"  # "+000...", "1e9", 400 digits: no timestamp a sender writes
        if abs(now - int(stamp)) > TOLERANCE:
            return "stale"
        expected = self.sign(message_id, stamp, body).encode()
        for candidate in offered.split():
            if hmac.compare_digest(candidate.encode(), expected):
                return None
        return "forged"


def from_environment(env: Mapping[str, str], variable: str | None = None) -> WebhookSecret | None:
    """The webhook secret the environment holds under ``variable`` (default
    :data:`SECRET_ENV`), or None when it holds none: callbacks are then unsigned hints."""
    name = variable or SECRET_ENV
    text = env.get(name, "")
    return WebhookSecret.parse(text, variable=name) if text else None


__all__ = ["PREFIX", "SECRET_ENV", "STAMP_DIGITS", "TOLERANCE", "WebhookSecret", "from_environment"]
