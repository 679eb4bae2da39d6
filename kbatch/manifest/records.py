"""Pre-flight rules of the kinds that make records and views (issue 31, slice "records"):
``element`` (``POST /v1/general/advanced-custom-elements``), ``voice`` (``POST
/v1/general/custom-voices``) and ``subject_completion`` (``POST /v1/general/ai-multi-shot``).

From Kling's pages (``kling-omni-3.0-element-mgt.md``, ``kling-2.6-voice-mgt.md``,
``kling-image-common-subject-completion.md``; KLING_API.md sections 7 and 11):

- an element has a name (at most 20 characters: the catalogue's text limits) and a
  description (at most 100), and is made from images (``reference_type: image_refer``: a
  frontal image and 1 to 3 more, ``element_image_list``) or from one video (``video_refer``:
  ``element_video_list.refer_videos[0].video_url``, mp4/mov, 3 to 8 s, 1080p, 16:9 or 9:16, at
  most 200 MB, by URL only); the list of the other type is refused (Kling ignores it);
- a voice has a name (at most 20) and exactly one source: ``voice_url`` (an audio or video URL,
  mp3/wav/mp4/mov, 5 to 30 s, by URL only) or ``video_id`` (a made video: a kling-v2-6 video
  with sound on, an avatar or a lip-sync; which one is decided by the upstream's request:
  :func:`speaks`);
- subject views take one frontal image (the ``/v1`` image rules) and make three images.

>>> [path for path, _ in check_element({"element_name": "Hero", "element_description": "a knight",
...     "reference_type": "image_refer", "element_image_list": {"frontal_image": "a.png"}})]
[('element_image_list', 'refer_images')]
>>> check_voice({"voice_name": "Narrator", "voice_url": "https://x/a.mp3", "video_id": "1"})
[(('video_id',), 'give exactly one of voice_url and video_id, not both')]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from kbatch.manifest.issues import missing
from kbatch.manifest.omni import reference_video, shown
from kbatch.manifest.references import Reference
from kbatch.media import is_local, local_path
from kbatch.provider.catalogue import JobKind
from kbatch.videos import MB, VideoLimits

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]

#: An element's reference video (kling-omni-3.0-element-mgt.md): mp4/mov, 3 to 8 s, 1080p,
#: 16:9 or 9:16, at most 200 MB. The exact frame (1920x1080 or 1080x1920) the simulator holds
#: it to; these limits catch what a header says before that.
ELEMENT_VIDEO = VideoLimits(
    "an element's reference video", 200 * MB, 3.0, 8.0, 1080, 1920, None, 9 / 16, 16 / 9
)
#: What a voice is made from by URL (kling-2.6-voice-mgt.md).
VOICE_FORMATS = (".mp3", ".wav", ".mp4", ".mov")
#: Kling's tags (``tag_list[].tag_id``).
TAGS = tuple(f"o_{number}" for number in range(101, 109))
#: How many images a subject-views call makes (``images[0]{url_1, url_2, url_3}``).
VIEWS = 3
#: What a local file in a field Kling takes by URL only is told (no ``media:`` to send it).
BY_URL_ONLY = (
    "is a local file: Kling takes {what} by URL only; set media: {{store: s3://bucket/prefix}} "
    "or media: {{serve: true}} to send it (docs/media.md), or upload it and give its URL"
)
_VIDEO_FIELD: FieldPath = ("element_video_list", "refer_videos", 0, "video_url")


def check_element(request: Mapping[str, Any]) -> list[Problem]:
    """Every rule of an element request, each located at the field that breaks it."""
    problems = missing(request, "element_name", "element_description", "reference_type")
    kind = request.get("reference_type")
    images, videos = request.get("element_image_list"), request.get("element_video_list")
    if kind == "image_refer":
        if videos is not None:
            message = "is for reference_type: video_refer; this element is made from images"
            problems.append((("element_video_list",), message))
        if not isinstance(images, Mapping):
            message = "image_refer needs element_image_list: {frontal_image, refer_images}"
            problems.append((("element_image_list",), message))
        elif not 1 <= len(images.get("refer_images") or ()) <= 3:
            message = "image_refer needs 1 to 3 refer_images besides the frontal image"
            problems.append((("element_image_list", "refer_images"), message))
    elif kind == "video_refer":
        if images is not None:
            message = "is for reference_type: image_refer; this element is made from a video"
            problems.append((("element_image_list",), message))
        if not isinstance(videos, Mapping):
            message = "video_refer needs element_video_list: {refer_videos: [{video_url}]}"
            problems.append((("element_video_list",), message))
        else:
            url = (videos.get("refer_videos") or [{}])[0].get("video_url")
            problems += _video(url)
    return problems


def _video(url: Any) -> list[Problem]:
    """An element's video: by URL (a local file only through ``media:``), its limits."""
    if url is None or isinstance(url, Reference):
        return []
    if is_local(str(url)):
        return [(_VIDEO_FIELD, f"{shown(str(url))} " + BY_URL_ONLY.format(what="videos"))]
    return reference_video(url, ELEMENT_VIDEO, _VIDEO_FIELD)


