"""Reports of a real run on the simulator: a success, a retry that succeeded, a task that failed
every attempt, a create refused with 1301, and an image task with two results.

Times, task ids and URLs differ from run to run, so the run's state is copied and those columns
are set to fixed values; everything else is what the run left."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from kbatch import reports as report
from kbatch.cli.app import cli
from kbatch.engine.options import RunOptions
from kbatch.errors import ExitCode
from kbatch.run import execute, prepare
from kbatch.simulator import FAIL, FLAKY, UNSAFE, Simulator, SimulatorConfig, running
from kbatch.store import SqliteStore
from tests.project import FAST, Project, expand, video

NORMALIZE = """
UPDATE jobs SET
  submitted_at = CASE WHEN submitted_at IS NULL THEN NULL ELSE 1800000000 + rowid * 60 END,
  finished_at = CASE WHEN finished_at IS NULL THEN NULL ELSE 1800000000 + rowid * 60 + 42.5 END,
  task_id = CASE WHEN task_id IS NULL THEN NULL ELSE 'task-' || id END,
  external_task_id = 'kb-' || id,
  error_message = CASE WHEN instr(error_message, ' (request_id') > 0
    THEN substr(error_message, 1, instr(error_message, ' (request_id') - 1)
    ELSE error_message END;
UPDATE media SET url = 'https://cdn.example/' || job_id || '/' || "index" || '.' || extension,
  host = CASE WHEN path IS NULL THEN NULL ELSE 'render-1' END,
  made_id = CASE WHEN made_id IS NULL THEN NULL ELSE 'made-' || job_id || '-' || "index" END;
"""
MIXED = [
    video("ok"),
    video("flaky", prompt=f"{FLAKY} a cat"),
    video("broken", prompt=f"{FAIL} a cat"),
    video("refused", prompt=f"{UNSAFE} a cat"),
    expand("wide", n=2),
]


class Ran:
    """A mixed run's project, and a copy of its state with the volatile columns fixed."""

    def __init__(self, project: Project, frozen: Path) -> None:
        self.project = project
        self.frozen = frozen

    @property
    def out(self) -> Path:
        return self.project.out

    def report(
        self, base: Path | None = None, sources: report.Sources | None = None
    ) -> report.Report:
        with SqliteStore.read(self.frozen) as state:
            return report.collect(
                state,
                name="t",
                output_dir=self.out,
                base=base or self.out,
                sources=sources,
                now=1800003600,
            )


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    root = tmp_path_factory.mktemp("mixed")

    async def go() -> Project:
        async with running(SimulatorConfig(task_seconds=0.05, seed=1)) as sim:
            project = Project(root, sim, list(MIXED))
            result = await project.run()
            assert result.exit_code == ExitCode.FAILED
            return project

    project = asyncio.run(go())
    frozen = root / "frozen.sqlite3"
    shutil.copy(project.state_file, frozen)
    with sqlite3.connect(frozen) as db:
        db.executescript(NORMALIZE)
    db.close()
    yield Ran(project, frozen)


EXPECTED_CSV = """\
id,kind,pack,state,removed,task_id,external_task_id,attempts,submitted,finished,seconds,units,charged,charged_units,charged_amount,charged_currency,outputs,hosts,result_urls,error_reason,error_code,error_message,made_ids
ok,image2video,video,downloaded,,task-ok,kb-ok,1,2027-01-15T08:01:00Z,2027-01-15T08:01:42Z,42.5,1,reported,1,,,ok/0.mp4,render-1,https://cdn.example/ok/0.mp4,,,,made-ok-0
flaky,image2video,video,downloaded,,task-flaky,kb-flaky,2,2027-01-15T08:02:00Z,2027-01-15T08:02:42Z,42.5,1,reported,1,,,flaky/0.mp4,render-1,https://cdn.example/flaky/0.mp4,,,,made-flaky-0
broken,image2video,video,failed,,task-broken,kb-broken,2,2027-01-15T08:03:00Z,2027-01-15T08:03:42Z,42.5,0,reported,0,,,,,,provider_failed,,The task failed as asked (the prompt contains sim:fail),
refused,image2video,video,failed,,,kb-refused,1,,2027-01-15T08:04:42Z,,0,,,,,,,,rejected,1301,"create image2video: HTTP 400, code 1301: Trigger the content security policy",
wide,image_expand,image,downloaded,,task-wide,kb-wide,1,2027-01-15T08:05:00Z,2027-01-15T08:05:42Z,42.5,16,reported,16,,,wide/0.png wide/1.png,render-1 render-1,https://cdn.example/wide/0.png https://cdn.example/wide/1.png,,,,
"""  # noqa: E501


def test_csv_has_one_exact_row_per_job_in_manifest_order(ran: Ran) -> None:
    assert report.render(ran.report(), "csv") == EXPECTED_CSV


