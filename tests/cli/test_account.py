"""``kbatch account`` and the dry run's view of the account, against the simulator's
``GET /account/costs``: one request, what each pack has left, how old the figures may be; a
provider that does not serve it is named, and a dry run stands without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kbatch.simulator import Simulator
from tests.project import Project, invoke, video


@pytest.fixture
def project(tmp_path: Path, threaded: Simulator) -> Project:
    return Project(tmp_path, threaded, [video("a"), video("b", prompt="another")])


def costs_asked(sim: Simulator) -> int:
    return sum(1 for exchange in sim.log if exchange.path == "/account/costs")


def test_account_shows_each_pack_left_after_a_run_and_how_old_that_may_be(
    project: Project,
) -> None:
    code, output = invoke("run", str(project.manifest), "--no-progress")
    assert code == 0, output

    code, output = invoke("account", str(project.manifest))

    assert code == 0, output
    assert "up to 12 hours ago" in output
    assert "Video Generation - simulator (video): 9998 of 10000 units left, online" in output
    assert "Image Generation - simulator (image): 10000 of 10000 units left" in output
    assert "left in packs in effect: image 10000, video 9998" in output
    assert costs_asked(project.sim) == 1  # the route allows one a second: the command asks once


def test_account_speaks_json(project: Project) -> None:
    code, output = invoke("account", str(project.manifest), "--format", "json")

    assert code == 0, output
    document = json.loads(output)
    assert document["remaining"] == {"image": 10000.0, "video": 10000.0}
    assert document["lag_hours"] == 12
    video_pack = next(p for p in document["packs"] if p["pack_type"] == "video")
    assert video_pack["status"] == "online" and video_pack["expires"][:2] == "20"


def test_a_provider_that_does_not_serve_the_account_route_is_named(project: Project) -> None:
    project.provider["name"] = "cometapi"  # a gateway: no /account/costs
    project.save()

    code, output = invoke("account", str(project.manifest))

    assert code == 2 and "cometapi does not serve /account/costs" in output
    assert costs_asked(project.sim) == 0


def test_a_dry_run_shows_the_estimate_beside_what_is_left(project: Project) -> None:
    code, output = invoke("run", str(project.manifest), "--dry-run")

    assert code == 0, output
    assert "video pack: this batch ~2 units; left on the account: 10000" in output
    assert "up to 12 hours ago" in output
    assert "nothing was sent or written, but for one GET /account/costs" in output
    assert [x.path for x in project.sim.log] == ["/account/costs"]
    assert not project.state_file.exists()


def test_a_dry_run_that_cannot_ask_says_why_and_stands(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.provider["name"] = "cometapi"
    project.save()
    monkeypatch.setenv("COMETAPI_KEY", "sk-test-not-a-secret")

    code, output = invoke("run", str(project.manifest), "--dry-run")

    assert code == 0, output
    assert "left on the account: not asked (cometapi does not serve /account/costs" in output
    assert "would submit:        2" in output and not project.sim.log
