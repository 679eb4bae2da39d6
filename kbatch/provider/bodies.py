"""The JSON body of a create, as the endpoint spells it: images as URLs or raw base64, the
fields the manifest left out that always go out, and the external task id that lets a lost
answer be looked up. :func:`body_parts` gives it as parts around shared image bytes."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from kbatch import images
from kbatch.images import ImageInput
from kbatch.provider.catalogue import Endpoint


def build_body(
    request: Mapping[str, Any],
    endpoint: Endpoint,
    *,
    external_task_id: str,
    encode: Callable[[ImageInput], str] = images.encode,
    defaults: Mapping[str, object] = MappingProxyType({}),
) -> dict[str, Any]:
    """The JSON body of a create: images as URLs or raw base64, fields as the endpoint spells
    them, ``defaults`` for fields the manifest left out that are always sent (``n`` on expand),
    and the external task id that lets a lost answer be looked up."""
    body = {endpoint.wire_name(name): _encoded(value, encode) for name, value in request.items()}
    for name, value in defaults.items():
        body.setdefault(endpoint.wire_name(name), value)
    body["external_task_id"] = external_task_id
    return nest(body, endpoint)


def body_parts(
    request: Mapping[str, Any],
    endpoint: Endpoint,
    *,
    external_task_id: str | None,
    encoded: Callable[[ImageInput], bytes],
    defaults: Mapping[str, object] = MappingProxyType({}),
) -> list[bytes]:
    """The JSON body of a create as :func:`build_body` makes it, but as parts: the images are
    the (shared, already encoded) bytes themselves, between the JSON around them, so that a body
    is assembled from ready bytes and never copied whole. ``b"".join(parts)`` is the body.

    >>> from kbatch.images import ImageSource
    >>> from kbatch.provider.catalogue import ENDPOINTS, Dialect, JobKind
    >>> parts = body_parts(
    ...     {"image": ImageInput(ImageSource.BASE64, "iVBOR"), "prompt": "a cat"},
    ...     ENDPOINTS[JobKind.IMAGE2VIDEO, Dialect.OFFICIAL],
    ...     external_task_id="kb-1",
    ...     encoded=lambda image: image.value.encode(),
    ... )
    >>> b"".join(parts)
    b'{"image": "iVBOR", "prompt": "a cat", "external_task_id": "kb-1"}'
    """
    body = {endpoint.wire_name(name): value for name, value in request.items()}
    for name, value in defaults.items():
        body.setdefault(endpoint.wire_name(name), value)
    if external_task_id is not None:  # None: a call answered at once takes none (tts)
        body["external_task_id"] = external_task_id
    return json_parts(nest(body, endpoint), encoded)


def nest(body: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    """The body with the fields an endpoint sends inside an object moved there, in place of
    the object's first field (video effects: ``image`` as ``input.image``).

    >>> from kbatch.provider.catalogue import ENDPOINTS, Dialect, JobKind
    >>> nest({"effect_scene": "hug_pro", "images": ["a", "b"]},
    ...      ENDPOINTS[JobKind.VIDEO_EFFECTS, Dialect.OFFICIAL])
    {'effect_scene': 'hug_pro', 'input': {'images': ['a', 'b']}}
    """
    out: dict[str, Any] = {}
    for name, value in body.items():
        outer = endpoint.nested.get(name)
        if outer is None:
            out[name] = value
        else:
            out.setdefault(outer, {})[name] = value
    return out


def json_parts(body: Mapping[str, Any], encoded: Callable[[ImageInput], bytes]) -> list[bytes]:
    """A JSON body holding :class:`~kbatch.images.ImageInput` values (at any depth) as parts:
    each image is its shared, already encoded bytes, between the JSON around it. Both APIs'
    bodies are made this way; ``b"".join(parts)`` is the body.

    >>> from kbatch.images import ImageSource
    >>> image = ImageInput(ImageSource.BASE64, "iVBOR")
    >>> b"".join(json_parts({"contents": [{"url": image}]}, lambda i: i.value.encode()))
    b'{"contents": [{"url": "iVBOR"}]}'
    """
    images: list[bytes] = []
    token = f"kbatch-image-{secrets.token_hex(8)}-"

    def mark(image: ImageInput) -> str:
        images.append(encoded(image))
        return f"{token}{len(images) - 1}"

    pieces = re.split(f'"{token}([0-9]+)"', json.dumps(_encoded(body, mark), ensure_ascii=False))
    parts: list[bytes] = []
    for number, piece in enumerate(pieces):
        if number % 2 == 0:
            parts.append(piece.encode("utf-8"))
        else:  # base64 needs no escaping in JSON
            parts += [b'"', images[int(piece)], b'"']
    return parts


def _encoded(value: Any, encode: Callable[[ImageInput], str]) -> Any:
    if isinstance(value, ImageInput):
        return encode(value)
    if isinstance(value, Mapping):
        return {key: _encoded(item, encode) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encoded(item, encode) for item in value]
    return value


__all__ = ["body_parts", "build_body", "json_parts", "nest"]