def test_json_has_the_same_jobs_and_a_summary(ran: Ran) -> None:
    document = json.loads(report.render(ran.report(), "json"))

    assert document["name"] == "t" and document["generated"] == "2027-01-15T09:00:00Z"
    spent = {
        "jobs": 5,
        "units": {"image": 16.0, "video": 2.0},  # per pack: never one sum of both
        "charged_units": {"image": 16.0, "video": 2.0},  # all reported (outpainting: 8 each)
        "estimated_units": {},
        "cash": {},
    }
    assert document["summary"] == {
        "jobs": 5,
        "by_state": {
            "pending": 0,
            "submitting": 0,
            "submitted": 0,
            "running": 0,
            "succeeded": 0,
            "downloaded": 3,
            "failed": 2,
            "blocked": 0,
        },
        "by_kind": {
            "image2video": {"downloaded": 2, "failed": 2},
            "image_expand": {"downloaded": 1},
        },
        "done": 3,
        "started": "2027-01-15T08:01:00Z",
        "finished": "2027-01-15T08:05:42Z",
        "wall_seconds": 282.5,
        "jobs_per_hour": 38.2,  # 3 done in 282.5 s
        "removed": 0,
        "totals": {"current": spent, "paid": spent},  # no job removed: the same
    }
    rows = list(csv.DictReader(io.StringIO(EXPECTED_CSV)))
    assert [job["id"] for job in document["jobs"]] == [row["id"] for row in rows]
    flaky = document["jobs"][1]
    assert flaky == {
        "id": "flaky",
        "kind": "image2video",
        "pack": "video",
        "state": "downloaded",
        "removed": False,
        "task_id": "task-flaky",
        "external_task_id": "kb-flaky",
        "attempts": 2,
        "submitted": "2027-01-15T08:02:00Z",
        "finished": "2027-01-15T08:02:42Z",
        "seconds": 42.5,
        "units": 1.0,
        "charged": "reported",  # as the provider said: 0 for the failed attempt, then 1
        "charged_units": 1.0,
        "charged_amount": None,
        "charged_currency": None,
        "outputs": ["flaky/0.mp4"],
        "hosts": ["render-1"],  # the machine that downloaded it
        "result_urls": ["https://cdn.example/flaky/0.mp4"],
        "error_reason": None,
        "error_code": None,
        "error_message": None,
        "made_ids": ["made-flaky-0"],  # the provider's id of what it made
    }


def test_jsonl_is_one_job_per_line_as_in_json(ran: Ran) -> None:
    built = ran.report()
    lines = report.render(built, "jsonl").splitlines()
    assert [json.loads(line) for line in lines] == json.loads(report.render(built, "json"))["jobs"]


def test_result_paths_are_relative_to_the_report(ran: Ran, tmp_path: Path) -> None:
    elsewhere = tmp_path / "www" / "reports"
    built = ran.report(base=elsewhere)
    wide = next(job for job in built.jobs if job.id == "wide")
    assert all(not Path(path).is_absolute() for path in wide.outputs)
    assert [(elsewhere / path).resolve() for path in wide.outputs] == [
        (ran.out / "wide" / name).resolve() for name in ("0.png", "1.png")
    ]


def test_every_run_writes_the_three_reports_into_the_output_folder(ran: Ran) -> None:
    out = ran.out
    assert {p.name for p in out.glob("report.*")} | {"index.html"} >= set(report.FILES.values())
    sources, warnings = report.read_sources(ran.project.manifest)
    assert warnings == []
    with SqliteStore.read(ran.project.state_file) as state:
        fresh = report.collect(state, name="t", output_dir=out, base=out, sources=sources)
    written = list(csv.DictReader(io.StringIO((out / "report.csv").read_text(encoding="utf-8"))))
    assert written == list(csv.DictReader(io.StringIO(report.render(fresh, "csv"))))
    summary = json.loads((out / "report.json").read_text(encoding="utf-8"))["summary"]
    assert summary["by_state"]["failed"] == 2
    assert summary["totals"]["current"]["units"] == {"video": 2.0, "image": 16.0}
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count('<article class="job"') == 5
    assert not list(out.glob(".report*")), "a temporary report file was left behind"


def test_the_gallery_shows_inputs_outputs_errors_and_escapes_text(ran: Ran) -> None:
    inputs: dict[str, tuple[report.Input, ...]] = {
        "ok": (report.Input("image", src=str(ran.project.root / "ok.png")),)
    }
    page = report.render(ran.report(sources=report.Sources(ran.out, inputs=inputs)), "html")
    assert '<img src="../../ok.png" alt="image"' in page  # the input, relative to the page
    assert '<video controls muted preload="none" data-src="ok/0.mp4">' in page
    assert '<img src="wide/1.png" alt="1.png"' in page
    assert "<b>rejected 1301</b>: create image2video: HTTP 400" in page
    assert 'data-state="failed" data-kind="image2video"' in page
    assert "http" not in page.replace("https://cdn.example", "")  # nothing to fetch


