"""Sound for the building blocks: real small audio files the simulator serves, and the length of
a sound a client sends (``sound_file``, ``voice_url``), read as Kling reads it.

- WAV: 8 kHz, 16-bit mono silence with a soft tone, written with the standard library's ``wave``.
- MP3: a run of silent MPEG-1 Layer III frames (32 kbit/s, 44.1 kHz, mono: 104 bytes and
  1152 samples a frame). A frame whose side information and main data are all zero decodes as
  silence in every decoder; no encoder is needed.

>>> round(audio_seconds(wav(2.5)), 2), round(audio_seconds(mp3(2.5)), 1)
(2.5, 2.5)
"""

from __future__ import annotations

import io
import math
import struct
import wave
from typing import Any

from kbatch.sounds import sound_seconds

av: Any
try:  # PyAV is optional: without it only WAV and MP3 lengths are read
    import av
except ImportError:  # pragma: no cover - the test install has it
    av = None

RATE = 8000
#: MPEG-1 Layer III, no CRC; 32 kbit/s, 44.1 kHz, no padding; mono.
_FRAME_HEADER = bytes([0xFF, 0xFB, 0x10, 0xC0])
_FRAME_BYTES = 104  # 144 * 32000 // 44100
_FRAME_SECONDS = 1152 / 44100
#: The formats Kling takes as a sound file, and as a voice source (a video too).
SOUND_FORMATS = ("mp3", "wav", "m4a", "aac")
VOICE_FORMATS = ("mp3", "wav", "mp4", "mov")


def wav(seconds: float) -> bytes:
    """A WAV of ``seconds``: a quiet 440 Hz tone, so that a player shows it is not empty."""
    frames = max(1, round(seconds * RATE))
    samples = (round(800 * math.sin(2 * math.pi * 440 * n / RATE)) for n in range(frames))
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(struct.pack(f"<{frames}h", *samples))
    return out.getvalue()


def mp3(seconds: float) -> bytes:
    """An MP3 of ``seconds`` of silence (to the nearest frame, 26 ms)."""
    frames = max(1, round(seconds / _FRAME_SECONDS))
    frame = _FRAME_HEADER + bytes(_FRAME_BYTES - len(_FRAME_HEADER))
    return frame * frames


def audio_format(data: bytes) -> str | None:
    """``wav``, ``mp3``, ``m4a``, ``aac``, ``mp4`` or ``mov`` from the first bytes; None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE6 == 0xE2):
        return "mp3"
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0:
        return "aac"  # ADTS
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand.startswith(b"M4A"):
            return "m4a"
        return "mov" if brand == b"qt  " else "mp4"
    if data[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "mov"
    return None


def audio_seconds(data: bytes) -> float | None:
    """A sound's length in seconds: WAV and MP3 by their headers, others by PyAV if installed;
    None when it cannot be read."""
    kind = audio_format(data)
    if kind in ("wav", "mp3"):  # read as a client reads it (kbatch.sounds)
        return sound_seconds(data)
    return _av_seconds(data)


def _av_seconds(data: bytes) -> float | None:
    if av is None:  # pragma: no cover - the test install has PyAV
        return None
    try:
        with av.open(io.BytesIO(data)) as container:
            if container.duration is not None:
                return float(container.duration / 1_000_000)
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
    except (av.FFmpegError, IndexError, ValueError):
        return None
    return None


__all__ = [
    "SOUND_FORMATS",
    "VOICE_FORMATS",
    "audio_format",
    "audio_seconds",
    "mp3",
    "wav",
]
