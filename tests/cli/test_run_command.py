"""``kbatch run`` and ``kbatch status`` through click, against a simulator in a thread."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kbatch.cli.app import cli
from kbatch.simulator import FAIL, UNSAFE, Simulator
from kbatch.store import SqliteStore
from tests.cli.test_charges import SPENT
from tests.project import IMAGES, Project, invoke, video


@pytest.fixture
def project(tmp_path: Path, threaded: Simulator) -> Project:
    return Project(tmp_path, threaded, [video("a"), video("b", prompt="another")])


def test_run_prints_a_line_per_event_and_exits_0(project: Project) -> None:
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert "submitted   a: task " in output and "downloaded  b: 1 file in " in output
    assert f"{project.manifest}: 2 of 2 jobs done" in output
    assert SPENT + "video 2\n" in output
    assert output.rstrip().endswith(f"{project.out / 'index.html'}")


def test_run_logs_json_lines_for_machines(project: Project) -> None:
    code, output = invoke("run", str(project.manifest), "--log-format", "json")
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert code == 0
    assert {e["event"] for e in events} >= {"submitted", "running", "succeeded", "downloaded"}
    assert all(e["time"].endswith("Z") and "message" in e for e in events)


def test_json_events_carry_fields_not_just_prose(tmp_path: Path, threaded: Simulator) -> None:
    jobs = [video("a"), video("broken", prompt=f"{FAIL} a cat"), video("refused", prompt=UNSAFE)]
    made = Project(tmp_path, threaded, jobs)
    code, output = invoke("run", str(made.manifest), "--log-format", "json")
    assert code == 1
    events = [json.loads(line) for line in output.splitlines()]  # every line is JSON
    by = {(e["event"], e.get("job")): e for e in events}
    submitted = by["submitted", "a"]
    assert submitted["task_id"] and submitted["attempt"] == 1 and submitted["state"] == "submitted"
    assert submitted["pack"] == "video" and submitted["kind"] == "image2video"
    assert by["succeeded", "a"]["units"] == 1.0 and by["succeeded", "a"]["results"] == 1
    assert by["downloaded", "a"]["files"] == ["a/0.mp4"]
    assert by["retry", "broken"]["attempts_left"] == 1
    assert by["failed", "broken"]["reason"] == "provider_failed"
    assert by["failed", "broken"]["attempt"] == 2
    refused = by["failed", "refused"]
    assert refused["reason"] == "rejected" and refused["code"] == "1301"
    assert events[-1]["event"] == "summary" and events[-1]["done"] == 1


def test_dry_run_says_what_would_run_and_writes_nothing(project: Project) -> None:
    code, output = invoke("run", str(project.manifest), "--dry-run")
    assert code == 0
    assert "would submit:        2" in output and "nothing was sent or written" in output
    assert not project.state_file.exists()
    assert [x.path for x in project.sim.log] == ["/account/costs"]  # what is left, no task


def test_a_second_run_is_refused_with_exit_3_naming_the_holder(project: Project) -> None:
    project.out.mkdir(parents=True)
    with SqliteStore.open(project.state_file, manifest_name="t", lock=True):
        code, output = invoke("run", str(project.manifest))
        status_code, status = invoke("status", str(project.manifest))
    assert code == 3 and "Already running: another kbatch run (pid " in output
    assert status_code == 0 and "running: pid " in status


def test_status_counts_jobs_by_state_and_units(project: Project) -> None:
    invoke("run", str(project.manifest))
    code, output = invoke("status", str(project.manifest))
    assert code == 0
    assert "2 jobs: 2 downloaded" in output and SPENT + "video 2\n" in output
    assert "running: no" in output


def test_status_before_any_run_says_so(project: Project) -> None:
    code, output = invoke("status", str(project.manifest))
    assert code == 1 and "has not been run yet" in output


def test_an_invalid_manifest_exits_2_with_located_errors(project: Project) -> None:
    project.jobs.append({"id": "bad", "kind": "image2video", "image": "ok.png", "duration": 7})
    project.save()
    code, output = invoke("run", str(project.manifest))
    assert code == 2
    assert "manifest.yaml:" in output and "$.jobs[2].duration" in output
    assert not project.sim.log


def test_missing_credentials_are_named_without_a_request(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "version: 1\nname: t\nprovider: {name: cometapi, base_url: 'http://127.0.0.1:9'}\n"
        "jobs:\n  - {kind: image2video, image: 'https://127.0.0.1/x.png', prompt: p}\n",
        encoding="utf-8",
    )
    result = CliRunner(env={"COMETAPI_KEY": ""}).invoke(cli, ["run", str(manifest)])
    assert result.exit_code == 2
    assert "Cannot start: no credentials for cometapi: set COMETAPI_KEY" in result.output


SIMULATED = """\
version: 1
name: sim
provider: simulator
limits: {poll_interval: 100ms, poll_max: 500ms, max_in_flight: 4}
jobs:
  - kind: image2video
    id: clip-${n}
    foreach: [{n: 1}, {n: 2}, {n: 3}, {n: 4}]
    image: ok.png
    prompt: clip ${n}