def test_a_report_on_disk_never_shows_half_written(tmp_path: Path, ran: Ran) -> None:
    target = tmp_path / "r.json"
    target.write_text("old", encoding="utf-8")
    report.write_file(ran.report(), "json", target)
    assert json.loads(target.read_text(encoding="utf-8"))["summary"]["jobs"] == 5
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


async def test_a_report_that_cannot_be_written_does_not_fail_the_run(
    tmp_path: Path, live: Simulator
) -> None:
    project = Project(tmp_path, live, [video("v")])
    (project.out / "report.csv").mkdir(parents=True)  # a folder where the report goes
    plan = prepare(project.manifest, RunOptions(pacing=FAST))
    try:
        result = await execute(plan, on_event=project.events.append)
    finally:
        plan.close()
    assert result.exit_code == 0
    assert result.report_error is not None and "state is intact" in result.report_error
    assert project.named("report")[0].message == result.report_error


def test_report_command_writes_any_format_anywhere(ran: Ran, tmp_path: Path) -> None:
    target = tmp_path / "nested" / "r.jsonl"
    result = CliRunner().invoke(
        cli, ["report", str(ran.project.manifest), "--format", "jsonl", "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == f"{target}: 5 jobs\n"
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [
        "ok",
        "flaky",
        "broken",
        "refused",
        "wide",
    ]
    first = json.loads(lines[0])
    assert (target.parent / first["outputs"][0]).resolve() == (ran.out / "ok" / "0.mp4").resolve()


def test_report_command_prints_to_stdout_and_reads_the_manifest_for_the_gallery(
    ran: Ran, tmp_path: Path
) -> None:
    csv_out = CliRunner().invoke(cli, ["report", str(ran.project.manifest)])
    assert csv_out.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(csv_out.stdout)))
    assert [row["state"] for row in rows] == [
        "downloaded",
        "downloaded",
        "failed",
        "failed",
        "downloaded",
    ]
    # Where standard output ends up is not known: its paths are absolute, not relative to
    # the current directory, and name the files on disk.
    first = Path(rows[0]["outputs"].split(" ")[0])
    assert first.is_absolute() and first == (ran.out / "ok" / "0.mp4").resolve()
    assert first.is_file()
    page = tmp_path / "g.html"
    html = CliRunner().invoke(
        cli, ["report", str(ran.project.manifest), "--format", "html", "-o", str(page)]
    )
    assert html.exit_code == 0, html.output
    text = page.read_text(encoding="utf-8")
    inputs = text.count('alt="image" loading="lazy"')
    assert inputs == 5, "every job's input image is shown"


def test_report_without_a_state_file_says_so(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "version: 1\nname: t\nprovider: simulator\njobs:\n"
        "  - {kind: image2video, image: 'https://example.com/a.png'}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["report", str(manifest)])
    assert result.exit_code == 1
    assert "State file problem: no state file at" in result.stderr
    assert "has not been run yet" in result.stderr


def test_the_gallery_escapes_what_the_provider_wrote(ran: Ran) -> None:
    built = ran.report()
    broken = next(job for job in built.jobs if job.id == "broken")
    hostile = dataclasses.replace(broken, error_message='<script>alert("x")</script>')
    page = report.render(dataclasses.replace(built, jobs=(hostile,)), "html")
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


async def test_a_rerun_that_changes_nothing_keeps_the_reports_and_a_change_rewrites_them(
    tmp_path: Path, live: Simulator
) -> None:
    project = Project(tmp_path, live, [video("v")])
    await project.run()
    paths = [project.out / name for name in report.FILES.values()]
    first = [path.stat().st_ino for path in paths]

    idle = await project.run()  # nothing to do: the same reports stand
    assert idle.reports == tuple(paths)
    assert [path.stat().st_ino for path in paths] == first

    paths[2].unlink()  # one is gone: all are written again
    await project.run()
    assert all(path.is_file() for path in paths)
    assert paths[0].stat().st_ino != first[0]

    project.jobs.append(video("w", prompt="another"))  # a new job runs: new reports
    project.save()
    await project.run()
    assert "\nw,image2video,video,downloaded," in paths[0].read_text(encoding="utf-8")


def test_reports_get_the_permissions_the_umask_gives(ran: Ran, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        report.write_file(ran.report(), "csv", tmp_path / "r.csv")
    finally:
        os.umask(old)
    assert (tmp_path / "r.csv").stat().st_mode & 0o777 == 0o644


def test_json_of_no_jobs_is_still_json(ran: Ran) -> None:
    empty = dataclasses.replace(ran.report(), jobs=())
    assert json.loads(report.render(empty, "json"))["jobs"] == []
