"""The commands on a shared PostgreSQL state: ``--state postgresql://...`` and ``KBATCH_STATE``,
what ``status`` tells of the account and its runners, and clear words for a wrong password or a
host with other inputs, never the password itself."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from click.testing import CliRunner

from kbatch.cli.app import cli
from kbatch.intake import check_manifest, fingerprints
from kbatch.simulator import Simulator
from kbatch.store.postgres import PostgresStore, manifest_fingerprint
from kbatch.store.seats import RunnerSpec
from tests.project import Project, video


@pytest.fixture
def project(tmp_path: Path, threaded: Simulator, pg_state: str) -> Project:
    return Project(tmp_path, threaded, [video("a"), video("b", prompt="another")], state=pg_state)


def another_runner(project: Project, state: str, fingerprint: str | None = None) -> PostgresStore:
    """A live runner of the project's manifest in the shared state (its inputs, unless told)."""
    _, seen = check_manifest(project.manifest)
    return PostgresStore.open(
        state,
        manifest_name="t",
        account="simulator",
        fingerprint=fingerprint or manifest_fingerprint(fingerprints(seen)),
        runner=RunnerSpec(),
    )


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def test_run_then_status_report_show_and_export_on_a_shared_state(
    project: Project, pg_state: str, tmp_path: Path
) -> None:
    manifest = str(project.manifest)
    code, output = invoke("run", manifest, "--state", pg_state, "--no-progress")
    assert code == 0, output
    assert "2 of 2 jobs done" in output

    code, status = invoke("status", manifest, env={"KBATCH_STATE": pg_state})
    assert code == 0, status
    assert "2 jobs: 2 downloaded" in status
    assert "account simulator: image 0 in use / target 4 / limit 4" in status
    assert "runners: none" in status  # the run left: its row is gone

    code, output = invoke("status", manifest, "--state", pg_state, "--format", "json")
    document = json.loads(output)
    assert document["account"]["slots"]["video"] == {"in_use": 0, "target": 4, "limit": 4}
    assert document["account"]["runners"] == []

    code, csv = invoke("report", manifest, "--state", pg_state)
    assert code == 0 and csv.count("\n") == 3 and ",downloaded," in csv
    host = csv.splitlines()[1].split(",")[13]
    assert host  # the machine that holds the file

    code, shown = invoke("show", manifest, "a", "--state", pg_state)
    assert code == 0 and "downloaded" in shown

    code, output = invoke(
        "export", manifest, "--state", pg_state, "--format", "hf", "-o", str(tmp_path / "ds")
    )
    assert code == 0, output
    assert len(list((tmp_path / "ds" / "videos").glob("*/*.mp4"))) == 2


def test_wrong_credentials_exit_1_with_clear_words_and_no_password(project: Project) -> None:
    parts = urlsplit(project.state or "")
    wrong = urlunsplit(
        (
            parts.scheme,
            f"{parts.username}:hunter2-xyz@{parts.hostname}:{parts.port}",
            parts.path,
            "",
            "",
        )
    )

    code, output = invoke("run", str(project.manifest), "--state", wrong)

    assert code == 1
    assert "cannot open the state database" in output and "password authentication failed" in output
    assert "hunter2-xyz" not in output and ":***@" in output


def test_a_second_runner_says_who_else_runs_the_manifest(project: Project, pg_state: str) -> None:
    other = another_runner(project, pg_state)
    try:
        code, output = invoke("run", str(project.manifest), "--state", pg_state, "--no-progress")
    finally:
        other.close()

    assert code == 0, output
    assert "sharing " in output and "with another runner: pid " in output


def test_a_host_with_other_inputs_is_refused_while_another_runs(
    project: Project, pg_state: str
) -> None:
    other = another_runner(project, pg_state, fingerprint="elsewhere")
    try:
        code, output = invoke("run", str(project.manifest), "--state", pg_state)
    finally:
        other.close()

    assert code == 1
    assert "running elsewhere with other jobs or inputs" in output
    assert "every host must run the same manifest and input files" in output
    assert not project.sim.log  # nothing was sent


def test_a_lease_too_short_for_a_create_is_refused_before_anything(
    project: Project, pg_state: str
) -> None:
    code, output = invoke("run", str(project.manifest), "--state", pg_state, "--lease", "30")

    assert code == 2
    assert "--lease 30s is too short: a create may take 70s" in output
    assert not project.sim.log


def test_a_role_without_a_shared_state_is_refused(tmp_path: Path, threaded: Simulator) -> None:
    made = Project(tmp_path, threaded, [video("a")], state=None)

    code, output = invoke("run", str(made.manifest), "--role", "download")

    assert code == 2 and "--role download needs a shared state" in output
    assert not threaded.log


def test_the_database_password_is_never_printed_nor_written(
    project: Project, pg_state: str
) -> None:
    secret = urlsplit(pg_state).password
    assert secret
    outputs = [
        invoke("run", str(project.manifest), "--state", pg_state, "--log-format", "json")[1],
        invoke("run", str(project.manifest), "--state", pg_state, "--retry-failed")[1],
        invoke("status", str(project.manifest), "--state", pg_state, "--format", "json")[1],
        invoke("report", str(project.manifest), "--state", pg_state, "--format", "json")[1],
        invoke("show", str(project.manifest), "a", "--state", pg_state)[1],
    ]
    written = [path.read_bytes() for path in project.out.rglob("*") if path.is_file()]

    assert all(secret not in text for text in outputs)
    assert all(secret.encode() not in data for data in written)
    marker = (project.out / ".kbatch-state").read_text()
    assert ":***@" in marker  # the output folder names its state without the password


def test_status_while_runners_work_names_them(project: Project, pg_state: str) -> None:
    other = another_runner(project, pg_state)
    try:
        code, status = invoke("status", str(project.manifest), "--state", pg_state)
    finally:
        other.close()

    assert code == 0, status  # the manifest is registered: its state exists, with no job yet
    assert "runners:" in status and " (all, manifest t): heartbeat " in status
    assert "holds 0 jobs" in status


def test_plan_reads_the_shared_state_without_showing_its_password(
    project: Project, pg_state: str
) -> None:
    manifest = str(project.manifest)
    code, output = invoke("plan", manifest, "--state", pg_state)
    assert code == 0 and "state: none yet (nothing has run)" in output  # not run on it yet

    assert invoke("run", manifest, "--state", pg_state, "--no-progress")[0] == 0
    code, output = invoke("plan", manifest, env={"KBATCH_STATE": pg_state})

    assert code == 0 and "state: 2 downloaded (postgresql://" in output
    secret = urlsplit(pg_state).password
    assert secret and secret not in output and ":***@" in output
    code, output = invoke("plan", manifest, "--state", pg_state, "--format", "json")
    assert code == 0 and json.loads(output)["state"]["counts"]["downloaded"] == 2
