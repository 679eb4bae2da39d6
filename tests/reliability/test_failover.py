"""Several ``kbatch run`` children on one shared PostgreSQL state and one simulator with a slot
limit, killed (SIGKILL, then restarted, as a supervisor would) and paused (SIGSTOP/SIGCONT,
sometimes past their lease) at seeded random moments: every job is created once, every file is
on disk, and the account's slots are never asked for beyond its limit (the simulator answers
1303 to any create over it: there must be none)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
from collections import Counter
from pathlib import Path

from kbatch.provider.catalogue import PACK, PackType
from kbatch.simulator import Op, Simulator, SimulatorConfig, running
from tests.project import Project, expand, spawn, video
from tests.reliability.checks import exactly_once, settle, totals_agree
from tests.reliability.conftest import FIGURES

SEED = 20261201
LIMIT = 4  # the account's parallel tasks, per pack: the simulator's and max_in_flight
LEASE = 3.0
VIDEOS, EXPANDS = 80, 8  # about 10 s of the account's slots a round, for the chaos to land in
FILES = VIDEOS + 2 * EXPANDS
KILLS, PAUSES, ROUNDS = 5, 3, 4
#: Short enough that a create always fits in three quarters of the lease (--lease checks).
CHILD = ("--no-progress", "--lease", str(LEASE), "--request-timeout", "1")


class Slots:
    """What the simulator saw: its busiest moment per pack, and its 1303 answers."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.peak: Counter[PackType] = Counter()
        sim.arrivals[:] = [self.arrived]

    def arrived(self, op: Op) -> None:
        for pack in PackType:
            self.peak[pack] = max(self.peak[pack], self.sim.store.slots_in_use(pack))

    @property
    def refused(self) -> int:
        return sum(1 for exchange in self.sim.log if exchange.code == 1303)


def jobs(prefix: str, videos: int, expands: int) -> list[dict[str, object]]:
    return [video(f"{prefix}v{i}", f"{prefix} prompt {i}") for i in range(videos)] + [
        expand(f"{prefix}e{i}", n=2) for i in range(expands)
    ]


def shared_project(root: Path, sim: Simulator, state: str, name: str, job_list: list) -> Project:  # type: ignore[type-arg]
    root.mkdir(parents=True, exist_ok=True)
    project = Project(root, sim, job_list, state=state, name=name)
    project.limits["max_in_flight"] = LIMIT
    project.provider["account"] = "acme"  # every manifest here shares one account's slots
    project.save()
    return project


