"""The wheel carries what an installed kbatch needs: the schema, py.typed, the console script."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import kbatch
from kbatch.provider.catalogue import JobKind
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
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "kbatch/py.typed" in names
    assert {"kbatch/simulator/server.py", "kbatch/simulator/fallback.mp4"} <= names
    assert shipped == (REPO / "schemas" / "manifest.schema.json").read_bytes()
    assert "kbatch = kbatch.cli:main" in scripts
    # one version (kbatch/version.py), and a summary naming every kind the package runs
    assert f"\nVersion: {kbatch.__version__}\n" in metadata
    (summary,) = re.findall(r"^Summary: (.*)$", metadata, re.MULTILINE)
    assert summary.startswith("Declarative batch runner for every Kling generation kind")
    words = {
        "text2image": "text",
        "multi_image2image": "multi-image",
        "image_expand": "expansion",
        "omni_image": "omni",
        "text2video": "text",
        "image2video": "image",
        "omni_video": "omni",
        "motion_control": "motion control",
        "video_effects": "effects",
        "element": "elements",
        "voice": "voices",
        "tts": "speech",
        "text2audio": "sound effects",
        "video2audio": "video sound",
        "avatar": "avatars",
        "lip_sync": "lip-sync",
        "subject_completion": "subject views",
    }
    assert set(words) == {kind.value for kind in JobKind}
    assert all(word in summary for word in words.values())
    assert not any(name.startswith(("tests/", "manifests/", "bench/")) for name in names)


def test_the_docs_python_examples_run(tmp_path: Path) -> None:
    """Every ```python block of the README and the docs runs as written, from the repository
    root."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    text = "\n".join(page.read_text(encoding="utf-8") for page in pages)
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) >= 2
    for number, block in enumerate(blocks):
        script = tmp_path / f"example{number}.py"
        script.write_text(block, encoding="utf-8")
        offline = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        done = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
            env=offline,
        )
        assert done.returncode == 0, f"docs example {number} failed:\n{done.stderr}"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_shell_completion_the_readme_shows_is_produced(shell: str) -> None:
    kbatch = Path(sys.executable).with_name("kbatch")
    done = subprocess.run(
        [str(kbatch)],
        env={**os.environ, "_KBATCH_COMPLETE": f"{shell}_source"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "_KBATCH_COMPLETE" in done.stdout
    shown = (REPO / "docs" / "commands.md").read_text()
    assert f"_KBATCH_COMPLETE={shell}_source kbatch" in shown
