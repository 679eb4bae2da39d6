"""Scale: a 100,000-job run's memory, then the rerun of the finished manifest.

1. ``kbatch run`` (a separate process) on ``--jobs`` jobs (``foreach`` over a CSV, image URLs)
   through a simulator process with zero task time: wall time and the run's peak RSS.
2. ``kbatch run`` again on the finished manifest, pointed at a server that only counts requests:
   start-up to exit time, and requests sent (must be 0).

    python bench/scale.py                      # 100,000 jobs
    python bench/scale.py --jobs 20000

Not a test: it prints figures. (Validation alone at 100k and 1M: bench/validate_large.py.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import MANIFEST, rows, simulator


def child(manifest: str) -> None:
    """In a fresh process: ``kbatch run`` in-process, then its peak RSS on stderr."""
    from kbatch.cli.app import cli

    try:
        cli(["run", manifest, "--no-progress", "--quiet"], prog_name="kbatch")
    except SystemExit as exit_:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"code": exit_.code, "peak_rss_mb": peak}), file=sys.stderr)


def run(folder: Path) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", "m.yaml"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    figures: dict[str, float] = json.loads(done.stderr.strip().splitlines()[-1])
    return seconds, figures


@contextlib.contextmanager
def counting_server() -> Iterator[tuple[str, list[str]]]:
    """A server on loopback that answers 503 to everything and remembers what it was asked."""
    seen: list[str] = []
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    where: list[str] = []

    async def count(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path}")
        return web.Response(status=503)

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", count)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        where.append(f"http://127.0.0.1:{port}")
        return runner

    def serve() -> None:
        asyncio.set_event_loop(loop)
        runner = loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait()
    try:
        yield where[0], seen
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with (folder / "rows.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "image", "prompt"])
            writer.writerows(rows(args.jobs))
        with simulator() as url:
            (folder / "m.yaml").write_text(MANIFEST.format(url=url, in_flight=args.in_flight))
            seconds, figures = run(folder)
        print(
            f"run of {args.jobs} jobs: {seconds:.1f} s, exit {figures['code']}, "
            f"{args.jobs / seconds:.0f} jobs/s, peak RSS {figures['peak_rss_mb']:.0f} MB"
        )
        with counting_server() as (url, seen):
            (folder / "m.yaml").write_text(  # the same jobs, another provider address
                MANIFEST.format(url=url, in_flight=args.in_flight)
            )
            seconds, figures = run(folder)
        print(
            f"rerun of the finished manifest: {seconds:.2f} s, exit {figures['code']}, "
            f"{len(seen)} requests, peak RSS {figures['peak_rss_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