def check_voice(request: Mapping[str, Any]) -> list[Problem]:
    """Every rule of a voice request, each located at the field that breaks it."""
    problems = missing(request, "voice_name")
    given = [name for name in ("voice_url", "video_id") if name in request]
    if not given:
        return [*problems, ((), "give one of voice_url (an audio or video URL) and video_id")]
    if len(given) == 2:
        return [*problems, (("video_id",), "give exactly one of voice_url and video_id, not both")]
    url = request.get("voice_url")
    if url is None or isinstance(url, Reference):
        return problems
    text = str(url)
    if is_local(text):
        return [*problems, (("voice_url",), f"{shown(text)} " + BY_URL_ONLY.format(what="voices"))]
    path = local_path(text) or urlsplit(text.strip()).path
    suffix = PurePosixPath(path).suffix.lower()
    if local_path(text) is not None and suffix not in VOICE_FORMATS:
        message = f"{shown(text)} is a {suffix or 'file without extension'}; Kling takes a voice "
        message += f"from {'/'.join(VOICE_FORMATS)}"
        problems.append((("voice_url",), message))
    return problems


def check_subject(request: Mapping[str, Any]) -> list[Problem]:
    """A subject-views request: its frontal image (checked as every ``/v1`` image)."""
    return missing(request, "element_frontal_image")


def speaks(kind: JobKind, request: Mapping[str, Any]) -> bool:
    """Whether the video a job makes can be a voice's ``video_id``: a kling-v2-6 video with
    sound on (image2video, text2video), an avatar, or a lip-sync (kling-2.6-voice-mgt.md).

    >>> speaks(JobKind.IMAGE2VIDEO, {"model_name": "kling-2.6", "sound": "on"})
    True
    >>> speaks(JobKind.IMAGE2VIDEO, {"model_name": "kling-v2-6"})
    False
    """
    if kind in (JobKind.AVATAR, JobKind.LIP_SYNC):
        return True
    if kind not in (JobKind.IMAGE2VIDEO, JobKind.TEXT2VIDEO):
        return False
    model = str(request.get("model_name", ""))
    return model in ("kling-v2-6", "kling-2.6") and request.get("sound") == "on"


#: What :func:`speaks` refuses, as the voice's ``video_id`` is told.
NOT_SPOKEN = "a voice is made only from a kling-v2-6 video with sound: on, an avatar or a lip-sync"


def image_slots(kind: JobKind, request: Mapping[str, Any]) -> Iterator[tuple[FieldPath, Any]]:
    """An element's images: its frontal image and each refer image, with their paths."""
    images = request.get("element_image_list") if kind is JobKind.ELEMENT else None
    if not isinstance(images, Mapping):
        return
    if "frontal_image" in images:
        yield ("element_image_list", "frontal_image"), images["frontal_image"]
    for index, item in enumerate(images.get("refer_images") or ()):
        if isinstance(item, Mapping) and "image_url" in item:
            yield ("element_image_list", "refer_images", index, "image_url"), item["image_url"]


def element_number(value: Any) -> Any:
    """An element id as Kling's ``/v1`` examples send it: a number when it is digits
    (``element_id: job:hero`` is the made element's id, a string in the state).

    >>> element_number("829836802793406551"), element_number("abc"), element_number(7)
    (829836802793406551, 'abc', 7)
    """
    return int(value) if isinstance(value, str) and value.isdigit() else value


__all__ = [
    "ELEMENT_VIDEO",
    "NOT_SPOKEN",
    "TAGS",
    "VIEWS",
    "check_element",
    "check_subject",
    "check_voice",
    "element_number",
    "image_slots",
    "speaks",
]
