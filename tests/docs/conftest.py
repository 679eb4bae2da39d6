"""The docs site, built once per session, strict, as ``kbatch docs --build-only`` builds it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kbatch.cli.manual import CONFIG, build_site


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    folder = tmp_path_factory.mktemp("site")
    build_site(CONFIG, folder)  # raises on any warning: a broken link, a missing page
    return folder
