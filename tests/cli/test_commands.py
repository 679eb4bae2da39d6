"""The ``kbatch`` command, through click's CliRunner and as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from kbatch import __version__
from kbatch.cli.app import cli
from tests.conftest import EXAMPLES, HEADER, REPO

DEMO = REPO / "manifests" / "demo.yaml"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_validate_a_valid_manifest() -> None:
    code, out, _ = run("validate", str(DEMO))
    assert code == 0
    kinds = (
        "1 avatar, 1 element, 7 image2video, 1 image_expand, 1 lip_sync, 1 motion_control, "
        "1 multi_image2image, 1 omni_image, 2 omni_video, 1 subject_completion, 1 text2audio, "
        "3 text2image, 2 text2video, 1 tts, 1 video2audio, 1 video_effects, 1 voice"
    )
    assert out == f"{DEMO}: valid, 27 jobs ({kinds})\n"


def test_validate_prints_every_problem_located_and_exits_2() -> None:
    case = EXAMPLES / "invalid" / "duration-invalid.yaml"
    code, out, err = run("validate", str(case))
    assert code == 2
    seconds = ", ".join(f'"{n}"' for n in range(3, 16))  # kling-v3 makes 3 to 15 s
    assert out == f"{case}:7:15: $.jobs[0].duration: 20 is not one of {seconds}\n"
    assert err == f"{case}: 1 problem\n"


def test_validate_reports_all_problems_of_a_manifest_at_once(write: Callable[..., Path]) -> None:
    path = write(
        "m.yaml",
        "version: 2\nname: t\nprovider: nope\nlimits: {max_in_flight: 0}\njobs:\n"
        "  - {kind: image2video, image: gone.png, duration: 7}\n"
        "  - {kind: image_expand, image: gone.png, n: 12}\n"
        "  - {kind: image_expand, image: gone.png, n: 9,\n"
        "     left_expansion_ratio: 2, up_expansion_ratio: 1}\n",
    )
    code, out, _ = run("validate", str(path))
    assert code == 2
    assert [line.split(": ", 2)[1] for line in out.splitlines()] == [
        "$.version",
        "$.provider",
        "$.limits.max_in_flight",
        "$.jobs[0].image",
        "$.jobs[0].duration",  # 7 s: kling-v3's, not kling-v1's (the capability map)
        "$.jobs[1].image",  # said even though the job's n is broken: every problem at once
        "$.jobs[1].n",
        "$.jobs[2]",  # the area: jobs are checked even though the settings are broken
        "$.jobs[2].image",
    ]


def test_validate_several_manifests_fails_if_any_fails() -> None:
    code, out, _ = run("validate", str(DEMO), str(EXAMPLES / "invalid" / "mode-invalid.yaml"))
    assert code == 2
    assert f"{DEMO}: valid" in out
    assert '"turbo" is not one of "std", "pro"' in out


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\x01\x02binary", b"\xff\xfe\x00j\x00o\x00b", b"[" * 10000, b"- just\n- a list\n"],
)
def test_bad_input_never_shows_a_traceback(write: Callable[..., Path], content: bytes) -> None:
    path = write("m.yaml", content)
    code, out, err = run("validate", str(path))
    assert code == 2
    assert out.startswith(f"{path}:")
    assert "Traceback" not in out + err


def test_a_missing_or_unreadable_manifest_is_a_located_error(tmp_path: Path) -> None:
    code, out, _ = run("validate", str(tmp_path / "nope.yaml"), str(tmp_path))
    assert code == 2
    assert out.splitlines() == [
        f"{tmp_path / 'nope.yaml'}:1:1: $: cannot read file: No such file or directory",
        f"{tmp_path}:1:1: $: cannot read file: Is a directory",
    ]


@pytest.mark.parametrize(
    ("case", "secret"),
    [
        ("credentials-provider", "sk-live-SECRET-123"),
        ("credentials-in-job", "SECRET-TOKEN-456"),
        ("credentials-kling-secret", "SECRET-789"),
    ],
)
def test_a_literal_credential_is_refused_and_never_echoed(case: str, secret: str) -> None:
    path = EXAMPLES / "invalid" / f"{case}.yaml"
    assert secret in path.read_text()
    for command in ("validate", "plan"):
        code, out, err = run(command, str(path))
        assert code == 2
        assert "credentials never go in a manifest" in out
        assert secret not in out + err


def test_plan_lists_jobs_counts_and_slots() -> None:
    code, out, _ = run("plan", str(DEMO), "--rows", "3")
    assert code == 0
    lines = out.splitlines()
    kinds = (
        "1 avatar, 1 element, 7 image2video, 1 image_expand, 1 lip_sync, 1 motion_control, "
        "1 multi_image2image, 1 omni_image, 2 omni_video, 1 subject_completion, 1 text2audio, "
        "3 text2image, 2 text2video, 1 tts, 1 video2audio, 1 video_effects, 1 voice"
    )
    assert lines[0] == f"{DEMO}: 27 jobs ({kinds}) for provider simulator"
    rows = [line.split() for line in lines]
    assert ["image_expand", "1", "2", "16"] in rows  # jobs, slot-tasks, estimated units
    # video and image units are different currencies: a total per pack, never one sum
    # 2.5 Turbo, 3.0 Turbo, omni, motion, and the pipeline's video (kling-v2-5-turbo std, 1.5);
    # speech (0.05, no slot), a sound and a video's sound (0.25 each); the avatar of the
    # speech (10 s estimated, std: 4) and the lip-sync (10 s estimated: 1, identify's 0.05)
    assert ["total", "video", "20", "19", "40.7"] in rows
    assert ["total", "image", "7", "11", "108"] in rows  # text2image n=2: 2 x 8, then 8
    assert (
        "  stage 1: 6 jobs, slot-tasks image 1, video 5, estimate image 20, video 11.8 units"
        in lines
    )
    assert any(
        line.startswith("  2 avatar or lip-sync jobs of a length not known") for line in lines
    )
    assert "largest task: 3 slots (limits.max_in_flight: 4)" in lines
    assert "first 3 of 27:" in lines
    assert lines[-3].split() == [
        "cat-yawn",
        "image2video",
        "1",
        "The",
        "cat",
        "yawns,",
        "slow",
        "motion",
    ]


def test_plan_of_an_invalid_manifest_exits_2() -> None:
    code, out, _ = run("plan", str(EXAMPLES / "invalid" / "n-range.yaml"))
    assert code == 2
    assert "$.jobs[0].n: 10 is above the maximum 9" in out


def test_schema_prints_the_shipped_schema() -> None:
    code, out, _ = run("schema")
    assert code == 0
    assert out == (REPO / "schemas" / "manifest.schema.json").read_text()
    Draft202012Validator.check_schema(json.loads(out))


def test_every_command_has_help_with_an_example_and_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    for name in cli.commands:
        code, out, _ = run(name, "--help")
        assert code == 0
        assert "Example:" in out, f"kbatch {name} --help has no example"
        assert f"kbatch {name}" in readme, f"README does not mention kbatch {name}"


def test_python_dash_m_kbatch_works(write: Callable[..., Path]) -> None:
    version = subprocess.run(
        [sys.executable, "-m", "kbatch", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout == f"kbatch, version {__version__}\n"
    path = write("m.yaml", HEADER + "jobs:\n  - {kind: image2video, image: x.png}\n")
    result = subprocess.run(
        [sys.executable, "-m", "kbatch", "validate", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stdout == f'{path}:5:32: $.jobs[0].image: "x.png" does not exist\n'


@pytest.mark.parametrize(
    ("faults", "says"),
    [
        (["rate_limit=2"], "a rate is a share of requests, from 0 to 1"),
        (["rate_limit=-0.1"], "a rate is a share of requests, from 0 to 1"),
        (["rate_limit=0.6", "timeout=0.6"], "the rates add up to 1.2"),
        (["nonsense=0.1"], "NAME one of rate_limit"),
    ],
)
def test_bad_simulator_faults_are_refused_in_words(faults: list[str], says: str) -> None:
    args = ["simulator"] + [f"--fault={fault}" for fault in faults]
    code, out, err = run(*args)
    assert code == 2 and says in out + err
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--durations", "normal"], "give fixed, uniform:SPREAD or lognormal:SIGMA"),
        (["--durations", "uniform:1.5"], "the spread is 0 to under 1 (uniform)"),
        (["--durations", "lognormal:x"], "the spread after ':' is a number"),
        (["--callback-duplicates", "2"], "'--callback-duplicates'"),
    ],
)
def test_bad_simulator_durations_and_callbacks_are_refused(args: list[str], says: str) -> None:
    code, out, err = run("simulator", *args)
    assert code == 2 and says in out + err and "Traceback" not in out + err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--listen", "nowhere"], "--listen 'nowhere': give HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], "give HOST:PORT"),
        (["--public-url", "https://x.example"], "--public-url needs --listen HOST:PORT"),
        (["--listen", "127.0.0.1:8099", "--public-url", "ftp://x"], "give the http(s) URL"),
    ],
)
def test_bad_callback_options_are_refused_in_words(args: list[str], says: str) -> None:
    code, out, err = run("run", str(DEMO), *args)
    assert code == 2 and says in out + err and "Traceback" not in out + err


def test_the_simulator_help_lists_the_fault_names() -> None:
    code, out, _ = run("simulator", "--help")
    assert code == 0 and "truncate" in out and "timeout_after_create" in out


def test_plan_keeps_a_multi_line_prompt_on_its_job_s_line(write: Callable[..., Path]) -> None:
    path = write(
        "m.yaml",
        "version: 1\nname: t\nprovider: simulator\njobs:\n"
        "  - kind: text2video\n    id: long\n    prompt: |\n      first line\n      second line\n",
    )
    code, out, _ = run("plan", str(path))
    assert code == 0
    (line,) = [line for line in out.splitlines() if line.strip().startswith("long ")]
    assert line.split()[-4:] == ["first", "line", "second", "line"]


def test_validate_json_locates_every_problem() -> None:
    case = EXAMPLES / "invalid" / "duration-invalid.yaml"
    code, out, _ = run("validate", str(case), "--format", "json")
    (doc,) = json.loads(out)["manifests"]
    assert code == 2 and not doc["valid"]
    (issue,) = doc["issues"]
    assert (issue["line"], issue["column"], issue["path"]) == (7, 15, "$.jobs[0].duration")
