"""The ``kbatch`` command: click commands over the library API, and how a run is shown."""

from __future__ import annotations

from kbatch.cli import exporting, inspect, running, simulate
from kbatch.cli.app import cli, main

__all__ = ["cli", "exporting", "inspect", "main", "running", "simulate"]
