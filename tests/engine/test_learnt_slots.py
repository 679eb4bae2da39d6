"""Slots Kling counts only when a task ends: an omni-image series of ``auto`` size holds one
slot per image it makes. The first reserves the most it may make (9); once one has ended, jobs
like it reserve what it really held, so the account's slots are not kept idle for images never
made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kbatch.engine.assembly import assemble
from kbatch.engine.clock import SystemClock
from kbatch.engine.options import RunOptions
from kbatch.provider.catalogue import PACK
from kbatch.provider.connect import connect
from kbatch.run import prepare
from kbatch.simulator import Simulator
from tests.project import Project

SERIES: dict[str, Any] = {
    "kind": "omni_image",
    "model_name": "kling-v3-omni",
    "image_list": ["ok.png"],
    "result_type": "series",
    "series_amount": "auto",
}


async def test_an_auto_series_reserves_what_one_like_it_really_held(
    tmp_path: Path, live: Simulator
) -> None:
    jobs = [{**SERIES, "id": "a", "prompt": "a fox"}, {**SERIES, "id": "b", "prompt": "a cat"}]
    jobs.append({**SERIES, "id": "four", "prompt": "a owl", "series_amount": 4})
    project = Project(tmp_path, live, jobs)
    project.limits["max_in_flight"] = 9
    project.save()
    with prepare(project.manifest, RunOptions()) as plan:
        async with connect(plan.batch.manifest.provider) as provider:
            run = assemble(
                plan.batch,
                provider,
                project.events.append,
                clock=SystemClock(),
                adopted=lambda row, before: None,
                lost=lambda job_id: None,
            )
            a, b, four = (plan.batch.rows[job_id] for job_id in ("a", "b", "four"))
            assert (run.need(a), run.need(b), run.need(four)) == (9, 9, 4)  # nothing learnt

            run.learn(a, 3)  # a ended having made 3 images
            assert run.need(b) == 3 and run.need(four) == 4  # another size: its own key
            hold = await run.admit(b)
            assert hold is not None and hold.slots == 3
            assert run.slots[PACK[b.kind]].used == 3

            run.learn(b, 5)  # the most seen counts: a later one may make as many
            assert run.need(a) == 5
            run.learn(a, 2)
            assert run.need(b) == 5
