"""Shared helpers: paths to the example files and a writer for throwaway manifests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
EXAMPLES = TESTS / "manifests"
IMAGES = EXAMPLES / "images"
REPO = TESTS.parent

HEADER = "version: 1\nname: t\nprovider: simulator\n"


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write files under a temporary folder: ``write("m.yaml", text)`` returns the path."""

    def _write(name: str, text: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def ok_png(tmp_path: Path) -> Path:
    """A 400x300 PNG that Kling accepts, in the temporary folder."""
    target = tmp_path / "ok.png"
    target.write_bytes((IMAGES / "ok.png").read_bytes())
    return target
