"""Reports of a state: the report model, the formats (CSV, JSON, JSONL) and the HTML gallery.

Reports read the state store; they never import the engine.
"""

from __future__ import annotations

from kbatch.reports.formats import FILES, FORMATS, from_manifest, render, write_all, write_file
from kbatch.reports.model import GALLERY_LIMIT, Input, Report, collect, job_inputs

__all__ = [
    "FILES",
    "FORMATS",
    "GALLERY_LIMIT",
    "Input",
    "Report",
    "collect",
    "from_manifest",
    "job_inputs",
    "render",
    "write_all",
    "write_file",
]
