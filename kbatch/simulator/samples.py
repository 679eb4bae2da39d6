"""Sample media the simulator serves to anyone, as a CDN would: reference videos for omni video
and motion control, so that a manifest run on the simulator (the demo) can name one without a
server of its own. A manifest names them ``simulator:samples/<name>``; the client sends them as
``<simulator>/samples/<name>`` (:mod:`kbatch.provider.connect`).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from aiohttp import web

from kbatch.simulator.answers import html_page, ranged

#: The manifest's spelling of a sample, and the simulator's path for it.
SCHEME = "simulator:"
ROUTE = "/samples/{name}"


@cache
def sample(name: str) -> bytes | None:
    """A packaged sample's bytes (``kbatch/data/samples``), or None."""
    if "/" in name or name.startswith("."):
        return None
    found = resources.files("kbatch").joinpath("data", "samples", name)
    return found.read_bytes() if found.is_file() else None


async def serve(request: web.Request) -> web.StreamResponse:
    data = sample(request.match_info["name"])
    if data is None:
        return html_page(404)
    return ranged(request, data, "video/mp4")


def install(app: web.Application) -> None:
    app.router.add_get(ROUTE, serve)


__all__ = ["ROUTE", "SCHEME", "install", "sample"]
