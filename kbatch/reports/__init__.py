"""Reports of a state: the report model, the formats (CSV, JSON, JSONL) and the HTML gallery.

Reports read the state store; they never import the engine.
"""

from __future__ import annotations

from kbatch.reports.formats import (
    FILES,
    FORMATS,
    from_manifest,
    read_sources,
    render,
    write_all,
    write_file,
)
from kbatch.reports.model import GALLERY_LIMIT, Report, collect, job_sources, manifest_sources
from kbatch.reports.sources import Input, Sources, job_inputs

__all__ = [
    "FILES",
    "FORMATS",
    "GALLERY_LIMIT",
    "Input",
    "Report",
    "Sources",
    "collect",
    "from_manifest",
    "job_inputs",
    "job_sources",
    "manifest_sources",
    "read_sources",
    "render",
    "write_all",
    "write_file",
]
