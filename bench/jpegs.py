"""Distinct local JPEGs and a manifest naming each in one job: the input of the benchmarks of
image checks (``decode.py``: decoded in full against headers only; ``inputs_cache.py``: checks
remembered across runs). Not a benchmark itself."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

MANIFEST = """\
version: 1
name: images
provider: simulator
jobs:
  - kind: image2video
    id: clip-${id}
    foreach: rows.csv
    image: ${image}
"""


def make(folder: Path, count: int, side: int) -> Path:
    """``count`` JPEGs of ``side`` px in ``folder/img`` (noise, each rotated: no two alike), a
    CSV naming them, and the manifest over it; its path."""
    base = Image.effect_noise((side, side * 3 // 4), 40).convert("RGB")
    (folder / "img").mkdir(parents=True)
    rows = ["id,image"]
    for number in range(count):
        path = folder / "img" / f"{number:05}.jpg"
        base.rotate(number % 360).save(path, "JPEG", quality=85)
        rows.append(f"{number},img/{number:05}.jpg")
    (folder / "rows.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    manifest = folder / "m.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    return manifest
