"""A real S3-compatible server on loopback for the media store's tests: moto's server app
(``moto[server]``) under werkzeug on 127.0.0.1, port chosen by the system, with every request
it answers counted (method, path, query), so a test can count the PUTs of an object and the
presigned GETs of a fetcher."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class S3Server:
    url: str
    bucket: str
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    #: How many object PUTs to refuse (403 AccessDenied, as S3 says it) before taking them.
    refuse_puts: list[int] = field(default_factory=lambda: [0])

    def count(self, method: str, suffix: str = "", *, signed: bool | None = None) -> int:
        """Requests of ``method`` whose path ends with ``suffix`` (``signed``: with a presigned
        query, or without)."""
        return sum(
            1
            for verb, path, query in self.requests
            if verb == method
            and path.endswith(suffix)
            and (signed is None or ("X-Amz-Signature" in query) == signed)
        )


DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message></Error>"
)


@contextmanager
def s3_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """The server, a bucket in it, and the AWS environment pointed at it. moto keeps its
    buckets in the process: each server's bucket has a name of its own."""
    bucket = f"kbatch-{uuid.uuid4().hex[:12]}"
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    seen: list[tuple[str, str, str]] = []

    refuse = [0]

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        seen.append((method, path, environ["QUERY_STRING"]))
        if method == "PUT" and path.count("/") > 1 and refuse[0] > 0:
            refuse[0] -= 1
            start_response("403 Forbidden", [("Content-Type", "application/xml")])
            return [DENIED]
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, counting, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    try:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{url}/{bucket}", method="PUT")).close()
        yield S3Server(url, bucket, seen, refuse)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
