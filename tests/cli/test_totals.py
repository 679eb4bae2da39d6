"""One set of totals (:mod:`kbatch.reports.totals`) on every surface, through the CLI against
the simulator: the run's summary, ``kbatch status`` (text and JSON), ``report.json``,
``report.csv``, the gallery and ``kbatch export`` show the same figures, each labelled as the
manifest's current jobs or everything this state ever paid."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from kbatch.simulator import Simulator
from tests.project import Project, invoke


def test_every_surface_shows_the_same_totals_after_a_foreach_row_is_removed(
    tmp_path: Path, threaded: Simulator
) -> None:
    """The issue's case: a row removed from a foreach CSV after a run. Its job stays in the
    state (paid), out of the manifest's current jobs; no surface mixes the two."""
    rows = ["id,prompt", "fox,a red fox", "owl,an owl at night", "cat,a cat asleep"]
    (tmp_path / "prompts.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    project = Project(tmp_path, threaded, [])
    project.jobs = [
        {"kind": "text2image", "id": "img-${id}", "foreach": "prompts.csv", "prompt": "${prompt}",
         "n": 2, "aspect_ratio": "16:9"},
    ]  # fmt: skip
    project.save()
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    (tmp_path / "prompts.csv").write_text("\n".join(rows[:3]) + "\n", encoding="utf-8")

    code, summary = invoke("run", str(project.manifest), "--no-progress")

    assert code == 0, summary
    state = project.rows()
    current = sum(r.units for r in state.values() if not r.removed)
    paid = sum(r.units for r in state.values())
    assert state["img-cat"].removed and 0 < current < paid
    said = (
        f"units spent by the manifest's current jobs: image {current:g}",
        f"everything this state ever paid: image {paid:g}",
    )
    assert all(line in summary for line in said), summary
    assert "of them charged" not in summary or f"of them charged: image {current:g}" in summary
    code, status = invoke("status", str(project.manifest))
    assert code == 0 and all(line in status for line in said), status
    assert "removed: 1 job of earlier runs was taken out" in status

    code, text = invoke("status", str(project.manifest), "--format", "json")
    totals = json.loads(text)["totals"]
    assert totals["current"]["units"] == {"image": current}
    assert totals["paid"]["units"] == {"image": paid}
    assert totals["current"]["charged_units"] == {"image": current}  # all reported
    assert (totals["current"]["jobs"], totals["paid"]["jobs"]) == (2, 3)
    report = json.loads((project.out / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["totals"] == totals
    table = list(csv.DictReader(io.StringIO((project.out / "report.csv").read_text())))
    assert sum(float(r["units"]) for r in table) == paid
    assert sum(float(r["units"]) for r in table if not r["removed"]) == current
    gallery = (project.out / "index.html").read_text(encoding="utf-8")
    assert f"<b>image {current:g}</b><span>units spent by the manifest" in gallery
    assert f"<b>image {paid:g}</b><span>everything this state ever paid" in gallery

    code, output = invoke("export", str(project.manifest), "-o", str(tmp_path / "ds"))
    assert code == 0, output
    lines = (tmp_path / "ds" / "images" / "metadata.jsonl").read_text().splitlines()
    exported = [json.loads(line) for line in lines]
    assert len(exported) == 4  # two jobs of two images each
    assert sum(r["units"] or 0 for r in exported) == current  # a job's charge once
    assert [r["units"] is None for r in exported] == [False, True, False, True]
    assert {r["n"] for r in exported} == {2} and {r["aspect_ratio"] for r in exported} == {"16:9"}
