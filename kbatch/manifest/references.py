"""References between jobs: ``job:<id>`` and ``job:<id>#<k>`` in an input field.

A reference is a typed value: the job it names makes an output of one :class:`OutputType`
(:data:`MADE_BY`), and the field that takes it accepts one type, sent in one :class:`Form`
(:data:`TAKES`). Both tables are data: a kind or a field that feeds others is a row in them.

>>> parse("job:still-3#1")
job:still-3#1
>>> parse("a.png") is None, parse("job:") is None
(True, True)
>>> str(Reference("still-3"))
'job:still-3'

:func:`mark` finds the references of a job's fields as written (after its templates are
filled, so a foreach CSV cell may hold one) and puts :class:`Reference` values in their place;
the graph of the jobs they join is :mod:`kbatch.manifest.graph`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from kbatch.provider.catalogue import JobKind

PREFIX = "job:"
_REFERENCE = re.compile(r"job:([A-Za-z0-9_][A-Za-z0-9_.=+@-]{0,127})(?:#([0-9]{1,4}))?")

FieldPath = tuple[str | int, ...]


class OutputType(enum.StrEnum):
    """What a job makes, as a field that takes another job's output sees it."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    ELEMENT = "element"
    VOICE = "voice"


class Form(enum.StrEnum):
    """How a referenced output is sent."""

    #: The result URL while the provider keeps it, else the downloaded file (base64).
    URL_OR_FILE = "url_or_file"
    #: The result URL only (Kling takes no bytes there): gone once the provider clears it.
    URL = "url"
    #: The provider's id of the output (``video_id``, ``element_id``, ...).
    ID = "id"


#: The output each kind makes.
MADE_BY: Mapping[JobKind, OutputType] = MappingProxyType(
    {
        JobKind.TEXT2IMAGE: OutputType.IMAGE,
        JobKind.IMAGE_EXPAND: OutputType.IMAGE,
        JobKind.MULTI_IMAGE2IMAGE: OutputType.IMAGE,
        JobKind.OMNI_IMAGE: OutputType.IMAGE,
        JobKind.IMAGE2VIDEO: OutputType.VIDEO,
        JobKind.TEXT2VIDEO: OutputType.VIDEO,
        JobKind.OMNI_VIDEO: OutputType.VIDEO,
        JobKind.MOTION_CONTROL: OutputType.VIDEO,
        JobKind.VIDEO_EFFECTS: OutputType.VIDEO,
        # The building blocks (issue 31).
        JobKind.ELEMENT: OutputType.ELEMENT,
        JobKind.VOICE: OutputType.VOICE,
        JobKind.TTS: OutputType.AUDIO,
        JobKind.TEXT2AUDIO: OutputType.AUDIO,
        JobKind.VIDEO2AUDIO: OutputType.VIDEO,  # and its audio: ALSO_MADE
        JobKind.AVATAR: OutputType.VIDEO,
        JobKind.LIP_SYNC: OutputType.VIDEO,
        JobKind.SUBJECT_COMPLETION: OutputType.IMAGE,
    }
)
#: Outputs a kind makes besides its main one: video-to-audio makes the video with sound and
#: its audio; a field taking an audio takes the audio.
ALSO_MADE: Mapping[JobKind, frozenset[OutputType]] = MappingProxyType(
    {JobKind.VIDEO2AUDIO: frozenset({OutputType.AUDIO})}
)


def makes(kind: JobKind, output: OutputType) -> bool:
    """Whether a job of ``kind`` makes an output of this type.

    >>> makes(JobKind.VIDEO2AUDIO, OutputType.AUDIO), makes(JobKind.TTS, OutputType.VIDEO)
    (True, False)
    """
    return MADE_BY.get(kind) is output or output in ALSO_MADE.get(kind, frozenset())


@dataclass(frozen=True, slots=True)
class Taking:
    """What a field takes from another job, and in which form it is sent."""

    output: OutputType
    form: Form


_IMAGE = Taking(OutputType.IMAGE, Form.URL_OR_FILE)
_VIDEO_URL = Taking(OutputType.VIDEO, Form.URL)
_VIDEO_ID = Taking(OutputType.VIDEO, Form.ID)
_AUDIO_ID = Taking(OutputType.AUDIO, Form.ID)
_AUDIO_URL = Taking(OutputType.AUDIO, Form.URL)
_VOICE_ID = Taking(OutputType.VOICE, Form.ID)

