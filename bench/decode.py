"""Validation with every local image decoded in full, against headers only, on many images.

A truncated PNG has a good header: only a full decode finds it, so ``kbatch validate`` decodes
every distinct local image, in a pool of threads while the jobs expand. This measures what that
costs: a manifest of ``--images`` distinct JPEGs (one job each), validated with full decoding
and, as the baseline in the same run, with headers only.

    python bench/decode.py                      # 2,000 images of 1024x768
    python bench/decode.py --images 10000 --side 640

Not a test: it prints images per second for both and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from jpegs import make

# Every round decodes afresh: remembered checks (kbatch.checked) would make later rounds free.
os.environ["KBATCH_NO_CACHE"] = "1"

from kbatch.manifest import loader
from kbatch.manifest.loader import validate


def timed(manifest: Path, *, decode: bool) -> float:
    original = loader._context

    def context(*args: object, **options: object) -> object:
        options["decode"] = decode
        return original(*args, **options)  # type: ignore[arg-type]

    loader._context = context  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        validation = validate(manifest, keep=0)
        elapsed = time.perf_counter() - started
    finally:
        loader._context = original
    assert validation.ok, validation.issues[:3]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--side", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = make(Path(tmp), args.images, args.side)
        size = sum(p.stat().st_size for p in Path(tmp, "img").iterdir()) / 1e6
        headers, full = [], []
        for _ in range(args.repeat):
            headers.append(timed(manifest, decode=False))
            full.append(timed(manifest, decode=True))
    h, f = statistics.median(headers), statistics.median(full)
    print(f"images: {args.images} JPEGs of {args.side}px, {size:.0f} MB, rounds: {args.repeat}")
    print(f"headers only (baseline): {h:.2f} s, {args.images / h:.0f} images/s")
    print(f"decoded in full:         {f:.2f} s, {args.images / f:.0f} images/s")
    print(f"ratio full/headers:      {f / h:.2f}")


if __name__ == "__main__":
    main()
