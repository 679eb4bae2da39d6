"""The record kinds end to end through the real CLI on the simulator (issue 31, slice
"records"): subject views of a made picture, a voice of a made Kling 2.6 video with sound, an
element of the picture and its views bound to that voice, and the element cast by text2image,
omni_image, image2video and omni_video. Every file lands on disk (records as JSON with the ids
Kling gave, trial files beside them), each reference sends what its field names (the views'
URLs, the voice id, the element id as a number on /v1 and as Kling's new API takes it), and a
rerun sends nothing. Also ``kbatch presets``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kbatch.simulator import Simulator
from tests.project import Project, invoke

SPEAKING = {"model_name": "kling-v2-6", "mode": "pro", "sound": "on"}
CAST = [{"element_id": "job:hero"}]
JOBS: list[dict[str, Any]] = [
    {"kind": "text2image", "id": "still", "prompt": "a knight", "aspect_ratio": "1:1"},
    {"kind": "subject_completion", "id": "views", "element_frontal_image": "job:still"},
    {"kind": "image2video", "id": "clip", "image": "ok.png", "prompt": "he speaks"} | SPEAKING,
    {"kind": "voice", "id": "narrator", "voice_name": "Narrator", "video_id": "job:clip"},
    {"kind": "element", "id": "hero", "element_name": "Hero", "reference_type": "image_refer"}
    | {"element_description": "a knight in silver armour", "element_voice_id": "job:narrator"}
    | {
        "element_image_list": {
            "frontal_image": "job:still",
            "refer_images": [{"image_url": f"job:views#{n}"} for n in range(3)],
        }
    },
    {"kind": "text2image", "id": "scene", "prompt": "<<<element_1>>> at dusk"}
    | {"model_name": "kling-v3", "element_list": CAST},
    {"kind": "omni_image", "id": "portrait", "prompt": "<<<element_1>>>", "element_list": CAST},
    {"kind": "image2video", "id": "turns", "image": "ok.png", "model_name": "kling-v3"}
    | {"prompt": "the knight turns", "element_list": CAST},
    {"kind": "omni_video", "id": "rides", "prompt": "@element_1 rides", "element_list": CAST}
    | {"aspect_ratio": "16:9", "duration": 5},
    {"kind": "image2video", "id": "talks", "image": "ok.png", "prompt": "<<<voice_1>>> hello"}
    | SPEAKING
    | {"voice_list": [{"voice_id": "job:narrator"}]},
]
#: Files: still 1, views 3, clip 1, narrator 2 (record, trial), hero 2, and 1 each after.
FILES = 1 + 3 + 1 + 2 + 2 + 5


def test_records_run_end_to_end_and_a_rerun_sends_nothing(
    tmp_path: Path, threaded: Simulator, backend: str
) -> None:
    """On either state backend (records are kept in the media rows of both)."""
    project = Project(tmp_path, threaded, JOBS)
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert f"{len(JOBS)} of {len(JOBS)} jobs done" in output
    assert project.check_files() == FILES

    made = dict(project.query("SELECT job_id, made_id FROM media WHERE made_id IS NOT NULL"))
    tasks = dict(project.query("SELECT id, task_id FROM jobs"))
    blocks, others = threaded.blocks.made.tasks, threaded.store.tasks
    voice = json.loads((project.out / "narrator" / "0.json").read_text())
    element = json.loads((project.out / "hero" / "0.json").read_text())
    assert voice["voice_id"] == made["narrator"] and voice["name"] == "Narrator"
    assert (project.out / "narrator" / voice["trial_file"]).is_file()
    assert element["element_id"] == made["hero"] and element["voice_id"] == made["narrator"]
    assert (project.out / "hero" / element["trial_file"]).is_file()

    assert blocks[tasks["narrator"]].fields["video_id"] == made["clip"]  # the clip's id
    hero = blocks[tasks["hero"]].fields
    query = "SELECT \"index\", url FROM media WHERE job_id = 'views' AND variant = ''"
    views = dict(project.query(query))
    assert [item["image_url"] for item in hero["element_image_list"]["refer_images"]] == [
        views[n] for n in range(3)
    ]
    assert hero["element_voice_id"] == made["narrator"]
    number = int(made["hero"])  # Kling's /v1 examples send an element id as a number
    for job_id in ("scene", "portrait", "turns"):
        assert others[tasks[job_id]].request.fields["element_list"] == [{"element_id": number}]
    assert others[tasks["talks"]].request.fields["voice_list"] == [{"voice_id": made["narrator"]}]

    gallery = (project.out / "index.html").read_text(encoding="utf-8")
    assert 'href="hero/0.json">element record</a>' in gallery

    export = tmp_path / "dataset"
    code, output = invoke("export", str(project.manifest), "-o", str(export))
    assert code == 0, output
    lines = (export / "elements" / "metadata.jsonl").read_text().splitlines()
    assert [json.loads(line)["element_id"] for line in lines] == [made["hero"]]

    creates = sum(e.method == "POST" for e in threaded.log)
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert sum(e.method == "POST" for e in threaded.log) == creates  # the rerun sent nothing


def test_presets_lists_the_voices_and_elements(tmp_path: Path, threaded: Simulator) -> None:
    project = Project(tmp_path, threaded, JOBS[:1])
    code, output = invoke("presets", "voices", str(project.manifest))
    assert code == 0, output
    assert "4 preset voices of provider simulator" in output
    assert "  oversea_male1  Oversea Male 1, en, trial: http://127.0.0.1:" in output
    code, output = invoke("presets", "elements", str(project.manifest), "--format", "json")
    assert code == 0, output
    items = json.loads(output)["items"]
    assert [item["id"] for item in items][:1] == ["829836802793406551"]
    assert items[0]["name"] == "Explorer" and items[0]["trial_url"] is None


def test_presets_refuses_what_it_does_not_list(tmp_path: Path, threaded: Simulator) -> None:
    project = Project(tmp_path, threaded, JOBS[:1])
    code, output = invoke("presets", "effects", str(project.manifest))
    assert code == 2 and "'effects' is not one of 'voices', 'elements'" in output
