"""Image inputs: a local path, an http(s) URL, raw base64, or a ``data:`` URI.

:func:`parse_image` decides which one a manifest string is; :class:`Inspector` reads local files and
base64 (format by content, with Pillow, never by name), caching per file so that a thousand jobs
sharing one picture read it once, and remembering across runs (:mod:`kbatch.checked`) so that an
unchanged file is not read again. Kling takes JPG or PNG, at most 10 MB, both sides at least 300 px,
and for the main image an aspect ratio between 1:2.5 and 2.5:1. On the wire an image is always a URL
or raw base64 without a ``data:`` prefix (:func:`encode`).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import io
import os
import re
import warnings
import weakref
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image, UnidentifiedImageError

from kbatch.checked import CheckCache, FileKey, Outcome

MAX_BYTES = 10 * 1024 * 1024
MIN_SIDE = 300
MAX_RATIO = 2.5
FORMATS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png"}  # MPO: the JPEG that many phones write

_DATA_URI = re.compile(r"data:image/(png|jpe?g);base64,(.*)", re.IGNORECASE | re.DOTALL)
_BASE64 = re.compile(r"[A-Za-z0-9+/\s]+={0,2}\s*")
_SPACE = re.compile(r"\s")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


class ImageProblem(ValueError):
    """An image input cannot be used; the message says why. The loader makes it an Issue."""


class ImageSource(enum.Enum):
    FILE = "file"
    URL = "url"
    BASE64 = "base64"


@dataclass(frozen=True, slots=True)
class ImageInput:
    """An image as the manifest gave it: ``value`` is an absolute path, a URL, or raw base64."""

    source: ImageSource
    value: str


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What inspecting an image found."""

    format: str
    width: int
    height: int
    size: int
    sha256: str


def parse_image(text: str, base_dir: Path) -> ImageInput:
    """Classify a manifest string; local paths are taken relative to ``base_dir``."""
    stripped = text.strip()
    lowered = stripped[:8].lower()
    if lowered.startswith(("http://", "https://")):
        _check_url(stripped)
        return ImageInput(ImageSource.URL, stripped)
    if lowered.startswith("data:"):
        match = _DATA_URI.fullmatch(stripped)
        if not match:
            raise ImageProblem(
                "is not a valid data: URI: write data:image/png;base64,... (PNG or JPEG)"
            )
        return ImageInput(ImageSource.BASE64, "".join(match.group(2).split()))
    scheme = _SCHEME.match(stripped)
    if scheme:
        raise ImageProblem(f"uses {scheme.group(1)}://; give an http(s) URL, a file or base64")
    if _looks_like_base64(stripped):
        return ImageInput(ImageSource.BASE64, "".join(stripped.split()))
    if "\x00" in text:
        raise ImageProblem("is not a valid path: it contains a NUL character")
    return ImageInput(ImageSource.FILE, str(base_dir / Path(text).expanduser()))


def _looks_like_base64(text: str) -> bool:
    if text.startswith(("iVBORw0KGgo", "/9j/")):  # the base64 of the PNG and JPEG signatures
        return True
    return len(text) > 1024 and _BASE64.fullmatch(text) is not None


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a bad port
    except ValueError as exc:
        raise ImageProblem(f"is not a well-formed URL: {exc}") from None
    if not parts.hostname or _SPACE.search(url):
        raise ImageProblem("is not a well-formed URL: it needs a host and no spaces")
    if port == 0:
        raise ImageProblem("is not a well-formed URL: port 0")


def decode_base64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ImageProblem("is not valid base64") from None


def inspect_bytes(data: bytes) -> ImageInfo:
    """Format and size of image bytes (only the header is decoded)."""
    _check_size(len(data))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt, (width, height) = image.format or "", image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageProblem("has far too many pixels to be an image Kling takes") from None
    except UnidentifiedImageError:
        raise ImageProblem("is not a JPG or PNG image") from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise ImageProblem("is not a readable image") from None
    if fmt not in FORMATS:
        raise ImageProblem(f"is a {fmt} image; Kling takes JPG or PNG")
    return ImageInfo(fmt, width, height, len(data), hashlib.sha256(data).hexdigest())


def _check_size(size: int) -> None:
    if size > MAX_BYTES:
        raise ImageProblem(f"is {size / 1e6:.1f} MB; Kling takes at most 10 MB")


