"""What a downstream job is sent for ``job:<id>``: the upstream's result URL while Kling keeps
it, else its file from disk (an image as base64); a video Kling no longer keeps fails the
downstream with a reason naming the upstream, and no create is sent. The simulator clears a
result's URL 30 days after the task (``age`` moves that on for tests)."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kbatch.cli.app import cli
from kbatch.engine.readiness import RESULTS_KEPT, URL_MARGIN
from kbatch.simulator import Simulator
from tests.project import Project

DAY = 86400.0
STILL: dict[str, Any] = {"kind": "text2image", "id": "still", "prompt": "a fox"}
CLIP: dict[str, Any] = {"kind": "image2video", "id": "clip", "image": "job:still"}
CLIP |= {"model_name": "kling-v2-6", "prompt": "the fox turns"}


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def age(project: Project, job_id: str, days: float) -> None:
    """As if the job's task had ended ``days`` ago (the state file's clock is the real one)."""
    project.query(f"UPDATE jobs SET finished_at = finished_at - {days * DAY} WHERE id = '{job_id}'")


@pytest.mark.sqlite_only
def test_an_image_past_kling_keeping_it_is_sent_from_disk_and_the_url_is_cleared(
    tmp_path: Path, threaded: Simulator
) -> None:
    assert RESULTS_KEPT - URL_MARGIN < 29 * DAY < RESULTS_KEPT
    project = Project(tmp_path, threaded, [STILL, CLIP])
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    [(url, path)] = project.query("SELECT url, path FROM media WHERE job_id = 'still'")
    tasks = dict(project.query("SELECT id, task_id FROM jobs"))
    assert threaded.store.tasks[tasks["clip"]].request.fields["image"] == url

    age(project, "still", 29)  # within Kling's 30 days, but not with the margin
    code, output = invoke("run", str(project.manifest), "--no-progress", "--redo", "clip")
    assert code == 0, output
    tasks = dict(project.query("SELECT id, task_id FROM jobs"))
    sent = threaded.store.tasks[tasks["clip"]].request.fields["image"]
    assert base64.b64decode(sent) == (project.out / path).read_bytes()  # the same bytes

    urllib.request.urlopen(url).close()  # still served
    threaded.config.age = 31 * DAY
    with pytest.raises(urllib.error.HTTPError) as cleared:
        urllib.request.urlopen(url)
    cleared.value.close()
    assert cleared.value.code == 404


@pytest.mark.sqlite_only
def test_a_video_kling_no_longer_keeps_fails_its_downstream_naming_it(
    tmp_path: Path, threaded: Simulator
) -> None:
    clip = {"kind": "text2video", "id": "clip", "model_name": "kling-v2-6", "prompt": "a dance"}
    cat = {"kind": "motion_control", "id": "cat", "image": "ok.png", "video": "job:clip"}
    cat["character_orientation"] = "image"
    project = Project(tmp_path, threaded, [clip, cat])
    code, output = invoke("run", str(project.manifest), "--no-progress", "--only", "clip")
    assert code == 0, output
    age(project, "clip", 29)
    before = len(threaded.store.tasks)
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 1, output
    [(state, reason, message)] = project.query(
        "SELECT state, error_reason, error_message FROM jobs WHERE id = 'cat'"
    )
    assert (state, reason) == ("failed", "upstream")
    assert "job clip is no longer kept by Kling" in message
    assert "kbatch run --redo clip" in message
    assert len(threaded.store.tasks) == before  # no create for it
