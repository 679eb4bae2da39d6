"""The code passes ruff (lint and format) and mypy --strict, as part of the test suite.

mypy takes tens of seconds on a clean clone: a session that will run its test starts it as soon
as collection ends (:func:`start`, from tests/conftest.py), so it checks while the other tests
run, mostly waiting on sockets and child processes; its test then only collects the result."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from typing import IO

import pytest

from tests.conftest import REPO

COMMANDS = {
    "ruff-check": ["ruff", "check", "."],
    "ruff-format": ["ruff", "format", "--check", "."],
    "mypy": ["mypy"],
}
#: The tool started early, and where its output goes.
_STARTED: dict[str, tuple[subprocess.Popen[bytes], IO[bytes]]] = {}


def start(name: str) -> None:
    """Start a tool in the background (once)."""
    if name in _STARTED:
        return
    output = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop(), at the session end)
    command = [sys.executable, "-m", *COMMANDS[name]]  # a file, not a pipe: never blocks
    process = subprocess.Popen(command, cwd=REPO, stdout=output, stderr=subprocess.STDOUT)
    _STARTED[name] = process, output


def stop() -> None:
    """End the tools a session started and did not wait for (it was interrupted)."""
    for process, output in _STARTED.values():
        if process.poll() is None:
            process.kill()
            process.wait()
        output.close()
    _STARTED.clear()


@pytest.mark.parametrize("name", list(COMMANDS))
def test_tool_is_clean(name: str) -> None:
    start(name)
    process, output = _STARTED[name]
    process.wait()
    output.seek(0)
    assert process.returncode == 0, output.read().decode(errors="replace")
