"""Jobs: one Kling task each, with the id and fingerprint that make runs resumable.

A job's ``fingerprint`` covers its kind, its request fields and the bytes of its local images
(by content hash, not path), so editing a job or replacing an image changes it, and moving the
project folder does not. A job without an ``id`` gets one derived from its content as written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kbatch.manifest.issues import Location
from kbatch.provider import catalogue
from kbatch.provider.catalogue import JobKind


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a job comes from: its entry in ``jobs:``, its foreach row (number and columns) and
    matrix values."""

    template: int
    location: Location
    row: int | None = None
    matrix: Mapping[str, Any] = field(default_factory=dict)
    columns: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Job:
    """One Kling task to run. ``request`` holds wire names and types, images as ImageInput."""

    id: str
    kind: JobKind
    request: Mapping[str, Any]
    fingerprint: str
    origin: Origin

    @property
    def slots(self) -> int:
        """Parallel-task slots the task holds while it runs."""
        return catalogue.request_slots(self.kind, self.request)

    @property
    def pack(self) -> catalogue.PackType:
        return catalogue.PACK[self.kind]


def _canonical(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


def derived_id(kind: JobKind, request: Mapping[str, Any]) -> str:
    """A stable id from a request as written (image paths, not bytes): ``<kind>-<16 hex>``."""
    return f"{kind.value}-{hashlib.sha256(_canonical([kind.value, request])).hexdigest()[:16]}"


def fingerprint(kind: JobKind, view: Mapping[str, Any]) -> str:
    """Over the kind and the request, whose images ``view`` holds as content hashes or URLs."""
    return hashlib.sha256(_canonical({"kind": kind.value, "request": view})).hexdigest()
