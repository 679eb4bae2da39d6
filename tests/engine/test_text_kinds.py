"""text2video and text2image end to end against the simulator: a CSV of prompts alone makes a
dataset. Every field goes out with the API's types, and text2image shares its path with the
legacy multi-image dialect, told apart by the body."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from kbatch.errors import ExitCode
from kbatch.provider.catalogue import JobKind, PackType
from kbatch.simulator import Simulator
from kbatch.store import JobState
from tests.project import Project, multi


def text2video(job_id: str, prompt: str, **fields: object) -> dict[str, object]:
    return {"id": job_id, "kind": "text2video", "prompt": prompt, **fields}


def text2image(job_id: str, prompt: str, **fields: object) -> dict[str, object]:
    return {"id": job_id, "kind": "text2image", "prompt": prompt, **fields}


async def test_both_kinds_run_to_files_with_the_api_s_types_on_the_wire(
    tmp_path: Path, live: Simulator
) -> None:
    jobs = [
        text2video("waves", "waves at dusk", model_name="kling-v3", duration=8, sound="on"),
        text2image("fox", "a red fox", n=2, aspect_ratio="9:16", model_name="kling-v2-1"),
        text2image("sketch", "the fox as a sketch", model_name="kling-v1-5", image="ok.png",
                   image_reference="subject", human_fidelity=0.6),
    ]  # fmt: skip
    project = Project(tmp_path, live, jobs)

    result = await project.run()

    assert result.exit_code == ExitCode.OK
    assert {row.state for row in project.rows().values()} == {JobState.DOWNLOADED}
    sent = {task.kind: task.request.fields for task in live.store.tasks.values()}
    video = sent[JobKind.TEXT2VIDEO]
    assert (video["duration"], video["sound"], video["model_name"]) == ("8", "on", "kling-v3")
    assert [t.request.fields.get("n") for t in live.store.tasks.values()].count(2) == 1
    with Image.open(project.out / "fox" / "1.png") as picture:
        assert picture.width < picture.height  # 9:16, as asked
    assert (project.out / "waves" / "0.mp4").is_file()
    assert live.requests["POST /v1/videos/text2video"] == 1
    assert live.requests["POST /v1/images/generations"] == 2
    assert set(result.units) == {PackType.VIDEO, PackType.IMAGE}  # a pack each


async def test_text2image_and_the_legacy_multi_image_dialect_share_a_path(
    tmp_path: Path, live: Simulator
) -> None:
    project = Project(tmp_path, live, [text2image("fox", "a red fox"), multi("pair")])
    project.provider["dialect"] = "legacy"  # CometAPI's older multi-image route
    project.jobs[1]["model_name"] = "kling-v2"
    project.save()

    result = await project.run()

    assert result.exit_code == ExitCode.OK
    assert live.requests["POST /v1/images/generations"] == 2  # both kinds, one path
    kinds = sorted(task.kind.value for task in live.store.tasks.values())
    assert kinds == ["multi_image2image", "text2image"]  # told apart by their bodies
    assert project.check_files() == 2
