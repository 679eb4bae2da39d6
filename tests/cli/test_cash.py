"""Charges in cash and charges of failed tasks, counted by the budget, through ``kbatch run`` and
``kbatch status`` against the simulator: a task paid from the account's balance (wholly, or
split between units and cash) counts its price in Kling's units table against a units budget;
cash is kept per currency and balance; a failed task Kling bills with ``billing: []`` (the /v1
routes: ``final_unit_deduction: "0"``) was charged nothing, on both APIs alike."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kbatch.simulator import FAIL, Simulator, SimulatorConfig
from kbatch.store.records import Charged
from tests.conftest import in_a_thread
from tests.project import Project, invoke

TURBO = "kling-3.0-turbo"  # 5 s at 720p: estimated at 4 units, priced 4 units (0.8/s)


def turbo(job_id: str, prompt: str = "a cat on a sofa") -> dict[str, Any]:
    return {"id": job_id, "kind": "text2video", "model_name": TURBO, "prompt": prompt}


def paying(how: str, cash_type: str = "balance") -> Iterator[Simulator]:
    config = SimulatorConfig(task_seconds=0.05, payment=how, cash_type=cash_type)
    with in_a_thread(config) as simulator:
        yield simulator


@pytest.fixture(params=["cash", "split"])
def cashier(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    """A simulator whose account pays every task from its USD balance, or half in units."""
    yield from paying(request.param)


def test_a_task_paid_in_cash_counts_its_price_against_the_units_budget(
    tmp_path: Path, cashier: Simulator, backend: str
) -> None:
    """The issue's figures: three Kling 3.0 Turbo jobs estimated at 4 units under a video
    budget of 6. Counted as 0 units (cash only) or 2 (split), the first left room for more;
    counted at its price, 4, it leaves none, on every run."""
    project = Project(tmp_path, cashier, [turbo("a"), turbo("b", "b"), turbo("c", "c")])
    project.limits["budget_units"] = {"video": 6}
    project.save()

    for _ in range(2):
        code, output = invoke("run", str(project.manifest), "--no-progress")
        assert code == 1 and "video jobs were not started" in output, output
        assert "estimated" not in output  # paid in cash is a charge reported, not an estimate

    assert sum(cashier.creates.values()) == 1  # one task started, over both runs
    rows = project.rows()
    assert [rows[i].state.value for i in "abc"] == ["downloaded", "pending", "pending"]
    paid = rows["a"]
    assert (paid.units, paid.charged) == (4.0, Charged.REPORTED)
    split = cashier.config.payment == "split"
    assert paid.charged_units == (2.0 if split else None)  # what the pack itself paid
    cash = 0.28 if split else 0.56  # the rest, at the page's $0.14 a unit
    assert (paid.charged_amount, paid.charged_currency) == (cash, "USD")

    code, output = invoke("status", str(project.manifest), "--format", "json")
    status = json.loads(output)
    current = status["totals"]["current"]
    assert current["units"] == {"video": 4.0}
    assert current["cash"] == {"USD": cash}


def test_test_balance_cash_is_kept_apart_from_the_real_balance(
    tmp_path: Path, threaded: Simulator
) -> None:
    """Kling bills the test quota as ``cash_type: test_balance``: never added to the balance."""
    project = Project(tmp_path, threaded, [turbo("a")])
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output
    for number, cash_type in enumerate(("test_balance", "balance")):
        config = SimulatorConfig(task_seconds=0.05, payment="cash", cash_type=cash_type)
        with in_a_thread(config) as simulator:
            project.sim = simulator
            project.jobs.append(turbo(f"cash{number}", f"prompt {number}"))
            project.save()
            code, output = invoke("run", str(project.manifest), "--no-progress")
            assert code == 0, output

    code, output = invoke("status", str(project.manifest), "--format", "json")
    status = json.loads(output)
    current = status["totals"]["current"]
    assert current["units"] == {"video": 12.0}  # 4 in units, 4 and 4 paid in cash
    assert current["cash"] == {"USD": 0.56, "USD test_balance": 0.56}


@pytest.mark.parametrize("api", ["new", "legacy"])
def test_a_failed_task_is_charged_nothing_on_either_api(
    tmp_path: Path, threaded: Simulator, api: str
) -> None:
    """The issue's figures: under a video budget of 8, one failed and one good job estimated
    at 4 units; the next job must still start (in the next run: a run does not wait on the
    budget). Kling 3.0 at 720p, silent: the simulator charges 3 units for a good one."""

    def three(job_id: str, prompt: str) -> dict[str, Any]:
        return {"id": job_id, "kind": "text2video", "model_name": "kling-v3", "prompt": prompt}

    jobs = [three("bad", f"x {FAIL}"), three("good", "a cat"), three("next", "a dog")]
    project = Project(tmp_path, threaded, jobs, provider={"api": api})
    project.limits.update(max_attempts=1, max_in_flight=2, budget_units={"video": 8})
    project.extra["pricing"] = {"image2video": {"kling-v3": {"std": 4}}}  # text2video too
    project.save()

    for expected in (1, 4):  # "bad" failed for good; then only that old failure is left
        code, output = invoke("run", str(project.manifest), "--no-progress")
        assert code == expected, output

    rows = project.rows()
    states = [rows[i].state.value for i in ("bad", "good", "next")]
    assert states == ["failed", "downloaded", "downloaded"], output
    failed = rows["bad"]
    assert (failed.units, failed.charged, failed.charged_units) == (0.0, Charged.REPORTED, 0.0)
    (attempt,) = project.query("SELECT units, charged, target FROM attempts WHERE job_id = 'bad'")
    assert attempt == (0.0, "reported", "text-to-video/kling-3.0" if api == "new" else "v1")
