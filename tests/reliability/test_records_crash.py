"""The record kinds (issue 31, slice "records") under kill -9 and faults: a picture, its subject
views, a voice of a Kling 2.6 video with sound and an element of the pictures bound to that
voice, run by real ``kbatch run`` children killed with SIGKILL at seeded moments while the
simulator injects lost answers, resets and cut downloads. After the last run every job was
created once (an element's or a voice's create whose answer was lost is found by its external
id, never sent again), every file holds what was served (a record: the ids Kling gave), and
the element was sent the views' URLs and the voice's id."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from kbatch.simulator import Fault, FaultPlan, Op, SimulatorConfig, running
from tests.project import Project
from tests.reliability.checks import exactly_once, injected, settle
from tests.reliability.conftest import FIGURES
from tests.reliability.test_crash import kill_until_done

CYCLES = 5
SEED = 20261231
#: Files: the picture, three views, the clip, the voice's record and trial, the element's.
FILES = 1 + 3 + 1 + 2 + 2


def record_jobs() -> list[dict[str, Any]]:
    speaking = {"model_name": "kling-v2-6", "mode": "pro", "sound": "on"}
    images = {
        "frontal_image": "job:still",
        "refer_images": [{"image_url": "job:views#0"}, {"image_url": "job:views#2"}],
    }
    return [
        {"kind": "text2image", "id": "still", "prompt": "a knight", "aspect_ratio": "1:1"},
        {"kind": "subject_completion", "id": "views", "element_frontal_image": "job:still"},
        {"kind": "image2video", "id": "clip", "image": "ok.png", "prompt": "he speaks"} | speaking,
        {"kind": "voice", "id": "narrator", "voice_name": "Narrator", "video_id": "job:clip"},
        {"kind": "element", "id": "hero", "element_name": "Hero", "reference_type": "image_refer"}
        | {"element_description": "a knight", "element_image_list": images}
        | {"element_voice_id": "job:narrator"},
    ]


async def test_records_killed_at_random_moments_are_made_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    faults = FaultPlan(
        rates={Fault.RESET_AFTER: 0.05, Fault.TIMEOUT_AFTER_CREATE: 0.1, Fault.TRUNCATE: 0.05},
        seed=SEED,
    )
    config = SimulatorConfig(
        task_seconds=0.3, seed=SEED, latency=(0.0, 0.03), faults=faults, videos=False
    )
    # every job's first create is made and its answer lost: looked up, never sent again
    faults.script(Op.CREATE, Fault.TIMEOUT_AFTER_CREATE, times=len(record_jobs()))
    async with running(config) as sim:
        project = Project(tmp_path, sim, record_jobs())
        kills = await kill_until_done(project, sim, rng, CYCLES)
        sim.arrivals.clear()
        await settle(project)
        FIGURES["records kill -9 survived"] += kills
        injected(sim)

        assert kills >= 2, f"only {kills} kills landed"
        exactly_once(project, sim, files=FILES)
        made = dict(project.query(made_ids()))
        tasks = dict(project.query("SELECT id, task_id FROM jobs"))
        hero = sim.blocks.made.tasks[tasks["hero"]]
        assert hero.fields["element_voice_id"] == made["narrator"]
        query = "SELECT \"index\", url FROM media WHERE job_id = 'views'"
        views = dict(project.query(query))
        refer = hero.fields["element_image_list"]["refer_images"]
        assert [item["image_url"] for item in refer] == [views[0], views[2]]
        record = json.loads((project.out / "hero" / "0.json").read_text())
        assert record["element_id"] == made["hero"] and record["voice_id"] == made["narrator"]


def made_ids() -> str:
    return "SELECT job_id, made_id FROM media WHERE made_id IS NOT NULL AND variant = ''"
