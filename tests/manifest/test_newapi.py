"""Manifests and Kling's new API beyond the example files: choosing it, a model's two spellings
finding one model's data, callbacks' secret variable, checks that can be turned off, and how
``kbatch plan`` says which API each job goes to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from kbatch import load_manifest, validate
from kbatch.cli.app import cli
from kbatch.manifest.shots import Shot, read_shots, shot_problems
from kbatch.provider import capabilities, models
from kbatch.provider.catalogue import JobKind
from kbatch.provider.config import DEFAULT_SECRET_ENV, Api
from kbatch.provider.protocol import ModelPath
from tests.conftest import EXAMPLES

NEW = EXAMPLES / "valid" / "newapi"


def test_provider_api_chooses_where_models_on_both_apis_go() -> None:
    assert load_manifest(NEW / "kling-3.yaml").provider.api is Api.NEW
    assert load_manifest(NEW / "both-apis.yaml").provider.api is Api.AUTO
    assert load_manifest(EXAMPLES / "valid" / "minimal.yaml").provider.api is Api.AUTO


def test_callbacks_name_the_variable_of_the_webhook_secret() -> None:
    listen = load_manifest(NEW / "kling-3.yaml").callbacks
    assert listen is not None and listen.secret_env == "MY_HOOK_SECRET"


def test_callbacks_without_secret_env_read_kling_s_usual_variable(
    write: Callable[..., Path],
) -> None:
    path = write(
        "m.yaml",
        "version: 1\nname: t\nprovider: simulator\ncallbacks: {listen: '127.0.0.1:8099'}\n"
        "jobs:\n  - {kind: text2video, prompt: waves, model_name: kling-v3}\n",
    )
    listen = load_manifest(path).callbacks
    assert listen is not None and listen.secret_env == DEFAULT_SECRET_ENV == "KLING_WEBHOOK_SECRET"


def test_every_model_s_two_spellings_find_the_same_data() -> None:
    # capabilities.py keeps its own table of spellings (its layer may not import models.py).
    for found in models.MODELS:
        for name in (found.legacy, found.new):
            if name is not None:
                assert capabilities.canonical(name) == models.normalise(name)


def test_the_path_rules_cover_every_text_and_image_path_of_the_new_api() -> None:
    routes = (models.Route.TEXT_TO_VIDEO, models.Route.IMAGE_TO_VIDEO)
    video_paths = {path for path in models.PATHS if path.startswith(tuple(routes))}
    assert set(capabilities.PATHS) == video_paths
    for path, cap in capabilities.PATHS.items():
        spec = models.PATHS[path]
        assert bool(cap.tail_modes) == ("last_frame" in spec.items), path
        assert bool(cap.sound_modes) == ("audio" in spec.settings), path
        assert cap.shots == spec.shots, path


def test_a_job_s_target_is_its_model_s_path_in_either_spelling() -> None:
    for name in ("kling-v2-6", "kling-2.6"):
        target = models.choose(JobKind.IMAGE2VIDEO, {"model_name": name}, Api.NEW)
        assert target == ModelPath(JobKind.IMAGE2VIDEO, "image-to-video/kling-2.6")


def test_turning_the_capability_checks_off_keeps_what_the_api_cannot_take(
    write: Callable[..., Path],
) -> None:
    path = write(
        "m.yaml",
        "version: 1\nname: t\nprovider: {name: simulator, check_capabilities: false}\njobs:\n"
        "  - kind: text2video\n    model_name: kling-3.0-turbo\n    prompt: waves\n"
        "    mode: 4k\n    sound: 'on'\n",
    )
    issues = [str(issue) for issue in validate(path).issues]
    assert len(issues) == 1 and "$.jobs[0].sound: Kling's new API does not take sound" in issues[0]


def test_shots_read_as_the_pages_write_them() -> None:
    shots = read_shots("shot 1, 2, a cat; shot 2, 3, a dog;")
    assert shots == [Shot(1, 2, "a cat"), Shot(2, 3, "a dog")]
    assert shot_problems(shots, 5) == []
    assert read_shots("a shot of a cat") is None
    with pytest.raises(ValueError, match="does not end with ';'"):
        read_shots("shot 1, 5, a cat")
    assert shot_problems([Shot(2, 5, "a")], 5) == [
        "numbers its shots 2; number them 1, 2, ... in order"
    ]


def test_plan_counts_the_jobs_per_api_when_a_manifest_uses_both() -> None:
    result = CliRunner().invoke(cli, ["plan", str(NEW / "both-apis.yaml")])
    assert result.exit_code == 0, result.output
    line = "api: 2 jobs to the /v1 routes, 1 to the new API (provider.api: auto)"
    assert line in result.output.splitlines()
    minimal = CliRunner().invoke(cli, ["plan", str(EXAMPLES / "valid" / "minimal.yaml")])
    assert "api:" not in minimal.output  # every job on the /v1 routes: nothing to say


def test_turbo_goes_to_the_new_api_without_provider_api() -> None:
    assert validate(NEW / "turbo.yaml").summary.by_api == {Api.NEW: 5}
