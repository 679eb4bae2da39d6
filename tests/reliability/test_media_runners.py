"""Two ``kbatch run`` children at once on one shared PostgreSQL state, their local videos going
through a media store (moto's S3 server on loopback): each file is uploaded exactly once (the
state's upload claims keep the second runner from sending it again), every job is created once
and every result is on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbatch.simulator import SimulatorConfig, running
from tests.engine.test_media_store import local_jobs, project
from tests.objectstore import s3_server
from tests.project import spawn
from tests.reliability.checks import exactly_once, settle

CHILD = ("--no-progress", "--lease", "6", "--request-timeout", "2")


async def test_two_runners_upload_each_file_once(
    tmp_path: Path, pg_state: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SimulatorConfig(task_seconds=0.5, seed=11, latency=(0.0, 0.02))
    with s3_server(monkeypatch) as s3:  # the children inherit its AWS environment
        async with running(config) as sim:
            proj = project(tmp_path, sim, {"store": f"s3://{s3.bucket}/shared"})
            motion, omni = local_jobs()[0], local_jobs()[2]
            proj.jobs = [{**motion, "id": f"motion-{i}"} for i in range(4)]
            proj.jobs += [{**omni, "id": f"omni-{i}"} for i in range(2)]
            proj.state = pg_state
            proj.limits.update(max_in_flight=2)
            proj.save()
            children = [
                await spawn(proj, *CHILD, "--state", pg_state, log=f"child{i}.log")
                for i in range(2)
            ]
            codes = [await child.wait() for child in children]
            logs = [(tmp_path / f"child{i}.log").read_text()[-2000:] for i in range(2)]
            assert all(code in (0, 1) for code in codes), logs
            runs, _ = await settle(proj)
            assert runs == 1
            exactly_once(proj, sim, files=6)
            # Two distinct files (dance.mp4, wide.mp4): one PUT each, whichever runner sent it.
            assert s3.count("PUT", ".mp4", signed=False) == 2
            assert proj.query("SELECT COUNT(*) FROM uploads") == [(2,)]
            assert s3.count("GET", ".mp4", signed=True) == 6  # each create's URL fetched
