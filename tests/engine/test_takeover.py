"""A runner that claimed a job and died, on a shared state: once its lease lapses, the next
runner looks the job up by the external task id the dead one recorded, and adopts the task if
the create had landed, or creates it with that same id if it had not. Never a second task."""

from __future__ import annotations

from pathlib import Path

from kbatch.engine.options import RunOptions
from kbatch.intake import check_manifest, fingerprints
from kbatch.provider.auth import BearerKey
from kbatch.provider.catalogue import PROVIDERS, JobKind, PackType, ProviderName
from kbatch.provider.client import Client
from kbatch.provider.transport import Timeouts
from kbatch.run import prepare
from kbatch.simulator import Simulator
from kbatch.store import JobRow, JobState, external_task_id
from kbatch.store.postgres import PostgresStore, manifest_fingerprint
from kbatch.store.records import AttemptRow
from kbatch.store.seats import RunnerSpec
from tests import shared
from tests.conftest import request_of
from tests.project import Project, video

LEASE = 3.0
QUICK = Timeouts(connect=1.0, read=1.0, download_read=1.0)


async def claimed_by_a_runner_that_dies(project: Project, state: str) -> JobRow:
    """Register the manifest's jobs, then claim job "a" as another runner would, and leave its
    lease to lapse (its process 'dies' before it lets the job go)."""
    with prepare(project.manifest, RunOptions(state_path=state, lease=LEASE, timeouts=QUICK)):
        pass  # the manifest and its jobs are in the shared state, all pending
    _, seen = check_manifest(project.manifest)
    store = PostgresStore.open(
        state,
        manifest_name="t",
        account="simulator",
        fingerprint=manifest_fingerprint(fingerprints(seen)),
        runner=RunnerSpec(lease=LEASE),
    )
    runner = store.runner
    assert runner is not None
    await runner.join(slot_limit=4)

    def make(current: JobRow) -> tuple[JobRow, AttemptRow]:
        external = external_task_id(store.salt, current.id, current.fingerprint, 1)
        row = current.submitting(external, now=1.0)
        return row, AttemptRow(row.id, 1, external, started_at=1.0)

    claim = await runner.claim("a", make, pack=PackType.VIDEO, budget=None, rate_step=0.0)
    assert claim.row is not None
    runner._pool, pool = None, runner._pool  # it dies: no leave, the lease runs out by itself
    await pool.close()
    store.close()
    shared.query(state, "UPDATE jobs SET lease_until = now() - interval '1 second' RETURNING 1")
    return claim.row


async def test_a_claim_whose_create_never_went_out_is_created_with_the_same_id(
    tmp_path: Path, live: Simulator, pg_state: str
) -> None:
    project = Project(tmp_path, live, [video("a"), video("b", prompt="another")], state=pg_state)
    dead = await claimed_by_a_runner_that_dies(project, pg_state)

    result = await project.run(state_path=pg_state, lease=LEASE, timeouts=QUICK)

    assert result.exit_code == 0
    assert live.creates[dead.external_task_id or ""] == 1  # the dead runner's id, sent once
    assert sum(live.creates.values()) == 2
    rows = project.rows()
    assert rows["a"].external_task_id == dead.external_task_id and rows["a"].attempt == 1
    assert [e.job for e in project.named("taken_over")] == ["a"]


async def test_a_claim_whose_create_landed_is_adopted_not_sent_again(
    tmp_path: Path, live: Simulator, pg_state: str
) -> None:
    project = Project(tmp_path, live, [video("a"), video("b", prompt="another")], state=pg_state)
    dead = await claimed_by_a_runner_that_dies(project, pg_state)
    spec = PROVIDERS[ProviderName.KLING]
    async with Client(spec, auth=BearerKey("k"), base_url=live.url) as client:  # it got that far
        request = request_of(JobKind.IMAGE2VIDEO, prompt="a cat yawns")
        external = str(dead.external_task_id)
        await client.create(JobKind.IMAGE2VIDEO, request, external_task_id=external)

    result = await project.run(state_path=pg_state, lease=LEASE, timeouts=QUICK)

    assert result.exit_code == 0
    assert live.creates[dead.external_task_id or ""] == 1  # adopted: never sent again
    assert project.rows()["a"].state is JobState.DOWNLOADED
    assert any(e.job == "a" for e in project.named("adopted"))
