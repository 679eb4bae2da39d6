"""Today's Kling surface end to end against the simulator: kling-v3's lengths and shots, sound,
voices, watermarked copies, and a result the provider reports with no usable URL."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from kbatch.errors import ExitCode
from kbatch.simulator import EMPTY_URL, Simulator
from kbatch.store import JobState
from tests.project import Project, expand, video

SHOTS = [
    {"index": 1, "prompt": "the cat wakes", "duration": 3},
    {"index": 2, "prompt": "the cat yawns", "duration": 4},
]


async def test_kling_v3_sound_and_watermarked_jobs_run_end_to_end(
    tmp_path: Path, live: Simulator
) -> None:
    jobs = [
        video("v3", model_name="kling-v3", duration=7, sound="on", multi_shot=True,
              shot_type="customize", multi_prompt=SHOTS, element_list=[{"element_id": 4}]),
        video("talk", model_name="kling-v2-6", mode="pro", sound="on",
              voice_list=[{"voice_id": "narrator"}], prompt="<<<voice_1>>> says hello"),
        video("marked", watermark_info={"enabled": True}),
        {**expand("wide", n=2), "watermark_info": {"enabled": True}},
    ]  # fmt: skip
    project = Project(tmp_path, live, jobs)

    result = await project.run()

    assert result.exit_code == ExitCode.OK
    sent = {task.external_task_id: task.request.fields for task in live.store.tasks.values()}
    v3 = next(f for f in sent.values() if f.get("model_name") == "kling-v3")
    assert (v3["duration"], v3["sound"]) == ("7", "on")  # the API's types on the wire
    assert [shot["duration"] for shot in v3["multi_prompt"]] == ["3", "4"]
    out = project.out
    assert (out / "marked" / "0.mp4").is_file() and (out / "marked" / "0.watermark.mp4").is_file()
    assert {p.name for p in (out / "wide").iterdir()} == {
        "0.png",
        "1.png",
        "0.watermark.png",
        "1.watermark.png",
    }
    assert not (out / "v3" / "0.watermark.mp4").exists()  # no watermark asked, none fetched
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    marked = next(job for job in report["jobs"] if job["id"] == "marked")
    assert marked["outputs"] == ["marked/0.mp4", "marked/0.watermark.mp4"]


async def test_a_result_without_a_usable_url_is_a_provider_error_not_a_download(
    tmp_path: Path, live: Simulator
) -> None:
    project = Project(tmp_path, live, [video("empty", prompt=f"a cat {EMPTY_URL}")])
    project.limits["max_attempts"] = 2
    project.save()

    result = await project.run()

    row = project.rows()["empty"]
    assert result.exit_code == ExitCode.FAILED
    assert row.state is JobState.FAILED and row.error_reason == "provider_failed"
    assert "done with an unusable result URL ('')" in (row.error_message or "")
    assert row.attempt == 2  # a provider error: another attempt, as for a failed task
    assert not (project.out / "empty").exists()  # nothing was downloaded


async def test_one_task_is_never_followed_for_two_jobs(tmp_path: Path) -> None:
    """A provider (or a simulator that numbers its tasks from 1 each time) that answers a task
    id already held by another job: the job fails with both named; the results never mix."""
    from kbatch.simulator import running

    project: Project | None = None
    for jobs in ([video("a")], [video("a"), video("b", prompt="another")]):
        async with running() as sim:
            sim.store._ids = itertools.count(1)  # every simulator starts again at task 1
            project = project or Project(tmp_path, sim, jobs)
            project.sim, project.jobs = sim, jobs
            project.save()
            result = await project.run()

    assert result.exit_code == ExitCode.FAILED and project is not None
    rows = project.rows()
    assert rows["a"].state is JobState.DOWNLOADED
    assert rows["b"].state is JobState.FAILED and rows["b"].error_reason == "integrity"
    assert "that task is job a's" in (rows["b"].error_message or "")
    assert str(rows["a"].task_id) in (rows["b"].error_message or "")
