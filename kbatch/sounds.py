"""Sound files a job sends (avatar's and lip-sync's ``sound_file``): a local file is checked at
the manifest line (Kling's limits: mp3, wav, m4a or aac, at most 5 MB; ``kling-avatar.md``,
``kling-lip-sync.md``) and sent as raw base64, as local images are; its length is read from its
header where that is cheap (WAV, MP3), for the price estimate and lip-sync's audio window.

>>> import io, wave
>>> out = io.BytesIO()
>>> with wave.open(out, "wb") as w:
...     w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000); w.writeframes(bytes(16000))
>>> sound_format(out.getvalue()), sound_seconds(out.getvalue())
('wav', 1.0)
"""

from __future__ import annotations

import hashlib
import io
import wave
from dataclasses import dataclass
from pathlib import Path

from kbatch.images import ImageInput, ImageSource

#: The formats Kling takes as a sound file, and the most bytes.
SOUND_FORMATS = ("mp3", "wav", "m4a", "aac")
MAX_SOUND_BYTES = 5 * 1024 * 1024

_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_MP3_BITRATES = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}


class SoundProblem(ValueError):
    """A sound file cannot be sent; the message says why (the loader locates it)."""


@dataclass(frozen=True, slots=True)
class SoundInput(ImageInput):
    """A local sound file, sent as raw base64 as a local image is (``source`` FILE, ``value``
    its absolute path); ``seconds`` its length when its header told it (WAV, MP3)."""

    seconds: float | None = None


def sound_format(data: bytes) -> str | None:
    """``wav``, ``mp3``, ``m4a`` or ``aac`` from the first bytes; None for anything else."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE6 == 0xE2):
        return "mp3"
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0:
        return "aac"  # ADTS
    if data[4:8] == b"ftyp" and data[8:11] in (b"M4A", b"M4B", b"mp4", b"iso"):
        return "m4a"
    return None


def sound_seconds(data: bytes) -> float | None:
    """A WAV's or an MP3's length in seconds (an MP3 by walking its frame headers); None for
    other formats or an unreadable header."""
    kind = sound_format(data)
    if kind == "wav":
        try:
            with wave.open(io.BytesIO(data), "rb") as reader:
                return reader.getnframes() / reader.getframerate()
        except (wave.Error, EOFError, ZeroDivisionError):
            return None
    return _mp3_seconds(data) if kind == "mp3" else None


def _mp3_seconds(data: bytes) -> float | None:
    at = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        tag = data[6:10]
        at = 10 + (tag[0] << 21 | tag[1] << 14 | tag[2] << 7 | tag[3])
    seconds, frames = 0.0, 0
    while at + 4 <= len(data):
        b1, b2 = data[at + 1], data[at + 2]
        version = (b1 >> 3) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
        if data[at] != 0xFF or b1 & 0xE0 != 0xE0 or version == 1 or (b1 >> 1) & 3 != 1:
            break
        rate_index, bit_index = (b2 >> 2) & 3, b2 >> 4
        if rate_index == 3 or bit_index in (0, 15):
            break
        rate = _MP3_RATES[version][rate_index]
        bitrate = _MP3_BITRATES[1 if version == 3 else 2][bit_index] * 1000
        samples = 1152 if version == 3 else 576
        seconds += samples / rate
        frames += 1
        at += samples // 8 * bitrate // rate + ((b2 >> 1) & 1)
    return seconds if frames else None


def read_sound(path: Path) -> tuple[SoundInput, str]:
    """A local sound file checked as Kling checks it (its size and format; SoundProblem), and
    its content hash (what stands for it in a job's fingerprint)."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise SoundProblem("is not a file")
        if size > MAX_SOUND_BYTES:
            raise SoundProblem(f"is {size:,} bytes; Kling takes a sound file of at most 5 MB")
        data = path.read_bytes()
    except FileNotFoundError:
        message = "does not exist (a local path is taken relative to the manifest)"
        raise SoundProblem(message) from None
    except OSError as exc:
        raise SoundProblem(f"cannot be read: {exc.strerror or exc}") from None
    kind = sound_format(data)
    if kind is None:
        raise SoundProblem(f"is not a sound Kling takes ({', '.join(SOUND_FORMATS)})")
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return SoundInput(ImageSource.FILE, str(path), sound_seconds(data)), digest


__all__ = [
    "MAX_SOUND_BYTES",
    "SOUND_FORMATS",
    "SoundInput",
    "SoundProblem",
    "read_sound",
    "sound_format",
    "sound_seconds",
]
