"""Reference videos for the omni_video and motion_control tests: MP4 headers made here, served
by a small file server on 127.0.0.1 (as a CDN would serve them to Kling)."""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def clip(seconds: float, width: int = 1280, height: int = 720) -> bytes:
    """An MP4 header (``moov`` with its duration and one video track's size) and a little
    media data: what kbatch's URL check reads. (The simulator, which cannot decode it, takes
    it as a 5 s video.)"""
    mvhd = box(b"mvhd", bytes(12) + struct.pack(">II", 600, round(seconds * 600)) + bytes(80))
    matrix = struct.pack(">9i", 1 << 16, 0, 0, 0, 1 << 16, 0, 0, 0, 1 << 30)
    tkhd = box(b"tkhd", bytes(40) + matrix + struct.pack(">II", width << 16, height << 16))
    trak = box(b"trak", tkhd + box(b"mdia", box(b"hdlr", bytes(8) + b"vide" + bytes(13))))
    return box(b"ftyp", b"isom" + bytes(4) + b"isom") + box(b"moov", mvhd + trak) + bytes(1000)


#: The clips every server holds: name -> (seconds, width, height).
CLIPS = {
    "dance.mp4": (6, 1280, 720),
    "long.mp4": (20, 1280, 720),
    "wide.mp4": (8, 1920, 1080),
    "small.mp4": (6, 640, 360),
    "o1-long.mp4": (12, 1280, 720),
}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on the test's output."""


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """The CLIPS written to ``folder`` and served on 127.0.0.1: the base URL."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (seconds, width, height) in CLIPS.items():
        (folder / name).write_bytes(clip(seconds, width, height))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
