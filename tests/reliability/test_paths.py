"""Job ids and result URLs crafted to escape the output folder never do: the manifest refuses
the ids that could, the legal but tricky ones become safe folder names, odd URL endings never
pick the file name, and a job folder that is a link out is not written through."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbatch.engine import downloads
from kbatch.engine.options import StopReason
from kbatch.manifest.loader import validate
from kbatch.provider.wire import Media, MediaKind
from kbatch.simulator import Simulator
from tests.conftest import HEADER
from tests.project import Project, video
from tests.reliability.checks import exactly_once, settle
from tests.reliability.conftest import FIGURES

REFUSED = ["../up", "/etc/passwd", "a/b", "c:\\\\x", "nul\\0byte", "x" * 129, "tab\\there", ""]
REFUSED += [".", "..", "...", "-rf", ".hidden"]  # ids start with a letter, digit or _
TRICKY = ["_", "_..", "x..", "a..b", "a" * 128, "_.=+@-", "CON", "nul"]


@pytest.mark.parametrize("job_id", REFUSED)
def test_an_id_that_could_escape_is_refused_where_it_is_written(
    tmp_path: Path, job_id: str
) -> None:
    FIGURES["escape attempts"] += 1
    path = tmp_path / "m.yaml"
    path.write_text(
        HEADER + f'jobs:\n  - kind: image2video\n    image: "https://example.com/a.png"\n'
        f'    id: "{job_id}"\n',
        encoding="utf-8",
    )
    issues = [str(issue) for issue in validate(path).issues]
    assert issues and issues[0].startswith(f"{path}:7:9: $.jobs[0].id: "), issues


async def test_legal_but_tricky_ids_stay_inside_the_output_folder(
    tmp_path: Path, live: Simulator
) -> None:
    project = Project(tmp_path, live, [video(job_id, f"p {i}") for i, job_id in enumerate(TRICKY)])
    await settle(project)
    FIGURES["escape attempts"] += len(TRICKY)

    root = project.out.resolve()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".mp4"]
    assert len(written) == len(TRICKY)
    assert all(p.resolve().is_relative_to(root) for p in written)
    folders = {p.parent.name for p in written}
    assert not folders & {".", ".."} and not any(name.startswith(".") for name in folders)
    exactly_once(project, live, len(TRICKY))


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example/a/..%2F..%2Fetc%2Fpasswd",
        "https://cdn.example/x.png/../../../../tmp/evil.sh",
        "https://cdn.example/evil.sh?name=x.png",
        "https://cdn.example/result.PNG%00.sh",
        "https://cdn.example/" + "a" * 5000 + ".mp4",
        "https://cdn.example/..",
    ],
)
def test_a_result_url_never_chooses_where_the_file_goes(tmp_path: Path, url: str) -> None:
    FIGURES["escape attempts"] += 1
    media = Media(MediaKind.IMAGE, 0, url)
    path = downloads.target(tmp_path, "job", index=0, extension=media.extension)
    assert path.parent == tmp_path / "job"
    assert path.name in {f"0.{ext}" for ext in ("png", "jpg", "jpeg", "webp", "mp4", "bin")}


@pytest.mark.parametrize("extension", ["../../x", "png/../../y", "", "sh", "mp4\x00.sh"])
def test_an_odd_extension_is_replaced(tmp_path: Path, extension: str) -> None:
    path = downloads.target(tmp_path, "../../job", index=3, extension=extension)
    assert path == tmp_path / "_.._.._job" / "3.bin"  # "/" replaced, never hidden


async def test_a_job_folder_that_links_out_is_not_written_through(
    tmp_path: Path, live: Simulator
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    project = Project(tmp_path, live, [video("a"), video("b", "another")])
    project.out.mkdir(parents=True)
    (project.out / "b").symlink_to(outside, target_is_directory=True)
    FIGURES["escape attempts"] += 1

    first = await project.run()

    assert first.stop is StopReason.STATE
    assert first.message is not None and "leads out of the output folder" in first.message
    assert not list(outside.iterdir())

    (project.out / "b").unlink()
    await settle(project)
    exactly_once(project, live, 2)


async def test_a_part_file_that_is_a_link_is_not_written_through(
    tmp_path: Path, live: Simulator
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    project = Project(tmp_path, live, [video("a")])
    (project.out / "a").mkdir(parents=True)
    (project.out / "a" / ".0.mp4.part").symlink_to(victim)
    FIGURES["escape attempts"] += 1

    first = await project.run()

    assert first.stop is StopReason.STATE and victim.read_text(encoding="utf-8") == "keep me"
    (project.out / "a" / ".0.mp4.part").unlink()
    await settle(project)
    exactly_once(project, live, 1)
