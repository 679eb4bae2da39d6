"""Standard Webhooks signatures on callbacks (``kling-get-started-callbacks.md``): with a secret
``whsec_<base64 key>`` configured, every callback carries ``webhook-id``, ``webhook-timestamp``
and ``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``.

>>> secret = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
>>> body = (
...     '{"id":"1234567890","status":"succeeded","message":"",'
...     '"create_time":1781080778802,"update_time":1781080794151}'
... )
>>> signature(secret, "9876543210", 1781080794, body.encode())
'v1,UsKlJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4='
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = "whsec_"


def signature(secret: str, message_id: str, timestamp: int | str, body: bytes) -> str:
    """The ``webhook-signature`` value for one message: over the ``webhook-timestamp`` header
    exactly as sent (:func:`headers` writes an int in plain digits)."""
    key = base64.b64decode(secret.removeprefix(PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one message."""
    stamp = str(timestamp)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": stamp,
        "webhook-signature": signature(secret, message_id, stamp, body),
    }


__all__ = ["PREFIX", "headers", "signature"]