def check_dimensions(info: ImageInfo, *, main: bool) -> None:
    """Kling's size rules; the aspect-ratio rule applies to the main image only."""
    if info.width < MIN_SIDE or info.height < MIN_SIDE:
        raise ImageProblem(
            f"is {info.width}x{info.height}; Kling needs both sides at least {MIN_SIDE} px"
        )
    ratio = info.width / info.height
    if main and not (1 / MAX_RATIO <= ratio <= MAX_RATIO):
        raise ImageProblem(
            f"is {info.width}x{info.height} (aspect ratio {ratio:.2f}); "
            "Kling needs between 1:2.5 and 2.5:1"
        )


def decode_fully(data: bytes) -> None:
    """Decode every pixel: a file cut short (the first 5,000 bytes of a large PNG) has a good
    header and fails only here. ImageProblem if it cannot be decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageProblem("has far too many pixels to be an image Kling takes") from None
    except (OSError, ValueError, SyntaxError, EOFError, UnidentifiedImageError) as exc:
        raise ImageProblem(f"is damaged or cut short: it cannot be decoded ({exc})") from None


def _decode_file(path: Path) -> tuple[ImageProblem | None, FileKey | None]:
    """Decode a file in full: the problem found, and the file's key if the outcome is worth
    remembering (the content decided it, and the file did not change while it was read)."""
    try:
        before = FileKey.of(str(path), path.stat())
        data = path.read_bytes()
        after = FileKey.of(str(path), path.stat())
    except OSError as exc:
        return ImageProblem(f"cannot be read: {exc.strerror or exc}"), None
    try:
        decode_fully(data)
    except ImageProblem as exc:
        return exc, (before if before == after else None)
    return None, (before if before == after else None)


_Decoded = Future[tuple[ImageProblem | None, FileKey | None]]


def _done(problem: ImageProblem | None) -> _Decoded:
    """A decode remembered from an earlier run, as if it had just ended (nothing to write)."""
    future: _Decoded = Future()
    future.set_result((problem, None))
    return future


class Inspector:
    """Inspects image inputs, reading each local file once per version of it.

    With ``decode``, every distinct local file is also decoded in full, in a pool of threads
    (Pillow's decoders let go of the GIL, so files decode side by side) while expansion goes on;
    :meth:`damaged` waits for them and names the files that failed.

    What a file's checks found is remembered in ``cache`` (by default the user's:
    :meth:`CheckCache.user`; ``CheckCache(None)`` remembers nothing), so that a later run finds
    an unchanged file checked already, its content hash (what the job fingerprint covers)
    included, without reading it.
    """

    def __init__(
        self, *, decode: bool = False, workers: int | None = None, cache: CheckCache | None = None
    ) -> None:
        self._files: dict[FileKey, ImageInfo | ImageProblem] = {}
        self._decode = decode
        self._workers = workers or min(8, (os.cpu_count() or 1) + 1)
        self._pool: ThreadPoolExecutor | None = None
        self._decoding: dict[str, _Decoded] = {}
        self._cache = cache if cache is not None else CheckCache.user()
        self._remembered: dict[FileKey, Outcome] = {}
        self.reads = 0  # local files read for their header (not found remembered)
        self.decodes = 0  # local files decoded in full
        # Whatever is still buffered is written when the inspector goes (or the process ends).
        weakref.finalize(self, self._cache.close)

    @property
    def decoding(self) -> bool:
        """Local files are decoded in full (validation), not only read to their header."""
        return self._decode

    def damaged(self) -> dict[str, ImageProblem]:
        """Wait for the full decodes; the files that failed, by absolute path."""
        out = {}
        for path, future in self._decoding.items():
            problem, key = future.result()
            if problem is not None:
                out[path] = problem
            if key is not None:
                self._remember_decode(key, problem)
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._cache.flush()
        return out

    def _remember_decode(self, key: FileKey, problem: ImageProblem | None) -> None:
        info = self._files.get(key)  # None: the file changed between its header and its decode
        if isinstance(info, ImageInfo):
            damage = None if problem is None else str(problem)
            self._cache.put(key, _outcome(info, decoded=True, damage=damage))

    def _decode_later(self, path: Path, key: FileKey) -> None:
        if not self._decode or str(path) in self._decoding:
            return
        remembered = self._remembered.get(key)
        if remembered is not None and remembered.decoded:
            damage = remembered.damage
            self._decoding[str(path)] = _done(None if damage is None else ImageProblem(damage))
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="kbatch-decode")
        self._decoding[str(path)] = self._pool.submit(_decode_file, path)
        self.decodes += 1

    def inspect(self, image: ImageInput) -> ImageInfo | None:
        """Inspect a file or base64 image (None for a URL: never fetched). Raises ImageProblem."""
        if image.source is ImageSource.URL:
            return None
        if image.source is ImageSource.BASE64:
            data = decode_base64(image.value)
            info = inspect_bytes(data)
            if self._decode:
                decode_fully(data)
            return info
        return self._inspect_file(Path(image.value))

    def _inspect_file(self, path: Path) -> ImageInfo:
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise ImageProblem("does not exist") from None
        except OSError as exc:
            raise ImageProblem(f"cannot be read: {exc.strerror or exc}") from None
        key = FileKey.of(str(path), stat)
        cached = self._files.get(key)
        if cached is None:
            cached = self._recall(key)
            if cached is None:
                cached = self._read_file(path, key)
            self._files[key] = cached
        if isinstance(cached, ImageProblem):
            raise cached
        self._decode_later(path, key)
        return cached

    def _recall(self, key: FileKey) -> ImageInfo | ImageProblem | None:
        """What an earlier check of this very version of the file found, if remembered."""
        outcome = self._cache.get(key)
        if outcome is None:
            return None
        self._remembered[key] = outcome
        if outcome.problem is not None:
            return ImageProblem(outcome.problem)
        return ImageInfo(outcome.format, outcome.width, outcome.height, key.size, outcome.sha256)

    def _read_file(self, path: Path, key: FileKey) -> ImageInfo | ImageProblem:
        if not path.is_file():
            return ImageProblem("is not a file")
        try:
            _check_size(key.size)  # before reading: a huge file is refused unread
            data = path.read_bytes()
            self.reads += 1
            stable = FileKey.of(str(path), path.stat()) == key
        except ImageProblem as exc:
            return exc
        except OSError as exc:
            return ImageProblem(f"cannot be read: {exc.strerror or exc}")
        try:
            found: ImageInfo | ImageProblem = inspect_bytes(data)
        except ImageProblem as exc:
            found = exc
        # When decoding, a good header is remembered with the decode's outcome (a bad one is
        # never decoded).
        if stable and (not self._decode or isinstance(found, ImageProblem)):
            self._cache.put(key, _outcome(found))
        return found


def _outcome(
    found: ImageInfo | ImageProblem, *, decoded: bool = False, damage: str | None = None
) -> Outcome:
    if isinstance(found, ImageProblem):
        return Outcome(problem=str(found))
    return Outcome(found.format, found.width, found.height, found.sha256, None, decoded, damage)


def digest(image: ImageInput, info: ImageInfo | None) -> str:
    """What stands for the image in a job's fingerprint: its content hash, or the URL."""
    if info is not None:
        return "sha256:" + info.sha256
    return image.value


