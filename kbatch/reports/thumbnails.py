"""Small embedded thumbnails of base64 inputs, for the HTML gallery."""

from __future__ import annotations

import base64
import binascii
import io

from PIL import Image, UnidentifiedImageError

#: The longest side of an embedded input thumbnail, in pixels.
THUMBNAIL = 240


def thumbnail(data: str) -> str | None:
    """A small JPEG data: URI of a base64 image, or None if it cannot be read."""
    try:
        with Image.open(io.BytesIO(base64.b64decode(data, validate=False))) as image:
            image.thumbnail((THUMBNAIL, THUMBNAIL))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, "JPEG", quality=80)
    except (OSError, ValueError, UnidentifiedImageError, binascii.Error):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


__all__ = ["THUMBNAIL", "thumbnail"]
