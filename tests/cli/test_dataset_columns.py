"""What a dataset needs, through ``kbatch export`` and ``kbatch show``: the request's
``resolution``, ``n`` and ``mode``; files of an edited job linked again, never a stale copy;
how to load the folder; images shown as the manifest gave them."""

from __future__ import annotations

import json
from pathlib import Path

from kbatch.simulator import Simulator
from tests.project import Project, invoke


def exported(folder: Path) -> list[dict[str, object]]:
    lines = (folder / "images" / "metadata.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_an_export_carries_the_request_and_relinks_an_edited_job(
    tmp_path: Path, threaded: Simulator
) -> None:
    job = {"kind": "text2image", "id": "fox", "prompt": "a red fox", "n": 1,
           "resolution": "2k", "aspect_ratio": "1:1", "image": "ok.png"}  # fmt: skip
    project = Project(tmp_path, threaded, [job])
    assert invoke("run", str(project.manifest), "--no-progress")[0] == 0
    target = tmp_path / "ds"

    code, output = invoke("export", str(project.manifest), "-o", str(target))

    assert code == 0, output
    assert "target: 1 file\n".replace("target", str(target / "images")) in output  # singular
    assert "pip install datasets" in output
    assert f"datasets.load_dataset('imagefolder', data_dir='{target / 'images'}')" in output
    (row,) = exported(target)
    assert (row["resolution"], row["n"], row["aspect_ratio"]) == ("2k", 1, "1:1")
    assert row["inputs"] == ["ok.png"] and row["units"] == 8.0

    project.jobs[0] = {**job, "prompt": "a red fox at night"}  # edited: new files, same size
    project.save()
    assert invoke("run", str(project.manifest), "--no-progress")[0] == 0
    code, output = invoke("export", str(project.manifest), "-o", str(target))

    assert code == 0 and "1 linked, 0 copied" in output, output
    made, placed = project.out / "fox" / "0.png", target / "images" / "fox" / "0.png"
    assert placed.stat().st_ino == made.stat().st_ino  # the new file, not the first export's
    assert exported(target)[0]["prompt"] == "a red fox at night"

    code, shown = invoke("show", str(project.manifest), "fox")
    assert code == 0 and "  image: ok.png\n" in shown  # as given, not an absolute path
    code, plan = invoke("plan", str(project.manifest))
    assert "largest task: 1 slot (" in plan and ": 1 job (1 text2image)" in plan
    code, status = invoke("status", str(project.manifest))
    assert "in flight: 0 slots" in status and ": 1 job: 1 downloaded" in status
