"""Serving the manifest's local files from the run's callback listener (``media: {serve:
true}`` with ``--listen`` and ``--public-url``), for a user without a bucket.

Each URL is ``<public url>/kbatch/media/<token>/<sha256><ext>``; the token is an HMAC-SHA256,
under a key made for this run alone, of the object's name and an expiry time written beside it
(``<expiry>.<signature>``). So a path cannot be guessed or extended, names only a file the
manifest sends, and stops working at its expiry or when the run ends (the key dies with it).
A request for anything else is 404; a forged token 404 too, an expired one 403. Files are sent
by aiohttp's FileResponse: ``Range`` requests are answered (206), as Kling's fetchers ask.

::

    served = Served(public_url, expires=86400)
    served.allow(media_file)                     # only files the manifest names
    receiver = Receiver(listen, hint=..., routes=served.install)
    url = served.url(media_file)                 # a fresh one for each create
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from aiohttp import web

from kbatch.media import MediaFile

PREFIX = "/kbatch/media"


class Served:
    """The files one run serves, and the tokens that open them."""

    def __init__(
        self, public_url: str, *, expires: float, now: Callable[[], float] = time.time
    ) -> None:
        self.public_url = public_url.rstrip("/")
        self.expires = expires
        self._now = now
        self._key = secrets.token_bytes(32)
        self._files: dict[str, MediaFile] = {}  # object name -> file
        #: Requests by outcome: served, unknown (404), forged (404), expired (403).
        self.counts: dict[str, int] = {"served": 0, "unknown": 0, "forged": 0, "expired": 0}

    def allow(self, file: MediaFile) -> None:
        self._files[file.name] = file

    def url(self, file: MediaFile) -> str:
        """A URL of ``file`` valid for :attr:`expires` seconds from now."""
        until = int(self._now() + self.expires)
        return f"{self.public_url}{PREFIX}/{self.token(file.name, until)}/{file.name}"

    def token(self, name: str, until: int) -> str:
        mac = hmac.new(self._key, f"{name}:{until}".encode(), hashlib.sha256).hexdigest()
        return f"{until}.{mac}"

    def install(self, app: web.Application) -> None:
        """The route, on the listener's app (callbacks.Receiver's ``routes`` hook)."""
        app.router.add_get(PREFIX + "/{token}/{name}", self._serve)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        name, token = request.match_info["name"], request.match_info["token"]
        file = self._files.get(name)
        if file is None:
            return self._refuse("unknown", 404)
        until_text, _, _mac = token.partition(".")
        if not until_text.isdigit() or not hmac.compare_digest(
            token, self.token(name, int(until_text))
        ):
            return self._refuse("forged", 404)
        if int(until_text) < self._now():
            return self._refuse("expired", 403)
        self.counts["served"] += 1
        return web.FileResponse(file.path, headers={"Content-Type": file.content_type})

    def _refuse(self, why: str, status: int) -> web.Response:
        self.counts[why] += 1
        return web.Response(status=status, text="not found" if status == 404 else "expired")


__all__ = ["PREFIX", "Served"]
