"""kbatch: run Kling jobs (image expansion, multi-image, image to video, text to video, text to
image) in bulk from YAML."""

from __future__ import annotations

from kbatch.errors import KbatchError, ManifestError
from kbatch.manifest.issues import Issue, Location
from kbatch.manifest.jobs import Job
from kbatch.manifest.loader import Manifest, Validation, load_manifest, validate
from kbatch.provider.catalogue import JobKind, PackType, ProviderName

__version__ = "0.1.0"

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
