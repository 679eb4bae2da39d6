"""Benchmark: validate a manifest whose job runs ``foreach`` over a large CSV.

Prints, per size: rows, jobs, seconds, jobs per second and peak RSS of a fresh process that only
validates (so figures do not mix), plus the RSS of a process that only imports kbatch, to show
how memory grows with the number of jobs. Not a test: it prints figures.

    python bench/validate_large.py                       # 10,000 and 100,000 rows
    python bench/validate_large.py --rows 1000000        # one size
    python bench/validate_large.py --images shared       # every row names the same local PNG
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PNG = REPO / "tests" / "manifests" / "images" / "ok.png"

MANIFEST = """\
version: 1
name: bench
provider: simulator
limits: {max_in_flight: 10}
defaults:
  image2video: {model_name: kling-v1-6, duration: 5}
jobs:
  - kind: image2video
    id: clip-${id}
    foreach: rows.csv
    image: ${image}
    prompt: ${prompt}
    mode: ${mode}
"""


def make_project(folder: Path, rows: int, images: str) -> Path:
    shutil.copy(PNG, folder / "ok.png")
    with (folder / "rows.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "image", "prompt", "mode"])
        for i in range(rows):
            image = "ok.png" if images == "shared" else f"https://cdn.example.com/img/{i:07d}.jpg"
            prompt = f"Shot {i}: the camera drifts slowly over scene number {i % 977}"
            writer.writerow([f"{i:07d}", image, prompt, "pro" if i % 3 else "std"])
    (folder / "m.yaml").write_text(MANIFEST)
    return folder / "m.yaml"


def child(path: str) -> None:
    """Runs in a fresh process: validate, print a JSON line of figures."""
    started = time.perf_counter()
    from kbatch import validate

    imported = time.perf_counter()
    result = validate(path, keep=0)
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "jobs": result.summary.total,
                "issues": len(result.issues),
                "import_s": imported - started,
                "validate_s": done - imported,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def measure(path: Path | None) -> dict[str, float]:
    code = "import kbatch, resource, json; " + (
        "print(json.dumps({'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss"
        " / 1024}))"
    )
    command = (
        [sys.executable, "-c", code]
        if path is None
        else [sys.executable, __file__, "--child", str(path)]
    )
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="rows in the CSV (repeatable)")
    parser.add_argument("--images", choices=["url", "shared"], default="url")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    sizes = args.rows or [10_000, 100_000]
    base = measure(None)["peak_rss_mb"]
    print(
        f"python {sys.version.split()[0]}; images: {args.images}; "
        f"RSS after importing kbatch: {base:.0f} MB"
    )
    print(f"{'rows':>10} {'jobs':>10} {'seconds':>9} {'jobs/s':>9} {'peak MB':>9} {'KB/job':>8}")
    for rows in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = make_project(Path(tmp), rows, args.images)
            figures = measure(path)
        assert figures["issues"] == 0 and figures["jobs"] == rows, figures
        seconds = figures["validate_s"]
        peak = figures["peak_rss_mb"]
        per_job = (peak - base) * 1024 / rows
        print(
            f"{rows:>10} {int(figures['jobs']):>10} {seconds:>9.2f} {rows / seconds:>9.0f} "
            f"{peak:>9.0f} {per_job:>8.2f}"
        )


if __name__ == "__main__":
    main()
