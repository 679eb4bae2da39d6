"""What the commands say of a pipeline part-way (issue 30's gaps): ``status`` counts the pending
jobs waiting for an upstream beside the blocked ones, ``plan --format json`` carries the
stages, ``run --dry-run`` tells blocked jobs apart from those it would submit, and
``--retry-failed --only`` brings back the blocked jobs of the failed ones it retries."""

from __future__ import annotations

import json
from pathlib import Path

from kbatch.simulator import Simulator
from kbatch.simulator.tasks import FLAKY
from tests.cli.test_pipelines import ROWS, pipeline
from tests.project import Project, invoke

BLOCKED = {"clip-2", "wide-2", "duo"}  # take from still-2, directly (duo: fan-in)


def failed_row(tmp_path: Path, sim: Simulator) -> Project:
    """A pipeline run whose row 2 image failed for good: its three dependents blocked."""
    project = pipeline(tmp_path, sim, ROWS.replace("a lighthouse", f"a lighthouse {FLAKY}"))
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 1, output
    states = dict(project.query("SELECT id, state FROM jobs"))
    assert {i for i, state in states.items() if state == "blocked"} == BLOCKED
    return project


def test_status_counts_the_jobs_waiting_for_an_upstream(
    tmp_path: Path, threaded: Simulator
) -> None:
    project = pipeline(tmp_path, threaded)
    code, output = invoke("run", str(project.manifest), "--no-progress", "--only", "still-1")
    states = dict(project.query("SELECT id, state FROM jobs"))
    assert states["still-1"] == "downloaded" and states["still-2"] == "pending", output
    # pending: still-2 (nothing above it), clip-1 and wide-1 (ready), and three waiting for it
    code, output = invoke("status", str(project.manifest))
    assert code == 0, output
    assert "6 pending (3 waiting for an upstream)" in output, output
    code, output = invoke("status", str(project.manifest), "--format", "json")
    doc = json.loads(output)
    assert doc["waiting"] == 3 and doc["counts"]["pending"] == 6, doc


def test_status_of_a_failed_row_counts_blocked_not_waiting(
    tmp_path: Path, threaded: Simulator
) -> None:
    project = failed_row(tmp_path, threaded)
    code, output = invoke("status", str(project.manifest), "--format", "json")
    assert code == 0, output
    doc = json.loads(output)
    assert doc["counts"]["blocked"] == 3 and doc["waiting"] == 0, doc


def test_plan_json_carries_the_stages(tmp_path: Path, threaded: Simulator) -> None:
    project = pipeline(tmp_path, threaded)
    code, output = invoke("plan", str(project.manifest), "--format", "json")
    assert code == 0, output
    stages = json.loads(output)["stages"]
    assert stages == [
        {"depth": 0, "jobs": 2, "slot_tasks": {"image": 2}, "estimated_units": {"image": 16.0}},
        {
            "depth": 1,
            "jobs": 5,
            "slot_tasks": {"image": 3, "video": 2},
            "estimated_units": {"image": 32.0, "video": 3.0},
        },
    ]


def test_dry_run_tells_blocked_jobs_apart_from_those_it_would_submit(
    tmp_path: Path, threaded: Simulator
) -> None:
    project = failed_row(tmp_path, threaded)
    code, output = invoke("run", str(project.manifest), "--dry-run")
    assert code == 0, output
    assert "would submit:        0" in output, output
    assert "blocked:             3" in output, output
    # Retrying the failed image: it and its three dependents would be sent.
    code, output = invoke(
        "run", str(project.manifest), "--dry-run", "--retry-failed", "--only", "still-2"
    )
    assert "would submit:        4" in output and "  blocked:" not in output, output


def test_retry_failed_only_brings_back_the_blocked_dependents(
    tmp_path: Path, threaded: Simulator
) -> None:
    project = failed_row(tmp_path, threaded)
    code, output = invoke(
        "run", str(project.manifest), "--no-progress", "--retry-failed", "--only", "still-2"
    )
    assert code == 0, output
    assert set(dict(project.query("SELECT id, state FROM jobs")).values()) == {"downloaded"}
    assert project.check_files() == 7
