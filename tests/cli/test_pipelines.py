"""Pipelines end to end through ``kbatch run`` on the simulator (issue 30's "Done when"): a
foreach CSV drives text2image, then image2video and image_expand on each made image (fan-out),
then multi_image2image from two made images (fan-in). Every file lands on disk, each downstream
create carries its upstream's result URL, none is created before its upstream succeeded, and a
rerun sends nothing; a failing row blocks its dependents (no create), the other rows finish, and
``--retry-failed`` completes it; an edited upstream prompt re-makes it and its dependents only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kbatch.simulator import Simulator
from kbatch.simulator.tasks import FLAKY, SimTask
from tests.project import Project, invoke

ROWS = "row,prompt\n1,a red fox in snow\n2,a lighthouse at dusk\n"
JOBS: list[dict[str, Any]] = [
    {"kind": "text2image", "id": "still-${row}", "foreach": "rows.csv", "prompt": "${prompt}"},
    {"kind": "image2video", "id": "clip-${row}", "foreach": "rows.csv"}
    | {"image": "job:still-${row}", "model_name": "kling-v2-6", "prompt": "slow push in"},
    {"kind": "image_expand", "id": "wide-${row}", "foreach": "rows.csv"}
    | {"image": "job:still-${row}", "left_expansion_ratio": 0.25},
    {"kind": "multi_image2image", "id": "duo", "prompt": "both together"}
    | {"subject_image_list": ["job:still-1", "job:still-2"]},
]
DOWNSTREAM = {"clip": "still", "wide": "still"}


def pipeline(tmp_path: Path, sim: Simulator, rows: str = ROWS) -> Project:
    (tmp_path / "rows.csv").write_text(rows, encoding="utf-8")
    project = Project(tmp_path, sim, JOBS)
    project.limits["max_attempts"] = 1
    project.save()
    return project


def creates(sim: Simulator) -> int:
    return sum(e.method == "POST" for e in sim.log)


def tasks_by_job(project: Project, sim: Simulator) -> dict[str, SimTask]:
    ids = dict(project.query("SELECT id, task_id FROM jobs WHERE task_id IS NOT NULL"))
    return {job_id: sim.store.tasks[task_id] for job_id, task_id in ids.items()}


def test_fan_out_and_fan_in_run_end_to_end_and_a_rerun_sends_nothing(
    tmp_path: Path, threaded: Simulator
) -> None:
    project = pipeline(tmp_path, threaded)
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert "7 of 7 jobs done" in output
    assert project.check_files() == 7
    tasks = tasks_by_job(project, threaded)
    media = dict(project.query("SELECT job_id, url FROM media WHERE variant = ''"))
    for job_id, task in tasks.items():
        kind, _, row = job_id.partition("-")
        ups = [f"still-{row}"] if kind in DOWNSTREAM else ["still-1", "still-2"]
        if kind == "still":
            continue
        sent = task.request.fields
        images = (
            [sent["image"]]
            if "image" in sent
            else [item["subject_image"] for item in sent["subject_image_list"]]
        )
        assert images == [media[up] for up in ups], job_id  # the upstream's result URL
        for up in ups:  # created only once its upstream had succeeded
            upstream = tasks[up]
            assert task.started >= upstream.started + upstream.seconds, (job_id, up)

    before = creates(threaded)
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert creates(threaded) == before

    code, output = invoke("show", str(project.manifest), "duo")
    assert "takes from: still-1, still-2" in output, output
    code, output = invoke("show", str(project.manifest), "still-1")
    assert "taken by: clip-1, wide-1, duo" in output, output
    report = (project.out / "report.csv").read_text(encoding="utf-8").splitlines()
    assert report[0].split(",")[-1] == "upstreams"  # a column of pipelines' reports
    duo = next(line for line in report if line.startswith("duo,"))
    assert duo.endswith(",still-1 still-2") and "job:still-1 job:still-2" in duo
    gallery = (project.out / "index.html").read_text(encoding="utf-8")
    chain = gallery[gallery.index('<h2 title="clip-1">') :].split("</article>")[0]
    assert 'src="still-1/0.png"' in chain and "image from job:still-1" in chain  # its image


def test_plan_shows_the_stages_with_their_slot_tasks_and_estimate(
    tmp_path: Path, threaded: Simulator
) -> None:
    project = pipeline(tmp_path, threaded)
    code, output = invoke("plan", str(project.manifest))
    assert code == 0, output
    assert "stage 0: 2 jobs, slot-tasks image 2, estimate image 16 units" in output
    assert "stage 1: 5 jobs, slot-tasks image 3, video 2, estimate image 32, video 3" in output
    assert "whole pipeline: estimate image 48, video 3 units" in output


def test_a_failed_row_blocks_its_dependents_and_retry_failed_completes_it(
    tmp_path: Path, threaded: Simulator
) -> None:
    rows = ROWS.replace("a lighthouse", f"a lighthouse {FLAKY}")  # row 2's image fails once
    project = pipeline(tmp_path, threaded, rows)
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 1, output
    states = dict(project.query("SELECT id, state FROM jobs"))
    assert states.pop("still-2") == "failed"
    blocked = {"clip-2", "wide-2", "duo"}  # duo takes from both rows' images
    assert {i for i, state in states.items() if state == "blocked"} == blocked
    assert {states[i] for i in states if i not in blocked} == {"downloaded"}
    assert len(threaded.store.tasks) == 4  # 2 images, 2 of row 1: no create for the blocked
    reasons = dict(project.query("SELECT id, error_message FROM jobs WHERE state = 'blocked'"))
    assert all("job still-2" in reason for reason in reasons.values()), reasons
    assert "blocked" in output

    code, output = invoke("run", str(project.manifest), "--no-progress", "--retry-failed")
    assert code == 0, output
    assert set(dict(project.query("SELECT id, state FROM jobs")).values()) == {"downloaded"}
    assert project.check_files() == 7


def test_an_edited_upstream_prompt_remakes_it_and_its_dependents_only(
    tmp_path: Path, threaded: Simulator
) -> None:
    project = pipeline(tmp_path, threaded)
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    first = dict(project.query("SELECT id, task_id FROM jobs"))
    (tmp_path / "rows.csv").write_text(ROWS.replace("a red fox", "a grey fox"), encoding="utf-8")
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    second = dict(project.query("SELECT id, task_id FROM jobs"))
    remade = {job_id for job_id in first if first[job_id] != second[job_id]}
    assert remade == {"still-1", "clip-1", "wide-1", "duo"}

    # A downstream edited alone is re-made alone.
    jobs = [dict(job) for job in JOBS]
    jobs[2]["left_expansion_ratio"] = 0.5
    project.jobs = jobs
    project.save()
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    third = dict(project.query("SELECT id, task_id FROM jobs"))
    assert {job_id for job_id in first if third[job_id] != second[job_id]} == {"wide-1", "wide-2"}


def test_redo_makes_a_job_again_with_its_dependents_and_dry_run_shows_the_cost(
    tmp_path: Path, threaded: Simulator
) -> None:
    project = pipeline(tmp_path, threaded)
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    first = dict(project.query("SELECT id, task_id FROM jobs"))
    before = creates(threaded)
    code, output = invoke("run", str(project.manifest), "--redo", "still-2", "--dry-run")
    assert code == 0, output
    assert "would submit:        4" in output and "image 32, video 1.5" in output
    assert creates(threaded) == before  # a dry run sends and writes nothing
    assert dict(project.query("SELECT id, task_id FROM jobs")) == first

    code, output = invoke("run", str(project.manifest), "--no-progress", "--redo", "still-2")
    assert code == 0, output
    second = dict(project.query("SELECT id, task_id FROM jobs"))
    assert {i for i in first if first[i] != second[i]} == {"still-2", "clip-2", "wide-2", "duo"}
    attempts = dict(project.query("SELECT id, attempt FROM jobs WHERE id = 'still-2'"))
    assert attempts == {"still-2": 2}  # a new attempt: a new external task id
    assert project.check_files() == 7

    code, output = invoke("run", str(project.manifest), "--redo", "nothing-*")
    assert code != 0 and "--redo 'nothing-*' matches none" in output


def test_ready_downstream_jobs_go_ahead_of_new_upstream_work(
    tmp_path: Path, threaded: Simulator
) -> None:
    """Rows finish early: with few slots, a row's clip is created once its still is made,
    ahead of the stills of later rows (the feed reads past the stills to find the clips)."""
    rows = "row,prompt\n" + "".join(f"{n},scene {n}\n" for n in range(8))
    (tmp_path / "rows.csv").write_text(rows, encoding="utf-8")
    project = Project(tmp_path, threaded, JOBS[:2])
    project.limits["max_in_flight"] = 2
    project.save()
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    by_task = {task.task_id: job for job, task in tasks_by_job(project, threaded).items()}
    order = [by_task[task_id] for task_id in threaded.store.tasks]  # in create order
    assert len(order) == 16
    first_clip = min(i for i, job in enumerate(order) if job.startswith("clip"))
    last_still = max(i for i, job in enumerate(order) if job.startswith("still"))
    assert first_clip < last_still, order
