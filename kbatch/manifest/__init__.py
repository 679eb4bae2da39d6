"""Manifests: YAML with line numbers, the schema, foreach sources, ``${}`` templates, expansion
into jobs, and every check that can be made before money is spent.

The loader's names are imported on first use (PEP 562), so that a module that needs only
:mod:`kbatch.manifest.issues` (a job's origin) does not load the whole package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kbatch.manifest.loader import (
        Limits,
        Manifest,
        Output,
        Validation,
        load_manifest,
        parse_duration,
        read_settings,
        validate,
    )

__all__ = [
    "Limits",
    "Manifest",
    "Output",
    "Validation",
    "load_manifest",
    "parse_duration",
    "read_settings",
    "validate",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("kbatch.manifest.loader"), name)
    raise AttributeError(f"module 'kbatch.manifest' has no attribute {name!r}")
