"""Signed callbacks (Standard Webhooks, as Kling signs them): the vendor's test vector, the
window, rotation, and a receiver that drops what does not verify before it reads it."""

from __future__ import annotations

import json
import socket

import aiohttp
import pytest

from kbatch.engine.callbacks import Receiver
from kbatch.engine.signatures import WebhookSecret
from kbatch.errors import ConfigError
from kbatch.provider.config import Listen

# The vendor's test vector (KLING_API.md, "Callbacks and signature").
SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
MESSAGE_ID, TIMESTAMP = "9876543210", 1781080794
BODY = (
    b'{"id":"1234567890","status":"succeeded","message":"","create_time":1781080778802,'
    b'"update_time":1781080794151}'
)
EXPECTED = "v1,UsKlJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4="


def headers(signature: str, *, timestamp: int = TIMESTAMP) -> dict[str, str]:
    return {
        "webhook-id": MESSAGE_ID,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def test_the_vendors_test_vector_signs_and_verifies() -> None:
    secret = WebhookSecret.parse(SECRET)
    assert secret.sign(MESSAGE_ID, TIMESTAMP, BODY) == EXPECTED
    assert secret.check(headers(EXPECTED), BODY, now=TIMESTAMP + 10) is None


def test_any_of_several_signatures_passes_while_a_secret_is_rotated() -> None:
    secret = WebhookSecret.parse(SECRET)
    other = WebhookSecret.parse("whsec_" + "b3RoZXJzZWNyZXQ=").sign(MESSAGE_ID, TIMESTAMP, BODY)
    assert secret.check(headers(f"{other} {EXPECTED}"), BODY, now=TIMESTAMP) is None


@pytest.mark.parametrize(
    ("sent", "body", "now", "why"),
    [
        (headers(EXPECTED), BODY.replace(b"succeeded", b"failed"), TIMESTAMP, "forged"),
        (headers(EXPECTED), BODY, TIMESTAMP + 301, "stale"),
        (headers(EXPECTED), BODY, TIMESTAMP - 301, "stale"),
        ({"webhook-id": MESSAGE_ID}, BODY, TIMESTAMP, "unsigned"),
        (headers("v1,AAAA"), BODY, TIMESTAMP, "forged"),
    ],
    ids=["body-changed", "too-late", "too-early", "no-signature", "wrong-signature"],
)
def test_what_does_not_verify_says_why(
    sent: dict[str, str], body: bytes, now: int, why: str
) -> None:
    assert WebhookSecret.parse(SECRET).check(sent, body, now=now) == why


def test_a_malformed_secret_is_refused_without_being_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        WebhookSecret.parse("whsec_not base64!", variable="KLING_WEBHOOK_SECRET")
    assert "KLING_WEBHOOK_SECRET" in str(caught.value)
    assert "not base64" not in str(caught.value)
    assert SECRET not in repr(WebhookSecret.parse(SECRET))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_receiver_with_a_secret_drops_callbacks_that_do_not_verify() -> None:
    hinted: list[str] = []

    def hint(task_id: str) -> bool:
        hinted.append(task_id)
        return True

    port = free_port()
    listen = Listen("127.0.0.1", port, f"http://127.0.0.1:{port}")
    secret = WebhookSecret.parse(SECRET)
    receiver = Receiver(  # at the vector's time: no real clock is read
        listen, hint=hint, secret=secret, now=lambda: TIMESTAMP + 5
    )
    task = {"task_id": "t-1", "task_status": "succeed", "task_result": {}}
    body = json.dumps(task).encode()
    good = secret.sign(MESSAGE_ID, TIMESTAMP, body)
    await receiver.start()
    try:
        async with aiohttp.ClientSession() as session:
            statuses = []
            for sent in (headers("v1,AAAA"), headers(good, timestamp=TIMESTAMP - 400), {}):
                async with session.post(receiver.callback_url, data=body, headers=sent) as got:
                    statuses.append(got.status)
            assert hinted == []  # nothing unverified was even read as a task
            async with session.post(receiver.callback_url, data=body, headers=headers(good)) as got:
                statuses.append(got.status)
    finally:
        await receiver.close()
    assert statuses == [401, 401, 401, 200]
    assert hinted == ["t-1"]
    assert receiver.counts == {"forged": 1, "stale": 1, "unsigned": 1, "hinted": 1}
