"""Kling's rules for today's models beyond the example files: which models are legacy, what a
job sends when its manifest sets a field the route ignores, and how validate and plan say so."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from kbatch import load_manifest
from kbatch.cli.app import cli
from kbatch.errors import ExitCode
from kbatch.manifest.jobs import fingerprint
from kbatch.provider import capabilities
from kbatch.provider.capabilities import is_legacy
from kbatch.provider.catalogue import JobKind
from kbatch.simulator import Simulator
from tests.conftest import EXAMPLES, HEADER
from tests.project import Project, video

VIDEO_KINDS = (JobKind.IMAGE2VIDEO, JobKind.TEXT2VIDEO)


@pytest.mark.parametrize("kind", VIDEO_KINDS)
def test_the_video_models_on_kling_s_capability_map_are_current_the_others_legacy(
    kind: JobKind,
) -> None:
    # kling-guide-capability-map-video.md: 3.0 Turbo, 3.0, 3.0 Omni, O1, 2.6 and 2.5 Turbo;
    # of these, the /v1 routes take kling-v3, kling-v2-6 and kling-v2-5-turbo.
    table = capabilities.TEXT2VIDEO if kind is JobKind.TEXT2VIDEO else capabilities.IMAGE2VIDEO
    current = {model for model in table if not is_legacy(kind, model)}
    assert current == {"kling-v3", "kling-v2-6", "kling-v2-5-turbo"}
    assert is_legacy(kind, None)  # the route's default, kling-v1


def test_the_image_models_on_kling_s_capability_map_are_current_the_others_legacy() -> None:
    # kling-guide-capability-map-image.md: Image 3.0, 3.0 Omni, O1, 2.1.
    t2i = JobKind.TEXT2IMAGE
    assert not is_legacy(t2i, None)  # kling-v3, the default
    assert not is_legacy(t2i, "kling-v2-1") and not is_legacy(t2i, "kling-v3")
    assert all(is_legacy(t2i, m) for m in ("kling-v1", "kling-v1-5", "kling-v2", "kling-v2-new"))
    assert not is_legacy(JobKind.MULTI_IMAGE2IMAGE, "kling-v2-1")
    assert is_legacy(JobKind.MULTI_IMAGE2IMAGE, "kling-v2")  # the gateways' legacy route's
    assert not is_legacy(JobKind.IMAGE_EXPAND, None)  # no model at all


def test_an_ignored_field_is_not_sent_and_the_fingerprint_is_the_request_as_written() -> None:
    jobs = list(load_manifest(EXAMPLES / "valid" / "warnings.yaml").jobs())
    assert "aspect_ratio" not in jobs[0].request
    master = jobs[2]
    assert master.request["model_name"] == "kling-v2-master" and "mode" not in master.request
    # The fingerprint covers mode as the manifest says it, as before: nothing runs again.
    written = {"prompt": "waves", "model_name": "kling-v2-master", "mode": "pro"}
    assert master.fingerprint == fingerprint(JobKind.TEXT2VIDEO, written)


async def test_the_provider_never_receives_a_field_its_route_ignores(
    tmp_path: Path, live: Simulator
) -> None:
    project = Project(
        tmp_path, live, [video("v", model_name="kling-v3", aspect_ratio="9:16", duration=4)]
    )

    result = await project.run()

    assert result.exit_code == ExitCode.OK
    [task] = live.store.tasks.values()
    assert "aspect_ratio" not in task.request.fields
    assert task.request.fields["model_name"] == "kling-v3"


LEGACY_JOB = HEADER + "jobs:\n  - {kind: image2video, image: https://example.com/a.png}\n"


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_validate_and_plan_warn_on_stderr_and_do_not_fail(
    write: Callable[..., Path], command: str
) -> None:
    path = write("m.yaml", LEGACY_JOB)

    result = CliRunner().invoke(cli, [command, str(path)])

    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"{path}:5:5: $.jobs[0]: warning: no model_name: Kling runs")
    assert "e.g. kling-v3" in result.stderr
    assert "warning" not in result.stdout
