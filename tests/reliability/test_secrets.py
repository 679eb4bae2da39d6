"""Runs with distinctive fake credentials (a Bearer key for Kling and for CometAPI, a JWT key
pair, a wrong key), with faults and failures to make error messages: then every log line, report,
state file byte and command output is searched for the credentials, plainly and in base64, and
for any bearer token. None is found."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kbatch.cli.app import cli
from kbatch.simulator import FAIL, UNSAFE, Fault, FaultPlan, Op, SimulatorConfig, running
from tests.project import Project, expand, video
from tests.reliability.conftest import FIGURES

KEY = "sk-KBATCH-LEAK-CANARY-7f3a9c1e5b"
ACCESS = "AK-KBATCH-LEAK-CANARY-2d8e"
SECRET = "SK-KBATCH-LEAK-CANARY-b41f6a0c99e2"
WRONG = "sk-KBATCH-WRONG-CANARY-0c0ffee"
CREDENTIAL_VARIABLES = ("KLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY", "COMETAPI_KEY")


def forms(secret: str) -> list[bytes]:
    """A secret as it could leak: plain, base64 and base64url of it (at any alignment)."""
    raw = secret.encode()
    out = [raw]
    for shift in range(3):
        padded = b"\0" * shift + raw
        encoded = base64.b64encode(padded)[4 if shift else 0 :][:-4]
        out += [encoded, encoded.replace(b"+", b"-").replace(b"/", b"_")]
    return [form for form in out if len(form) >= 12]


def leaks(blobs: dict[str, bytes], secrets: list[str]) -> list[str]:
    found = []
    for name, blob in blobs.items():
        for secret in secrets:
            if any(form in blob for form in forms(secret)):
                found.append(f"{secret} in {name}")
        if b"Bearer " in blob or b"eyJhbGciOi" in blob:  # an Authorization header, a JWT
            found.append(f"a token in {name}")
    return found


def counted(found: list[str], searched: int) -> list[str]:
    FIGURES["outputs searched for secrets"] += searched
    FIGURES["secrets leaked (must be 0)"] += len(found)
    return found


def test_the_search_finds_a_planted_secret() -> None:
    planted = {
        "plain": b"error: " + KEY.encode() + b" refused",
        "base64": base64.b64encode(b"Authorization: " + KEY.encode()),
        "base64url, shifted": base64.urlsafe_b64encode(b"ab" + SECRET.encode()),
        "header": b"sent Bearer abc",
        "clean": b"nothing to see",
    }
    assert leaks(planted, [KEY, SECRET]) == [
        f"{KEY} in plain",
        f"{KEY} in base64",
        f"{SECRET} in base64url, shifted",
        "a token in header",
    ]


async def run_child(project: Project, env: dict[str, str], *args: str) -> tuple[int, bytes]:
    clean = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kbatch",
        "run",
        str(project.manifest),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**clean, **env},
        cwd=project.root,
    )
    output, _ = await child.communicate()
    assert child.returncode is not None
    return child.returncode, output


def use_provider(project: Project, name: str) -> None:
    """Talk to the simulator as this provider (its base_url stays the simulator's)."""
    text = project.manifest.read_text(encoding="utf-8")
    project.manifest.write_text(text.replace("name: simulator", f"name: {name}"), encoding="utf-8")


def everything_written(project: Project) -> dict[str, bytes]:
    """Every file the runs left, and what status and report print."""
    blobs = {str(p): p.read_bytes() for p in project.root.rglob("*") if p.is_file()}
    runner = CliRunner()
    for args in (["status"], ["report", "--format", "json"], ["report", "--format", "html"]):
        result = runner.invoke(cli, [args[0], str(project.manifest), *args[1:]])
        blobs[" ".join(args)] = result.output.encode()
    return blobs


JOBS = [
    video("ok"),
    video("broken", f"{FAIL} x"),
    video("refused", f"{UNSAFE} x"),
    expand("wide", n=2),
]


def faults() -> FaultPlan:
    """A few errors whose messages go into the logs (each once: a child run backs off for real)."""
    plan = FaultPlan()
    plan.script(Op.CREATE, Fault.SERVER_ERROR)
    plan.script(Op.CREATE, Fault.RATE_LIMIT)
    plan.script(Op.GET, Fault.HTML)
    plan.script(Op.DOWNLOAD, Fault.TRUNCATE)
    return plan


@pytest.mark.parametrize(
    ("provider", "env", "config"),
    [
        ("kling", {"KLING_API_KEY": KEY}, {"api_key": KEY}),
        ("cometapi", {"COMETAPI_KEY": KEY}, {"api_key": KEY}),
        (
            "kling",
            {"KLING_ACCESS_KEY": ACCESS, "KLING_SECRET_KEY": SECRET},
            {"access_key": ACCESS, "secret_key": SECRET},
        ),
    ],
    ids=["kling-key", "cometapi-key", "kling-jwt"],
)
async def test_no_credential_reaches_a_log_report_state_or_error(
    tmp_path: Path, provider: str, env: dict[str, str], config: dict[str, str]
) -> None:
    settings = SimulatorConfig(task_seconds=0.05, retry_after=0.01, faults=faults(), videos=False)
    for name, value in config.items():
        setattr(settings, name, value)
    async with running(settings) as sim:
        project = Project(tmp_path, sim, list(JOBS))
        use_provider(project, provider)
        code, text_log = await run_child(project, env, "--no-progress")
        _, json_log = await run_child(project, env, "--log-format", "json", "--retry-failed")
        assert code == 1, text_log.decode()  # two jobs fail: their errors are in every output
        assert b"code 1301" in text_log + json_log and b"sim:fail" in text_log + json_log
        assert sum(sim.injected.values()) > 0

        blobs = everything_written(project)
        blobs |= {"text log": text_log, "json log": json_log}
        assert counted(leaks(blobs, [KEY, ACCESS, SECRET]), len(blobs)) == []


async def test_a_wrong_key_is_refused_without_being_echoed(tmp_path: Path) -> None:
    async with running(SimulatorConfig(task_seconds=0.05, api_key=KEY, videos=False)) as sim:
        project = Project(tmp_path, sim, [video("a")])
        use_provider(project, "kling")
        code, output = await run_child(project, {"KLING_API_KEY": WRONG})

        assert code == 1, output.decode()
        assert b"check KLING_API_KEY in the environment" in output  # the variable it came from
        blobs = everything_written(project) | {"output": output}
        assert counted(leaks(blobs, [WRONG, KEY]), len(blobs)) == []