async def test_three_runners_killed_and_paused_at_random_pay_once_and_keep_to_the_slots(
    tmp_path: Path, pg_state: str
) -> None:
    rng = random.Random(SEED)
    config = SimulatorConfig(
        task_seconds=0.4, seed=SEED, parallel_limit=LIMIT, latency=(0.0, 0.02), videos=False
    )
    async with running(config) as sim:  # the single-runner case, on a like account
        solo = shared_project(tmp_path / "solo", sim, pg_state, "solo", jobs("solo", 24, 0))
        assert await (await spawn(solo, *CHILD, "--state", pg_state)).wait() == 0
        alone = Slots(sim).refused
    async with running(config) as sim:
        slots = Slots(sim)
        project = shared_project(tmp_path / "shared", sim, pg_state, "t", [])
        chaos = Chaos(project, rng, (*CHILD, "--state", pg_state))
        for batch in range(ROUNDS):  # each round adds jobs: until the kills and pauses landed
            project.jobs += jobs(f"r{batch}-", VIDEOS, EXPANDS)
            project.save()
            await chaos.round()
            if chaos.kills >= KILLS and chaos.pauses >= PAUSES:
                break
        sim.arrivals.clear()
        await settle(project, state_path=pg_state)  # a last run, if the children left any
        FIGURES["failover: kills"] += chaos.kills
        FIGURES["failover: pauses"] += chaos.pauses
        FIGURES["failover: pauses past the lease"] += chaos.lapsed
        refused = slots.refused
        FIGURES["failover: 1303 answers, one runner"] += alone
        FIGURES["failover: 1303 answers, three runners (at most one runner's)"] += refused
        FIGURES["failover: jobs"] += len(project.jobs)
        FIGURES[f"failover: slot peak (limit {LIMIT})"] = max(slots.peak.values(), default=0)

        exactly_once(project, sim, files=len(project.jobs) // (VIDEOS + EXPANDS) * FILES)
        totals_agree(pg_state, project.name)
        assert refused <= alone, "more creates sent over the account's slots than one runner"
        assert refused == 0, "a create was sent over the account's slots"
        assert max(slots.peak.values(), default=0) <= LIMIT
        assert chaos.kills >= KILLS and chaos.pauses >= PAUSES, (chaos.kills, chaos.pauses)


class Chaos:
    """Three runners on one manifest; at random moments one is killed (and restarted) or
    paused for up to twice the lease, until the quotas are met or the work is done."""

    def __init__(self, project: Project, rng: random.Random, args: tuple[str, ...]) -> None:
        self.project, self.rng, self.args = project, rng, args
        self.kills = self.pauses = self.lapsed = 0

    async def round(self) -> None:
        children = [await spawn(self.project, *self.args) for _ in range(3)]
        while self.kills < KILLS or self.pauses < PAUSES:
            live = [child for child in children if child.returncode is None]
            if not live:
                break
            ending = [asyncio.ensure_future(child.wait()) for child in live]
            await asyncio.wait(ending, timeout=self.rng.uniform(0.1, 0.5))  # a random moment
            for waiting in ending:
                waiting.cancel()
            live = [child for child in children if child.returncode is None]
            if not live:
                break
            victim = self.rng.choice(live)
            if self.pauses >= PAUSES or (self.kills < KILLS and self.rng.random() < 0.6):
                victim.send_signal(signal.SIGKILL)
                await victim.wait()
                children[children.index(victim)] = await spawn(self.project, *self.args)
                self.kills += 1
            else:
                pause = self.rng.uniform(0.5, 2.0) * LEASE  # sometimes past the lease
                victim.send_signal(signal.SIGSTOP)
                with contextlib.suppress(TimeoutError):  # a paused child cannot end
                    await asyncio.wait_for(victim.wait(), pause)
                victim.send_signal(signal.SIGCONT)
                self.pauses += 1
                self.lapsed += pause > LEASE
        codes = [await child.wait() for child in children]
        log = (self.project.root / "child.log").read_text(errors="replace")
        assert all(code in (0, 1) for code in codes), (codes, log[-4000:])


async def test_two_manifests_on_one_account_share_its_slots(tmp_path: Path, pg_state: str) -> None:
    config = SimulatorConfig(
        task_seconds=0.3, seed=SEED, parallel_limit=LIMIT, latency=(0.0, 0.01), videos=False
    )
    async with running(config) as sim:
        slots = Slots(sim)
        first = shared_project(tmp_path / "a", sim, pg_state, "first", jobs("a", 16, 0))
        second = shared_project(tmp_path / "b", sim, pg_state, "second", jobs("b", 16, 0))
        children = [
            await spawn(project, *CHILD, "--state", pg_state) for project in (first, second)
        ]
        codes = [await child.wait() for child in children]

        assert codes == [0, 0], [
            (p.root / "child.log").read_text()[-3000:] for p in (first, second)
        ]
        assert slots.refused == 0
        assert slots.peak[PackType.VIDEO] == LIMIT  # both kept the account full, never over
        for project in (first, second):
            rows = project.rows()
            assert len(rows) == 16 and project.check_files() == 16
        assert sum(sim.creates.values()) == len(sim.creates) == 32
        _ = PACK


async def test_submitters_and_downloaders_split_the_work(tmp_path: Path, pg_state: str) -> None:
    config = SimulatorConfig(task_seconds=0.2, seed=SEED, parallel_limit=LIMIT, videos=False)
    async with running(config) as sim:
        project = shared_project(tmp_path, sim, pg_state, "split", jobs("s", 12, 2))
        args = (*CHILD, "--state", pg_state)
        sending = asyncio.Event()
        sim.arrivals[:] = [lambda op: sending.set()]
        submitter = await spawn(project, *args, "--role", "submit", log="submit.log")
        # a downloader that finds pending jobs and no live submitter has nothing to wait for:
        # it starts once the submitter has registered (its first request comes after that)
        await sending.wait()
        sim.arrivals.clear()
        downloader = await spawn(project, *args, "--role", "download", log="download.log")
        codes = [await submitter.wait(), await downloader.wait()]

        logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("submit", "download")}
        assert codes == [0, 0], logs
        events = {
            name: {
                json.loads(line).get("event") for line in text.splitlines() if line.startswith("{")
            }
            for name, text in logs.items()
        }
        assert "submitted" in events["submit"] and "downloaded" not in events["submit"]
        assert "downloaded" in events["download"] and "submitted" not in events["download"]
        exactly_once(project, sim, files=12 + 2 * 2)
