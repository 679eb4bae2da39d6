"""Issue 31's whole chain through the real CLI on the simulator: one job of every building
block, each fed by another's output. An element from a picture and its subject views, cast by
omni_video and text2image; speech driving an avatar by its ``audio_id``; an image2video with
sound made to speak by lip-sync (``video_id``) and given new sound by video2audio; a voice from
the lip-sync's video, bound to a second element; a sound effect. Every file lands on disk, every
reference sends the id or the URL its field names, and a rerun sends nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kbatch.simulator import Simulator
from tests.project import Project, invoke

SPEAKING = {"model_name": "kling-v2-6", "mode": "pro", "sound": "on"}
LINE = "The lighthouse keeper walks up the stairs at dusk and lights the lamp for the night."
FRONT = {"frontal_image": "job:still", "refer_images": [{"image_url": "job:views#0"}]}
JOBS: list[dict[str, Any]] = [
    {"kind": "text2image", "id": "still", "prompt": "a keeper", "aspect_ratio": "1:1"},
    {"kind": "subject_completion", "id": "views", "element_frontal_image": "job:still"},
    {"kind": "element", "id": "keeper", "element_name": "Keeper", "reference_type": "image_refer"}
    | {"element_description": "an old lighthouse keeper", "element_image_list": FRONT},
    {"kind": "omni_video", "id": "walks", "prompt": "@element_1 walks", "duration": 5}
    | {"aspect_ratio": "16:9", "element_list": [{"element_id": "job:keeper"}]},
    {"kind": "text2image", "id": "poster", "prompt": "<<<element_1>>> at the lamp"}
    | {"model_name": "kling-v3", "element_list": [{"element_id": "job:keeper"}]},
    {"kind": "tts", "id": "line", "text": LINE, "voice_id": "oversea_male1"}
    | {"voice_language": "en"},
    {"kind": "avatar", "id": "says", "image": "ok.png", "audio_id": "job:line"},
    {"kind": "image2video", "id": "clip", "image": "ok.png", "prompt": "he talks"} | SPEAKING,
    {"kind": "lip_sync", "id": "dubbed", "video_id": "job:clip", "audio_id": "job:line"},
    {"kind": "voice", "id": "narrator", "voice_name": "Keeper", "video_id": "job:dubbed"},
    {"kind": "element", "id": "voiced", "element_name": "Voiced", "reference_type": "image_refer"}
    | {"element_description": "the keeper, speaking", "element_image_list": FRONT}
    | {"element_voice_id": "job:narrator"},
    {"kind": "video2audio", "id": "scored", "video_id": "job:clip", "bgm_prompt": "waves"},
    {"kind": "text2audio", "id": "gulls", "prompt": "gulls over the sea", "duration": 4},
]
#: still 1, views 3, keeper 1, walks 1, poster 1, line 1, says 1, clip 1, dubbed 1,
#: narrator 2 (record, trial), voiced 2, scored 3 (video, mp3, wav), gulls 2 (mp3, wav).
FILES = 1 + 3 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 2 + 2 + 3 + 2


def test_every_block_chained_runs_end_to_end_and_a_rerun_sends_nothing(
    tmp_path: Path, threaded: Simulator
) -> None:
    project = Project(tmp_path, threaded, JOBS)
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert f"{len(JOBS)} of {len(JOBS)} jobs done" in output
    assert project.check_files() == FILES

    made = dict(project.query("SELECT job_id, made_id FROM media WHERE made_id IS NOT NULL"))
    tasks = dict(project.query("SELECT id, task_id FROM jobs"))
    blocks, others = threaded.blocks.made.tasks, threaded.store.tasks
    assert blocks[tasks["says"]].fields["audio_id"] == made["line"]  # the speech's audio id
    assert blocks[tasks["scored"]].fields["video_id"] == made["clip"]  # the made video's id
    assert blocks[tasks["narrator"]].fields["video_id"] == made["dubbed"]  # a lip-sync's video
    assert blocks[tasks["voiced"]].fields["element_voice_id"] == made["narrator"]
    keeper = int(made["keeper"])  # an element id goes as a number on /v1
    assert others[tasks["poster"]].request.fields["element_list"] == [{"element_id": keeper}]
    times = {
        row[0]: row[1:] for row in project.query("SELECT id, submitted_at, finished_at FROM jobs")
    }
    assert times["walks"][0] >= times["keeper"][1]  # the omni video went once the element was made
    element = json.loads((project.out / "voiced" / "0.json").read_text())
    assert element["voice_id"] == made["narrator"]

    creates = sum(e.method == "POST" for e in threaded.log)
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    assert sum(e.method == "POST" for e in threaded.log) == creates  # the rerun sent nothing
