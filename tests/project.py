"""A throwaway project for run tests: a manifest pointed at a simulator on loopback, its
pictures, and helpers to run it and look at what it left (state rows, files, events)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from kbatch.cli.app import cli
from kbatch.engine.clock import Clock
from kbatch.engine.events import Event
from kbatch.engine.options import RunOptions
from kbatch.engine.pacing import Pacing
from kbatch.provider import made
from kbatch.run import RunResult, execute, prepare
from kbatch.simulator import Simulator
from kbatch.store import JobRow, locate
from tests import shared

IMAGES = Path(__file__).parent / "manifests" / "images"

#: Backoffs short enough for tests, a low bound so that an outage stops the run quickly.
FAST = Pacing(backoff_base=0.01, backoff_cap=0.05, parallel_wait=0.01, transient_limit=3)

LIMITS = {
    "max_in_flight": 4,
    "submit_per_minute": 60000,
    "poll_interval": "10ms",
    "poll_max": "40ms",
    "task_timeout": "60s",
    "max_attempts": 2,
}


def on(api: str) -> dict[str, Any]:
    """The fields that send a video job to ``api``: on ``new``, Kling 3.0 Turbo, whose model lives
    on the path-addressed API only; on ``legacy``, nothing (the /v1 routes, as ever)."""
    return {"model_name": "kling-3.0-turbo"} if api == "new" else {}


def video(job_id: str, prompt: str = "a cat yawns", **fields: Any) -> dict[str, Any]:
    return {"id": job_id, "kind": "image2video", "image": "ok.png", "prompt": prompt, **fields}


def expand(job_id: str, n: int = 1) -> dict[str, Any]:
    sides = {f"{side}_expansion_ratio": 0.2 for side in ("up", "down", "left", "right")}
    return {"id": job_id, "kind": "image_expand", "image": "ok.png", "n": n, **sides}


def sound(job_id: str, prompt: str = "rain on a tin roof") -> dict[str, Any]:
    """A text2audio job (slice audio): a task with an external id; an mp3 and a wav."""
    return {"id": job_id, "kind": "text2audio", "prompt": prompt, "duration": 3}


def multi(job_id: str) -> dict[str, Any]:
    return {
        "id": job_id,
        "kind": "multi_image2image",
        "subject_image_list": ["ok.png", "ok.jpg"],
        "aspect_ratio": "1:1",
    }


@dataclass
class Project:
    root: Path
    sim: Simulator
    jobs: list[dict[str, Any]]
    limits: dict[str, Any] = field(default_factory=lambda: dict(LIMITS))
    events: list[Event] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # more top-level keys (pricing:, ...)
    provider: dict[str, Any] = field(default_factory=dict)  # more provider keys (dialect, ...)
    #: A shared state's URL (the ``backend`` fixture sets KBATCH_STATE), else the state file.
    state: str | None = field(default_factory=lambda: os.environ.get("KBATCH_STATE"))
    name: str = "t"

    def __post_init__(self) -> None:
        for name in ("ok.png", "ok.jpg"):
            (self.root / name).write_bytes((IMAGES / name).read_bytes())
        self.save()

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.yaml"

    @property
    def out(self) -> Path:
        return self.root / "out" / self.name

    @property
    def state_file(self) -> Path:
        return self.out / "state.sqlite3"

    def save(self) -> None:
        import yaml

        data = {
            "version": 1,
            "name": self.name,
            "provider": {"name": "simulator", "base_url": self.sim.url, **self.provider},
            "limits": self.limits,
            **self.extra,
            "jobs": self.jobs,
        }
        self.manifest.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    async def run(self, *, clock: Clock | None = None, **options: Any) -> RunResult:
        options.setdefault("pacing", FAST)
        options.setdefault("state_path", self.state)
        with prepare(self.manifest, RunOptions(**options)) as plan:
            return await execute(plan, on_event=self.events.append, clock=clock)

    def rows(self) -> dict[str, JobRow]:
        with locate(self.out, self.state).read(manifest_name=self.name) as state:
            return state.load()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """SQL over the state's tables (the same names and columns in both backends)."""
        if self.state is not None:
            return shared.query(self.state, sql)
        with sqlite3.connect(self.state_file) as db:
            return db.execute(sql).fetchall()

    def named(self, name: str) -> list[Event]:
        return [event for event in self.events if event.name == name]

    def check_files(self) -> int:
        """Every recorded result file exists with the bytes the simulator served; their count."""
        count = 0
        with locate(self.out, self.state).read(manifest_name=self.name) as state:
            rows, media = state.load(), state.all_media()
        for job_id, items in media.items():
            for item in items:
                assert item.path is not None and item.size is not None, (job_id, item)
                data = (self.out / item.path).read_bytes()
                assert len(data) == item.size, (job_id, item.path)
                assert hashlib.sha256(data).hexdigest() == item.sha256, (job_id, item.path)
                task_id = rows[job_id].task_id
                assert task_id is not None
                assert data == self.served(task_id, item.path, item.url), (job_id, item.path)
                count += 1
        return count

    def served(self, task_id: str, path: str, url: str) -> bytes:
        """What the simulator served for a result file (a record: what its result holds)."""
        record = made.record_bytes(url)  # slice records: an element's or a voice's JSON
        if record is not None:
            return record
        block = self.sim.blocks.made.tasks.get(task_id)  # a building block's file
        if block is not None:
            return self.sim.blocks._render(block, url.rsplit("/", 1)[-1])[0]
        return self.sim._render(task_id, Path(path).name)[0]


async def spawn(project: Project, *args: str, log: str = "child.log") -> asyncio.subprocess.Process:
    """A real ``kbatch run`` child on the project, logging JSON lines to ``log``."""
    with (project.root / log).open("ab") as log_file:  # the child keeps its own copy
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kbatch",
            "run",
            str(project.manifest),
            "--log-format",
            "json",
            *args,
            stdout=log_file,
            stderr=log_file,
            cwd=project.root,
        )


def invoke(*args: str) -> tuple[int, str]:
    """``kbatch ARGS...`` through click's runner, in this process: its exit code and output."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip()
