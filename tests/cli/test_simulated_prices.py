"""The simulator charges the vendor's prices and makes Kling's image sizes, through the CLI:
what ``kbatch plan`` estimates for a Kling Image 3.0 job is what the run is charged."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from kbatch.simulator import Simulator
from tests.project import Project, invoke


def test_an_image_job_is_charged_what_plan_estimates_at_kling_s_size(
    tmp_path: Path, threaded: Simulator
) -> None:
    project = Project(tmp_path, threaded, [])
    project.jobs = [
        {"kind": "text2image", "id": "fox", "prompt": "a red fox", "n": 2,
         "aspect_ratio": "16:9", "resolution": "2k"},
        {"kind": "text2image", "id": "owl", "prompt": "an owl", "model_name": "kling-v2-1",
         "aspect_ratio": "1:1"},
    ]  # fmt: skip
    project.save()

    code, plan = invoke("plan", str(project.manifest))
    assert code == 0 and re.search(r"total image\s+2\s+3\s+20\n", plan), plan  # 2x8 + 4
    code, output = invoke("run", str(project.manifest), "--no-progress")

    assert code == 0, output
    assert "units spent by the manifest's current jobs: image 20\n" in output
    assert "of them charged: image 20 (as the provider reported)" in output
    rows = project.rows()
    assert (rows["fox"].charged_units, rows["owl"].charged_units) == (16.0, 4.0)
    with Image.open(project.out / "fox" / "0.png") as made:
        assert made.size == (2736, 1536)  # 2k 16:9: about four megapixels, not 1024x576
    with Image.open(project.out / "owl" / "0.png") as made:
        assert made.size == (1024, 1024)  # 1k 1:1
