"""The wheel carries what an installed kbatch needs: the schema, py.typed, the console script."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_the_wheel_contains_the_schema_and_py_typed(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("kbatch-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        shipped = archive.read("kbatch/schemas/manifest.schema.json")
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    assert "kbatch/py.typed" in names
    assert shipped == (REPO / "schemas" / "manifest.schema.json").read_bytes()
    assert "kbatch = kbatch.cli:main" in scripts
    assert not any(name.startswith(("tests/", "manifests/", "bench/")) for name in names)
