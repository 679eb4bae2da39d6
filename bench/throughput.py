"""Throughput: kbatch against a raw aiohttp baseline, through the same simulator.

The simulator runs as its own process (``kbatch simulator --task-seconds 0 --no-videos``), so it
has a core to itself. For each of ``--repeat`` rounds, a fresh simulator serves first the
baseline, then ``kbatch run`` as a separate process; the figures are the medians.

- baseline: one aiohttp session, ``--in-flight`` jobs at a time, each job a create, status gets
  until ``succeed`` and the download, its file written to disk; no state, no checks, no log.
- kbatch: ``kbatch run`` on a manifest of the same jobs (``foreach`` over a CSV, an image URL and
  a prompt each), ``max_in_flight`` the same, polling from 10 ms, the log to /dev/null. Its time
  is the whole process: start-up, validation, state, downloads, reports.

    python bench/throughput.py                          # 20,000 jobs, 64 in flight, 3 rounds
    python bench/throughput.py --jobs 5000 --repeat 5

Not a test: it prints jobs per second for both and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

MANIFEST = """\
version: 1
name: throughput
provider: {{name: simulator, base_url: "{url}"}}
limits:
  max_in_flight: {in_flight}
  submit_per_minute: 100000
  poll_interval: 10ms
  poll_max: 50ms
  max_attempts: 1
jobs:
  - kind: image2video
    id: clip-${{id}}
    foreach: rows.csv
    image: ${{image}}
    prompt: ${{prompt}}
"""


def rows(count: int) -> Iterator[tuple[str, str, str]]:
    for i in range(count):
        yield f"{i:07d}", f"https://cdn.example.com/img/{i:07d}.png", f"scene {i}"


@contextlib.contextmanager
def simulator() -> Iterator[str]:
    """A simulator process on a free loopback port; its URL."""
    command = [
        sys.executable,
        "-m",
        "kbatch",
        "simulator",
        "--port",
        "0",
        "--task-seconds",
        "0",
        "--parallel-limit",
        "1000000",
        "--no-videos",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        if not match:
            raise RuntimeError(f"the simulator did not start: {line!r}")
        yield match.group(0)
    finally:
        process.terminate()
        process.wait()


async def baseline(url: str, count: int, in_flight: int, out: Path) -> None:
    headers = {"Authorization": "Bearer bench"}
    route = f"{url}/v1/videos/image2video"
    limit = asyncio.Semaphore(in_flight)
    connector = aiohttp.TCPConnector(limit=in_flight * 2)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:

        async def job(i: str, image: str, prompt: str) -> None:
            async with limit:
                body = {"image": image, "prompt": prompt, "external_task_id": f"base-{i}"}
                async with session.post(route, json=body) as response:
                    data: Any = (await response.json())["data"]
                while data["task_status"] != "succeed":
                    async with session.get(f"{route}/{data['task_id']}") as response:
                        data = (await response.json())["data"]
                media = data["task_result"]["videos"][0]["url"]
                async with session.get(media) as response:
                    content = await response.read()
                (out / f"{i}.mp4").write_bytes(content)

        await asyncio.gather(*(job(*row) for row in rows(count)))


def run_baseline(url: str, count: int, in_flight: int, folder: Path) -> float:
    folder.mkdir()
    started = time.perf_counter()
    asyncio.run(baseline(url, count, in_flight, folder))
    return time.perf_counter() - started


def run_kbatch(url: str, count: int, in_flight: int, folder: Path) -> float:
    folder.mkdir()
    with (folder / "rows.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "image", "prompt"])
        writer.writerows(rows(count))
    (folder / "m.yaml").write_text(MANIFEST.format(url=url, in_flight=in_flight))
    command = [sys.executable, "-m", "kbatch", "run", "m.yaml", "--no-progress"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=folder, stdout=subprocess.DEVNULL, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"kbatch run exited {done.returncode}")
    files = sum(1 for _ in (folder / "out" / "throughput").glob("*/0.mp4"))
    assert files == count, f"{files} of {count} results on disk"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base: list[float] = []
    ours: list[float] = []
    # Every run's files are kept until the end: deleting tens of thousands of files between
    # runs made the next run's file creations slow (ext4 without a journal skips recently
    # freed inodes, one by one), and whichever run came next paid for it.
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(1, args.repeat + 1):
            with simulator() as url:
                seconds = run_baseline(url, args.jobs, args.in_flight, Path(tmp, f"b{round_}"))
                base.append(args.jobs / seconds)
            with simulator() as url:
                seconds = run_kbatch(url, args.jobs, args.in_flight, Path(tmp, f"k{round_}"))
                ours.append(args.jobs / seconds)
            print(f"round {round_}: baseline {base[-1]:.0f} jobs/s, kbatch {ours[-1]:.0f} jobs/s")
    b, k = statistics.median(base), statistics.median(ours)
    print(f"jobs: {args.jobs}, in flight: {args.in_flight}, rounds: {args.repeat}")
    print(f"baseline (raw aiohttp): {b:.0f} jobs/s (median)")
    print(f"kbatch run:             {k:.0f} jobs/s (median)")
    print(f"ratio kbatch/baseline:  {k / b:.2f}")


if __name__ == "__main__":
    main()
