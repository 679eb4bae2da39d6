"""What each task cost, through ``kbatch run`` and ``kbatch status`` against the simulator: the
budget counts the provider's charge once it is known, and the estimate where the provider
reports none (marked estimated in the state, the reports and the summaries)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kbatch.simulator import Simulator, SimulatorConfig
from kbatch.store.records import Charged
from tests.conftest import in_a_thread
from tests.project import Project, invoke, video

#: kling-v1 std 5 s: the simulator charges 1 unit (its price); the manifest expects 3.
#: How the summary and ``kbatch status`` begin their totals (kbatch.reports.totals).
SPENT = "units spent by the manifest's current jobs: "
PRICING = {"pricing": {"image2video": {"kling-v1": {"std": 3}}}}


@pytest.fixture
def silent() -> Iterator[Simulator]:
    """A simulator in a thread that reports no charge, as a gateway that does not pass it on."""
    with in_a_thread(SimulatorConfig(task_seconds=0.05, charges=False)) as simulator:
        yield simulator


def budgeted(root: Path, sim: Simulator) -> Project:
    """Three videos estimated at 3 units each, under a video budget of 4."""
    made = Project(root, sim, [video("a"), video("b", prompt="b"), video("c", prompt="c")])
    made.extra.update(PRICING)
    made.limits["budget_units"] = {"video": 4}
    made.save()
    return made


def run(project: Project) -> str:
    """A run that leaves jobs to the budget: exit 1 (not every job done)."""
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 1, output
    return output


def test_the_budget_counts_what_the_provider_charged_not_the_estimate(
    tmp_path: Path, threaded: Simulator, backend: str
) -> None:
    """On a shared state too: its claims count ``jobs.units`` (the charges) and the estimates
    of the jobs still at the provider."""
    project = budgeted(tmp_path, threaded)

    # a (estimate 3) fits in 4; b does not while a holds its estimate. Once a is charged 1,
    # b fits (1 + 3), at once on a shared state (its claims are tried again), else next run;
    # c never does (2 + 3). Counted on estimates, only a would ever run.
    run(project)
    second = run(project)
    assert "1 video job was not started" in second
    assert SPENT + "video 2\n" in second  # the charges, not the estimates of 3
    assert "of them charged: video 2 (as the provider reported)" in second
    rows = project.rows()
    assert [rows[i].state.value for i in "abc"] == ["downloaded", "downloaded", "pending"]
    assert all(rows[i].charged is Charged.REPORTED for i in "ab")
    assert (rows["b"].units, rows["b"].charged_units, rows["b"].estimate) == (1.0, 1.0, 3.0)

    text = (project.out / "report.csv").read_text(encoding="utf-8")
    report = list(csv.DictReader(io.StringIO(text)))
    assert [(r["units"], r["charged"], r["charged_units"]) for r in report] == [
        ("1", "reported", "1"),
        ("1", "reported", "1"),
        ("0", "", ""),
    ]


def test_a_provider_that_reports_no_charge_leaves_the_estimate_counted_and_said(
    tmp_path: Path, silent: Simulator, backend: str
) -> None:
    project = budgeted(tmp_path, silent)

    first = run(project)
    assert SPENT + "video 3\n" in first  # a's estimate: never counted as free
    assert "of them estimated: video 3 (the provider reported no charge)" in first
    second = run(project)  # 3 estimated + 3 for b exceeds 4: nothing more starts
    assert "video jobs were not started" in second and SPENT + "video 3\n" in second

    rows = project.rows()
    assert (rows["a"].units, rows["a"].charged, rows["a"].charged_units) == (
        3.0,
        Charged.ESTIMATED,
        None,
    )
    (attempt,) = project.query("SELECT charged, charged_units, units FROM attempts")
    assert attempt == ("estimated", None, 3.0)

    code, status = invoke("status", str(project.manifest))
    assert code == 0 and SPENT + "video 3\n" in status
    assert "of them estimated: video 3 (the provider reported no charge)" in status
    code, output = invoke("status", str(project.manifest), "--format", "json")
    document = json.loads(output)
    current = document["totals"]["current"]
    assert current["units"] == {"video": 3.0}
    assert current["estimated_units"] == {"video": 3.0}
    assert current["charged_units"] == {}

    code, logged = invoke("run", str(project.manifest), "--log-format", "json")
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    (end,) = [line for line in lines if line["event"] == "summary"]
    assert end["totals"]["current"] == current
    assert end["totals"]["paid"] == current

    code, shown = invoke("show", str(project.manifest), "a")
    assert code == 0 and "units: 3 (estimated: the provider reported no charge)" in shown
    assert "succeed, 3 units (estimated: the provider reported no charge)" in shown

    report = json.loads((project.out / "report.json").read_text(encoding="utf-8"))
    assert report["jobs"][0]["charged"] == "estimated"
    assert report["summary"]["totals"]["current"] == current
