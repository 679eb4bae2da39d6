"""The ``kbatch`` command: click commands over the library API, and how a run is shown."""

from __future__ import annotations

from kbatch.cli import account, exporting, inspect, manual, presets, running, simulate
from kbatch.cli.app import cli, main

__all__ = [
    "account",
    "cli",
    "exporting",
    "inspect",
    "main",
    "manual",
    "presets",
    "running",
    "simulate",
]
