"""Kling's new API through ``kbatch run``, against the simulator: jobs on Kling 3.0 Turbo (text,
a first frame, shots in the prompt) and on Kling 3.0 with ``provider.api: new`` are created by
path, followed only by batch status queries, downloaded, and charged as the provider reports; a
rerun sends nothing; ``provider.api: legacy`` keeps Kling 3.0 on /v1 and refuses 3.0 Turbo before
anything is sent."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from kbatch.cli.app import cli
from kbatch.errors import ExitCode
from kbatch.simulator import Simulator
from tests.project import Project

TURBO = "kling-3.0-turbo"
JOBS: list[dict[str, Any]] = [
    {"id": "text", "kind": "text2video", "model_name": TURBO, "prompt": "a cat on a sofa"},
    {"id": "frame", "kind": "image2video", "model_name": TURBO, "image": "ok.png", "prompt": "go"},
    {
        "id": "shots",
        "kind": "text2video",
        "model_name": TURBO,
        "duration": 7,
        "prompt": "shot 1, 2, a cat wakes; shot 2, 3, it yawns; shot 3, 2, it leaves;",
    },
    {"id": "three", "kind": "text2video", "model_name": "kling-3.0", "prompt": "waves at dawn"},
    {"id": "uhd", "kind": "image2video", "model_name": "kling-v3", "mode": "4k", "image": "ok.png"},
]


def run(project: Project) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", str(project.manifest), "--no-progress"])
    return result.exit_code, result.output


def test_a_manifest_on_the_new_api_runs_end_to_end_and_a_rerun_sends_nothing(
    tmp_path: Path, threaded: Simulator
) -> None:
    project = Project(tmp_path, threaded, list(JOBS), provider={"api": "new"})
    code, output = run(project)
    assert code == ExitCode.OK, output
    routes = dict(threaded.requests)
    creates = {route for route in routes if route.startswith("POST /")}
    assert creates == {
        f"POST /text-to-video/{TURBO}",
        f"POST /image-to-video/{TURBO}",
        "POST /text-to-video/kling-3.0",
        "POST /image-to-video/kling-3.0",
    }
    asked = {route for route in routes if route.startswith("GET /") and "/media/" not in route}
    assert asked == {"GET /tasks"}  # status by batch queries only, never one task's route
    assert project.check_files() == len(JOBS)

    with (project.out / "report.csv").open(newline="", encoding="utf-8") as report:
        rows = {row["id"]: row for row in csv.DictReader(report)}
    # Turbo: 0.8 units/s at 720p; Kling 3.0 silent: 0.6 units/s, 4K: 3 (the simulator's bills).
    expected = {"text": 4.0, "frame": 4.0, "shots": 5.6, "three": 3.0, "uhd": 15.0}
    assert {job: float(row["charged_units"]) for job, row in rows.items()} == expected
    assert {row["charged"] for row in rows.values()} == {"reported"}

    again, output = run(project)
    assert again == ExitCode.OK, output
    assert dict(threaded.requests) == routes  # nothing sent


def test_api_legacy_refuses_turbo_before_sending_and_keeps_kling_3_on_v1(
    tmp_path: Path, threaded: Simulator
) -> None:
    project = Project(tmp_path, threaded, list(JOBS), provider={"api": "legacy"})
    code, output = run(project)
    assert code == ExitCode.INVALID
    assert output.count("is served only by Kling's new API") == 3  # the Turbo jobs alone
    assert f"$.jobs[0].model_name: {TURBO}" in output
    assert not threaded.requests

    project.jobs = JOBS[-2:]  # Kling 3.0, and its 4K: both on /v1 too
    project.save()
    code, output = run(project)
    assert code == ExitCode.OK, output
    assert "POST /v1/videos/text2video" in threaded.requests
    assert "POST /v1/videos/image2video" in threaded.requests
    assert not any(route.startswith("POST /text-to-video") for route in threaded.requests)
    assert project.check_files() == 2
