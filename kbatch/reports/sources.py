"""Where each job came from, as report columns: the request fields it sent and its foreach row
and matrix values, as the OpenAI Batch API echoes ``custom_id``.

::

    job_source(job, base_dir=Path("manifests"))    # a shots.csv row, matrix {mode: [std, pro]}
    # {'prompt': 'The cat yawns', 'negative_prompt': None, 'model': 'kling-v2-master',
    #  'mode': 'pro', 'duration': '5', 'aspect_ratio': None, 'inputs': ('images/cat.png',),
    #  'input_fields': ('image',), 'row.id': 'cat', 'image': 'images/cat.png',
    #  'row.prompt': 'The cat yawns', 'matrix.mode': 'pro'}

The request fields come first, under fixed names (:data:`REQUEST_COLUMNS`); ``inputs`` lists
the job's images (and a reference ``video``: omni_video, motion_control) as the manifest
gave them (a file relative to the manifest's folder, a URL as
written, base64 as its length) and ``input_fields`` the field each sits in. A foreach column
or matrix key keeps its own name unless that name is taken (by a report column, a request
column, or a column of the row when it is a matrix key), in which case it is ``row.<name>`` or
``matrix.<name>``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbatch.images import ImageInput, ImageSource
from kbatch.manifest.checks import image_slots
from kbatch.manifest.jobs import Job
from kbatch.manifest.references import Reference, found_in
from kbatch.reports.thumbnails import thumbnail

#: The request fields every report carries, in order (None where a kind has no such field).
REQUEST_COLUMNS = (
    "prompt",
    "negative_prompt",
    "model",
    "mode",
    "duration",
    "aspect_ratio",
    "resolution",
    "n",
    "inputs",
    "input_fields",
)

Source = dict[str, Any]
#: The fields shown as a job's prompt, the first a job has: tts speaks ``text``; video2audio
#: has a sound and a music prompt.
_WORDS = ("prompt", "text", "sound_effect_prompt", "bgm_prompt")


def given(image: ImageInput, base_dir: Path) -> str:
    """An image as the manifest gave it: a file relative to the manifest's folder."""
    if image.source is ImageSource.FILE:
        return Path(os.path.relpath(image.value, base_dir)).as_posix()
    if image.source is ImageSource.URL:
        return image.value
    return f"<base64, {len(image.value)} characters>"


def job_source(job: Job, base_dir: Path, reserved: Iterable[str] = ()) -> Source:
    """A job's source columns (see the module's text); ``reserved`` names the report's own
    columns, which a row column or matrix key must not shadow."""
    request = dict(job.request)
    inputs: list[str] = []
    fields: list[str] = []
    for path, image in image_slots(job.kind, request):
        if isinstance(image, ImageInput | Reference):  # another job's image: job:<id>
            inputs.append(str(image) if isinstance(image, Reference) else given(image, base_dir))
            fields.append(".".join(str(part) for part in path))
    if isinstance(video := request.get("video"), str):  # omni_video, motion_control: a URL
        inputs.append(video)
        fields.append("video")
    # The building blocks' video and speech: an id, a URL, a local sound, or job:<id>.
    for name in ("video_id", "video_url", "audio_id", "sound_file"):
        value = request.get(name)
        if value is not None:
            shown = given(value, base_dir) if isinstance(value, ImageInput) else str(value)
            inputs.append(shown)
            fields.append(name)
    words = (request.get(name) for name in _WORDS)  # speech's text, a sound's prompts
    out: Source = {
        "prompt": next((text for text in words if text is not None), None),
        "negative_prompt": request.get("negative_prompt"),
        "model": request.get("model_name", request.get("model")),
        "mode": request.get("mode"),
        "duration": request.get("duration"),
        "aspect_ratio": request.get("aspect_ratio"),
        "resolution": request.get("resolution"),
        "n": request.get("n"),
        "inputs": tuple(inputs),
        "input_fields": tuple(fields),
    }
    upstreams = tuple(dict.fromkeys(ref.job_id for _, ref in found_in(request)))
    if upstreams:  # a job of a pipeline: the jobs it takes from
        out["upstreams"] = upstreams
    taken = {*reserved, *REQUEST_COLUMNS, "upstreams"}
    origin = job.origin
    _place(out, "row", origin.columns, taken)
    _place(out, "matrix", origin.matrix, taken | set(origin.columns))
    return out


def _place(out: Source, prefix: str, values: Mapping[str, Any], taken: set[str]) -> None:
    for name, value in values.items():
        out[f"{prefix}.{name}" if name in taken else name] = value


@dataclass(frozen=True, slots=True)
class Input:
    """An input image of a job, for the gallery: ``src`` is what an ``<img>`` may load without
    the network (a file's path, made relative to the report by :func:`collect`, or a data: URI
    thumbnail of a base64 image); a URL is only linked."""

    field: str
    src: str | None = None
    link: str | None = None


def job_inputs(job: Job) -> tuple[Input, ...]:
    """A job's input images as the gallery shows them (files by absolute path)."""
    out: list[Input] = []
    for path, image in image_slots(job.kind, dict(job.request)):
        label = ".".join(str(part) for part in path)
        if isinstance(image, Reference):  # the chain: the report puts the made file here
            out.append(Input(f"{label} from {image}", src=str(image)))
            continue
        if not isinstance(image, ImageInput):
            continue
        if image.source is ImageSource.FILE:
            out.append(Input(label, src=image.value))
        elif image.source is ImageSource.URL:
            out.append(Input(label, link=image.value))
        else:
            out.append(Input(label, src=thumbnail(image.value)))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One job's source columns, compactly: values in the order of the shared ``index``
    (a report of 100,000 jobs holds 100,000 of these)."""

    index: Mapping[str, int]
    values: tuple[Any, ...]

    def get(self, name: str) -> Any:
        position = self.index.get(name)
        if position is None or position >= len(self.values):
            return None
        return self.values[position]


@dataclass
class Sources:
    """What reports need of a manifest's jobs, added as the jobs are read: every job's source
    columns (``names`` in order, request columns first, then the others as first seen), and
    the input images of the first ``gallery`` jobs (a base64 input's thumbnail costs a
    decode)."""

    base_dir: Path  # the manifest's folder
    reserved: tuple[str, ...] = ()
    gallery: int = 0
    names: list[str] = field(default_factory=lambda: list(REQUEST_COLUMNS))
    rows: dict[str, SourceRow] = field(default_factory=dict)
    inputs: dict[str, tuple[Input, ...]] = field(default_factory=dict)
    _index: dict[str, int] = field(default_factory=dict, repr=False)
    _shared: dict[Any, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index.update((name, i) for i, name in enumerate(self.names))

    def add(self, job: Job) -> None:
        """Add a job's source columns (new names at the end) and, for one of the first
        ``gallery`` jobs, its input images."""
        source = job_source(job, self.base_dir, self.reserved)
        index = self._index
        for name in source:
            if name not in index:
                index[name] = len(self.names)
                self.names.append(name)
        shared = self._shared  # one tuple for every job with the same input fields
        values = tuple(
            shared.setdefault(value, value) if isinstance(value, tuple) else value
            for value in (source.get(name) for name in self.names)
        )
        self.rows[job.id] = SourceRow(index, values)
        if len(self.inputs) < self.gallery:
            self.inputs[job.id] = job_inputs(job)


__all__ = [
    "REQUEST_COLUMNS",
    "Input",
    "Source",
    "SourceRow",
    "Sources",
    "given",
    "job_inputs",
    "job_source",
]