#: Each field that takes another job's output, by its name (the last name on its path:
#: ``subject_image_list[0].subject_image`` is ``subject_image``; an item of a list of images,
#: ``image_list[0]``, is the list's name).
TAKES: Mapping[str, Taking] = MappingProxyType(
    {
        "image": _IMAGE,
        "image_tail": _IMAGE,
        "static_mask": _IMAGE,
        "mask": _IMAGE,
        "subject_image": _IMAGE,
        "subject_image_list": _IMAGE,  # as written: a list of images (of subject_image)
        "scene_image": _IMAGE,
        "style_image": _IMAGE,
        "image_list": _IMAGE,
        "images": _IMAGE,
        "video": _VIDEO_URL,
        # The building blocks' fields (issue 31): a reference sends what the field names.
        "video_id": _VIDEO_ID,  # voice, video2audio, lip_sync: the made video's id
        "video_url": _VIDEO_URL,  # also an element's refer_videos[].video_url
        "audio_id": _AUDIO_ID,  # avatar, lip_sync: a tts job's audio id
        "sound_file": _AUDIO_URL,  # avatar, lip_sync: a made audio's URL
        "voice_url": _AUDIO_URL,  # voice: a made audio's URL
        "element_id": Taking(OutputType.ELEMENT, Form.ID),  # element_list[].element_id
        "element_voice_id": _VOICE_ID,
        "voice_id": _VOICE_ID,  # tts, and voice_list[].voice_id
        "frontal_image": _IMAGE,  # element_image_list.frontal_image
        "image_url": _IMAGE,  # element_image_list.refer_images[].image_url
        "element_frontal_image": _IMAGE,  # subject_completion
    }
)

#: Fields whose image Kling holds to the aspect-ratio rule (1:2.5 to 2.5:1).
RATIO_FIELDS = frozenset({"image", "subject_image", "scene_image", "style_image", "image_list"})
RATIO_FIELDS |= {"frontal_image", "image_url", "element_frontal_image"}  # slice records


@dataclass(frozen=True, slots=True, repr=False)
class Reference:
    """``job:<id>`` (the job's only output) or ``job:<id>#<k>`` (its k-th, 0-based)."""

    job_id: str
    index: int | None = None

    def __str__(self) -> str:
        return PREFIX + self.job_id + ("" if self.index is None else f"#{self.index}")

    __repr__ = __str__  # as the manifest writes it (``kbatch show`` echoes requests)

    @property
    def position(self) -> int:
        """Which of the job's outputs: the first when none is named."""
        return self.index or 0


def parse(text: object) -> Reference | None:
    """The reference a value is, or None (not a string, or not a well-formed reference)."""
    if not isinstance(text, str) or not text.startswith(PREFIX):
        return None
    match = _REFERENCE.fullmatch(text.strip())
    if match is None:
        return None
    index = match.group(2)
    return Reference(match.group(1), None if index is None else int(index))


def field_name(path: FieldPath) -> str:
    """The name a field's path is known by in :data:`TAKES`."""
    for part in reversed(path):
        if isinstance(part, str):
            return part
    return ""


def mark(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[FieldPath, str]]]:
    """The fields with a :class:`Reference` in place of each ``job:`` string of a field that
    takes another job's output, and the problems: a malformed reference, one in a field that
    takes none."""
    problems: list[tuple[FieldPath, str]] = []
    out = {name: _marked(value, (name,), problems) for name, value in values.items()}
    return out, problems


def _marked(value: Any, path: FieldPath, problems: list[tuple[FieldPath, str]]) -> Any:
    if isinstance(value, str):
        if not value.startswith(PREFIX):
            return value
        if field_name(path) not in TAKES:
            return value  # text that happens to start with job: (a prompt)
        found = parse(value)
        if found is None:
            problems.append(
                (path, f"{value!r} is not a reference: job:<id>, or job:<id>#<k> for the k-th")
            )
            return value
        return found
    if isinstance(value, list):
        return [_marked(item, (*path, i), problems) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: _marked(item, (*path, key), problems) for key, item in value.items()}
    return value


def found_in(request: Any, path: FieldPath = ()) -> Iterator[tuple[FieldPath, Reference]]:
    """Every reference in a request, with its field path."""
    if isinstance(request, Reference):
        yield path, request
    elif isinstance(request, Mapping):
        for key, item in request.items():
            yield from found_in(item, (*path, key))
    elif isinstance(request, list | tuple):
        for index, item in enumerate(request):
            yield from found_in(item, (*path, index))


def replaced(request: Any, values: Mapping[Reference, Any]) -> Any:
    """The request with each reference replaced by its value in ``values``."""
    if isinstance(request, Reference):
        return values.get(request, request)
    if isinstance(request, Mapping):
        return {key: replaced(item, values) for key, item in request.items()}
    if isinstance(request, list):
        return [replaced(item, values) for item in request]
    return request


__all__ = [
    "ALSO_MADE",
    "MADE_BY",
    "PREFIX",
    "RATIO_FIELDS",
    "TAKES",
    "Form",
    "OutputType",
    "Reference",
    "Taking",
    "field_name",
    "found_in",
    "makes",
    "mark",
    "parse",
    "replaced",
]
