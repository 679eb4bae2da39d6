"""Validation of many local images, cold (nothing remembered) against warm (checks remembered).

``kbatch validate`` (and so ``run``, ``report``, ``export``) reads, hashes and decodes in full
every distinct local image. :mod:`kbatch.checked` remembers what each check found, keyed by the
file's path, inode, size, mtime and ctime, so a rerun over unchanged files reads none of them.
This validates a manifest of ``--images`` distinct JPEGs (one job each) three ways, each in the
same run: with the cache turned off (the baseline: what every validation cost before), cold (an
empty cache, filled as it goes) and warm (the same cache again).

    python bench/inputs_cache.py                  # 3,000 images of 640x480, two rounds
    python bench/inputs_cache.py --images 10000 --side 1024

Not a test: it prints the seconds and images per second of each, and the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import jpegs

from kbatch.checked import SETTLE
from kbatch.manifest.loader import validate


def make(folder: Path, count: int, side: int) -> Path:
    """The images and their manifest (:func:`jpegs.make`), once they may be remembered."""
    manifest = jpegs.make(folder, count, side)
    # A file changed in the last SETTLE seconds is not remembered (see kbatch.checked).
    time.sleep(SETTLE + 0.1)
    return manifest


def timed(manifest: Path, cache: Path | None) -> float:
    """Seconds to validate; ``cache`` None: with the cache turned off."""
    os.environ["KBATCH_NO_CACHE"] = "1" if cache is None else ""
    os.environ["KBATCH_CACHE_DIR"] = str(cache)
    started = time.perf_counter()
    validation = validate(manifest, keep=0)
    elapsed = time.perf_counter() - started
    assert validation.ok, validation.issues[:3]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--side", type=int, default=640)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        manifest = make(folder, args.images, args.side)
        size = sum(p.stat().st_size for p in (folder / "img").iterdir()) / 1e6
        timed(make(folder / "warm-up", 1, 400), None)  # imports, schema, pools
        off: list[float] = []
        cold: list[float] = []
        warm: list[float] = []
        for round_ in range(args.repeat):  # the order alternates: neither goes first always
            cache = folder / f"cache-{round_}"
            if round_ % 2:
                cold.append(timed(manifest, cache))
                off.append(timed(manifest, None))
            else:
                off.append(timed(manifest, None))
                cold.append(timed(manifest, cache))
            warm.append(timed(manifest, cache))
        cache_size = (folder / "cache-0" / "checked.sqlite3").stat().st_size / 1e6
    o, c, w = (statistics.median(times) for times in (off, cold, warm))
    n = args.images
    print(f"images: {n} JPEGs of {args.side}px, {size:.0f} MB, rounds: {args.repeat}")
    print(f"cache off (baseline): {o:.2f} s, {n / o:.0f} images/s")
    print(f"cold cache:           {c:.2f} s, {n / c:.0f} images/s ({c / o:.2f}x the baseline)")
    print(f"warm cache:           {w:.2f} s, {n / w:.0f} images/s")
    print(f"ratio cold/warm:      {c / w:.1f}   (cache file: {cache_size:.1f} MB)")


if __name__ == "__main__":
    main()