"""


def test_a_simulator_run_interrupted_by_sigint_resumes_with_no_extra_attempt(
    tmp_path: Path,
) -> None:
    """The in-process simulator keeps its tasks beside the state: the next run finds them
    running on, as Kling would, and neither stalls nor pays for them again."""
    shutil.copy(IMAGES / "ok.png", tmp_path / "ok.png")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(SIMULATED, encoding="utf-8")
    command = [sys.executable, "-m", "kbatch", "run", str(manifest), "--no-progress"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    assert child.stdout is not None
    submitted = 0
    for line in child.stdout:
        submitted += " submitted " in line
        if submitted == 4:
            child.send_signal(signal.SIGINT)
            break
    child.stdout.read()
    child.stdout.close()
    assert child.wait(timeout=60) == 130

    again = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=120)

    assert again.returncode == 0, again.stdout + again.stderr
    assert " submitted " not in again.stdout  # the tasks were found running, not sent again
    journal = tmp_path / "out" / "sim" / "state.sqlite3.simulator.jsonl"
    creates = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    assert (
        sorted(record["external_task_id"] for record in creates)
        == sorted({record["external_task_id"] for record in creates})
        and len(creates) == 4
    )
    with SqliteStore.read(tmp_path / "out" / "sim" / "state.sqlite3") as state:
        rows = state.load()
    assert {row.attempt for row in rows.values()} == {1}
    assert {row.state.value for row in rows.values()} == {"downloaded"}


def test_text_kinds_run_through_the_cli(tmp_path: Path, threaded: Simulator) -> None:
    """A CSV of prompts alone: text2image per row, and a text2video, through `kbatch run`."""
    (tmp_path / "prompts.csv").write_text("id,prompt\nfox,a red fox\nowl,an owl at night\n")
    project = Project(tmp_path, threaded, [])
    project.jobs = [
        {"kind": "text2image", "id": "img-${id}", "foreach": "prompts.csv", "prompt": "${prompt}",
         "n": 2, "aspect_ratio": "4:3"},
        {"kind": "text2video", "id": "clip", "prompt": "a fox runs", "duration": 10},
    ]  # fmt: skip
    project.save()

    code, output = invoke("run", str(project.manifest), "--no-progress")

    assert code == 0, output
    assert sorted(p.name for p in (project.out / "img-owl").iterdir()) == ["0.png", "1.png"]
    assert (project.out / "clip" / "0.mp4").is_file()
    fields = [task.request.fields for task in threaded.store.tasks.values()]
    assert {f.get("duration") for f in fields if "duration" in f} == {"10"}  # a string
    assert {f.get("n") for f in fields if "n" in f} == {2}  # an integer


def test_only_matching_no_job_is_refused_before_anything_is_written(project: Project) -> None:
    code, output = invoke("run", str(project.manifest), "--only", "nope-*")
    assert code == 2
    assert "Cannot start: --only 'nope-*' matches none of the manifest's 2 jobs" in output
    assert not project.state_file.exists()  # no state, no reports
    code, output = invoke("run", str(project.manifest), "--only", "nope-*", "--dry-run")
    assert code == 2 and "matches none" in output


def test_validate_plan_and_status_speak_json(project: Project) -> None:
    invoke("run", str(project.manifest))
    code, output = invoke("validate", str(project.manifest), "--format", "json")
    (doc,) = json.loads(output)["manifests"]
    assert code == 0 and doc["valid"] and doc["jobs"] == 2 and doc["issues"] == []
    code, output = invoke("plan", str(project.manifest), "--format", "json")
    plan = json.loads(output)
    assert plan["kinds"]["image2video"] == {
        "pack": "video",
        "jobs": 2,
        "slot_tasks": 2,
        "estimated_units": 2.0,
    }
    assert plan["state"]["counts"]["downloaded"] == 2
    code, output = invoke("status", str(project.manifest), "--format", "json")
    status = json.loads(output)
    assert status["totals"]["current"]["units"] == {"video": 2.0} and status["running"] is None


def test_show_gives_one_job_s_joblog_request_and_files(project: Project) -> None:
    invoke("run", str(project.manifest))
    code, output = invoke("show", str(project.manifest), "a", "--format", "json")
    job = json.loads(output)
    assert code == 0 and job["state"] == "downloaded"
    assert [a["outcome"] for a in job["attempts"]] == ["succeed"]
    assert job["files"][0]["path"] == str(project.out / "a" / "0.mp4")
    assert job["request"]["prompt"] == "a cat yawns"
    assert job["request"]["image"] == "ok.png"  # as the manifest gave it: not absolute, not base64
    code, text = invoke("show", str(project.manifest), "a")
    assert code == 0 and "1. task " in text and "succeed" in text
    code, text = invoke("show", str(project.manifest), "nope")
    assert code == 2 and "Not found: " in text and "holds no job 'nope'" in text


def test_a_dry_run_applies_the_budget_lists_the_jobs_and_writes_nothing(project: Project) -> None:
    project.jobs.append(video("c", prompt="a third"))
    project.limits["budget_units"] = {"video": 2}  # kling-v1 std 5 s: 1 unit each
    project.save()

    code, output = invoke("run", str(project.manifest), "--dry-run")

    assert code == 0
    assert "would submit:        2 (estimated units: video 2)" in output
    assert "    a  image2video  1 unit\n" in output and "    b  image2video  1 unit\n" in output
    assert "held by the video budget: 1" in output
    assert "nothing was sent or written" in output and not project.state_file.exists()


def test_a_dry_run_says_when_another_run_holds_the_state(project: Project) -> None:
    invoke("run", str(project.manifest))
    with SqliteStore.open(project.state_file, manifest_name="t", lock=True):
        code, output = invoke("run", str(project.manifest), "--dry-run")
    assert code == 0 and "another run holds the state now (pid " in output


def test_with_json_logs_every_line_on_stdout_is_a_json_object(project: Project) -> None:
    for _ in range(2):  # a run, then a rerun with nothing to do
        result = CliRunner().invoke(cli, ["run", str(project.manifest), "--log-format", "json"])
        lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        assert result.exit_code == 0 and lines
        end = lines[-1]
        assert end["event"] == "summary" and (end["done"], end["selected"]) == (2, 2)
        assert end["counts"]["downloaded"] == 2
        assert end["totals"]["current"]["units"] == {"video": 2.0}
        assert end["reports"] and end["failures"] == []
    events = [line["event"] for line in lines]
    assert events == ["summary"]  # the rerun sent nothing and logged nothing else


def test_another_state_is_refused_in_an_output_folder_it_does_not_own(project: Project) -> None:
    """A new --state would pay for every job again and write into the same folders."""
    invoke("run", str(project.manifest))
    other = project.root / "elsewhere.sqlite3"

    code, output = invoke("run", str(project.manifest), "--state", str(other))

    assert code == 2 and f"{project.out} holds the results of the state" in output
    assert "--take-output" in output and not other.exists()
    code, output = invoke("run", str(project.manifest), "--state", str(other), "--take-output")
    assert code == 0  # told: this state owns the folder now
    code, output = invoke("run", str(project.manifest))
    assert code == 2  # and the first one is refused in turn


def test_plan_reads_the_state_that_state_or_kbatch_state_names(project: Project) -> None:
    """``plan`` shows what the state holds: the one a run would use, not always the folder's."""
    elsewhere = project.root / "elsewhere.sqlite3"
    code, output = invoke("run", str(project.manifest), "--state", str(elsewhere))
    assert code == 0, output

    code, output = invoke("plan", str(project.manifest))
    assert code == 0 and "state: none yet (nothing has run)" in output  # the folder's own file
    code, output = invoke("plan", str(project.manifest), "--state", str(elsewhere))
    assert code == 0 and f"state: 2 downloaded ({elsewhere})" in output
    assert SPENT + "video 2\n" in output
    runner = CliRunner(env={"KBATCH_STATE": str(elsewhere)})
    result = runner.invoke(cli, ["plan", str(project.manifest)])
    assert result.exit_code == 0 and f"state: 2 downloaded ({elsewhere})" in result.output
    result = runner.invoke(cli, ["plan", str(project.manifest), "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.output)["state"]["counts"]["downloaded"] == 2
