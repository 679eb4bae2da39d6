"""A request body made of ready parts, written as they are: the big base64 images in it are
shared bytes objects (:class:`~kbatch.images.Encoder`), never copied into one body per request,
so memory does not grow with the creates in flight."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload

#: Parts are handed to the socket in slices of this size: a slice it cannot take at once is what
#: the transport copies into its buffer, so the slice bounds the copy.
SLICE = 256 * 1024


class PartsPayload(Payload):
    """``b"".join(parts)``, with its length known (no chunked encoding), written part by part."""

    def __init__(self, parts: Sequence[bytes], *, content_type: str = "application/json") -> None:
        super().__init__(parts, content_type=content_type)
        self._parts = parts
        self._length = sum(len(part) for part in parts)
        self._size = self._length

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return b"".join(self._parts).decode(encoding, errors)

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        left = self._length if content_length is None else min(content_length, self._length)
        for part in self._parts:
            view = memoryview(part)
            for start in range(0, len(view), SLICE):
                if left <= 0:
                    return
                piece = view[start : start + min(SLICE, left)]
                await writer.write(piece)
                left -= len(piece)


__all__ = ["SLICE", "PartsPayload"]
