"""Local inputs: 500 jobs sharing one 5 MB image, against the same jobs with an image URL.

A local image goes out as raw base64 in every create. kbatch reads and encodes each distinct
file once per run (:class:`kbatch.images.Encoder`) and sends each body from those shared bytes,
part by part with its length, so neither CPU per create nor memory grows with the creates in
flight. This runs ``kbatch run`` as a child process twice against one simulator process: once with
the shared local image, once with a URL (the baseline, same jobs otherwise), and prints the extra
CPU per create and both peak RSS.

    python bench/inputs.py                  # 500 jobs, 20 in flight
    python bench/inputs.py --jobs 200 --in-flight 50

Not a test: it prints the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

MANIFEST = """\
version: 1
name: inputs
provider: {{name: simulator, base_url: "{url}"}}
limits: {{max_in_flight: {in_flight}, submit_per_minute: 100000, poll_interval: 20ms,
          poll_max: 100ms, max_attempts: 1}}
jobs:
  - kind: image2video
    id: clip-${{n}}
    foreach: rows.csv
    image: {image}
    prompt: clip ${{n}}
"""


def run(folder: Path, url: str, image: str, jobs: int, in_flight: int) -> tuple[float, int]:
    """(CPU seconds, peak RSS in MB) of one ``kbatch run``."""
    folder.mkdir()
    (folder / "rows.csv").write_text("n\n" + "".join(f"{n}\n" for n in range(jobs)))
    text = MANIFEST.format(url=url, in_flight=in_flight, image=image)
    (folder / "m.yaml").write_text(text, encoding="utf-8")
    command = [sys.executable, "-m", "kbatch", "run", "m.yaml", "--no-progress"]
    child = subprocess.Popen(command, cwd=folder, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"kbatch run exited {child.returncode}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--in-flight", type=int, default=20)
    parser.add_argument("--port", type=int, default=8791)
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    simulator = subprocess.Popen(
        [sys.executable, "-m", "kbatch", "simulator", "--port", str(args.port),
         "--task-seconds", "0", "--no-videos", "--parallel-limit", "1000"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(2)
        with tempfile.TemporaryDirectory() as tmp:
            picture = Path(tmp, "shared.png")
            Image.effect_noise((1400, 1200), 90).convert("RGB").save(picture)
            size = picture.stat().st_size / 1e6
            base_cpu, base_rss = run(Path(tmp, "url"), url, "https://example.com/a.png",
                                     args.jobs, args.in_flight)  # fmt: skip
            cpu, rss = run(Path(tmp, "local"), url, str(picture), args.jobs, args.in_flight)
    finally:
        simulator.terminate()
        simulator.wait()
    extra = (cpu - base_cpu) / args.jobs * 1000
    print(f"jobs: {args.jobs}, in flight: {args.in_flight}, shared image: {size:.1f} MB")
    print(f"image URL (baseline): {base_cpu:.2f} s CPU, peak RSS {base_rss} MB")
    print(f"shared local image:   {cpu:.2f} s CPU, peak RSS {rss} MB")
    print(f"extra CPU per create: {extra:.1f} ms (target <= 5)")


if __name__ == "__main__":
    main()
