"""Where each local image file is first named, and the files found damaged once decoded.

Every distinct local image is decoded in full in a thread pool while jobs expand
(:class:`~kbatch.images.Inspector`); a file that fails is reported once, at the place (manifest
line, or CSV row) of the first job that named it, with the path as written there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kbatch.images import ImageInput, ImageSource, Inspector
from kbatch.manifest.checks import FieldPath, image_slots, normalize
from kbatch.manifest.issues import Issue, IssueLog, show
from kbatch.provider.catalogue import JobKind

#: Each local image file (absolute path): the issue a problem of it makes, and the path as
#: the manifest or row wrote it.
ImageUsers = dict[str, tuple[Issue, str]]


def note_image_users(
    kind: JobKind,
    request: dict[str, Any],
    values: Mapping[str, Any],
    locate: Callable[[FieldPath], Issue],
    users: ImageUsers,
) -> None:
    """Remember where each local file of a job is named, if it is the first to name it
    (``values``: the job's fields as written, for the path as the manifest gave it)."""
    written: dict[FieldPath, Any] | None = None
    for field_path, image in image_slots(kind, request):
        if not isinstance(image, ImageInput) or image.source is not ImageSource.FILE:
            continue
        if image.value not in users:
            if written is None:
                written = dict(image_slots(kind, normalize(kind, dict(values))))
            users[image.value] = (locate(field_path), str(written.get(field_path, image.value)))


def damaged_images(inspector: Inspector, users: ImageUsers, log: IssueLog) -> None:
    """Report the local images that failed to decode in full, where a job first named them."""
    for path, problem in sorted(inspector.damaged().items()):
        issue, written = users[path]
        log.add(Issue(issue.location, issue.path, f"{show(written)} {problem}"))


__all__ = ["ImageUsers", "damaged_images", "note_image_users"]
