"""kbatch: declarative batch runner for every Kling generation kind: images (text, multi-image,
expansion, omni), videos (text, image, omni, motion control, effects), in bulk from YAML."""

from __future__ import annotations

from kbatch.errors import KbatchError, ManifestError
from kbatch.manifest.issues import Issue, Location
from kbatch.manifest.jobs import Job
from kbatch.manifest.loader import Manifest, Validation, load_manifest, validate
from kbatch.provider.catalogue import JobKind, PackType, ProviderName
from kbatch.version import __version__

__all__ = [
    "Issue",
    "Job",
    "JobKind",
    "KbatchError",
    "Location",
    "Manifest",
    "ManifestError",
    "PackType",
    "ProviderName",
    "Validation",
    "__version__",
    "load_manifest",
    "validate",
]