class Encoder:
    """Images as the API wants them, as bytes, each distinct one encoded once: a 5 MB picture
    shared by 500 jobs is read and base64-encoded once, not 500 times. Files are known by
    (path, size, mtime), so an edited file is encoded afresh; at most ``limit`` bytes are kept
    (the least recently used go first)."""

    def __init__(self, limit: int = 512 * 1024 * 1024) -> None:
        self._limit = limit
        self._kept: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self._size = 0
        self.encoded = 0  # how many times a file was read and encoded

    def __call__(self, image: ImageInput) -> bytes:
        if image.source is not ImageSource.FILE:
            return image.value.encode("ascii")
        stat = Path(image.value).stat()
        key = (image.value, stat.st_size, stat.st_mtime_ns)
        data = self._kept.get(key)
        if data is not None:
            self._kept.move_to_end(key)
            return data
        data = base64.b64encode(Path(image.value).read_bytes())
        self.encoded += 1
        self._kept[key] = data
        self._size += len(data)
        while self._size > self._limit and len(self._kept) > 1:
            _, dropped = self._kept.popitem(last=False)
            self._size -= len(dropped)
        return data


def encode(image: ImageInput) -> str:
    """The image as the API wants it: the URL, or raw base64 (never with a ``data:`` prefix)."""
    if image.source is ImageSource.FILE:
        return base64.b64encode(Path(image.value).read_bytes()).decode("ascii")
    return image.value
