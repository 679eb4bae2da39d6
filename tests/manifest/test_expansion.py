"""Jobs from a manifest: wire types, foreach x matrix, ids, and fingerprints that follow content."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from kbatch import Job, JobKind, ManifestError, load_manifest, validate
from kbatch.images import ImageInput, ImageSource
from tests.conftest import EXAMPLES, HEADER, IMAGES


def jobs_of(path: Path) -> list[Job]:
    return list(load_manifest(path).jobs())


def test_requests_carry_the_wire_types(write: Callable[..., Path], ok_png: Path) -> None:
    path = write(
        "m.yaml",
        HEADER
        + "jobs:\n"
        + "  - {kind: image2video, image: ok.png, duration: 10, cfg_scale: 1}\n"
        + "  - {kind: image_expand, image: ok.png, left_expansion_ratio: 1, n: 2.0}\n"
        + "  - {kind: multi_image2image, subject_image_list: [ok.png, {subject_image: ok.png}]}\n",
    )
    video, expand, multi = jobs_of(path)
    assert video.request["duration"] == "10"
    assert video.request["cfg_scale"] == 1.0
    assert video.request["image"] == ImageInput(ImageSource.FILE, str(ok_png))
    assert expand.request["n"] == 2 and type(expand.request["n"]) is int
    assert [
        expand.request[f"{side}_expansion_ratio"] for side in ("up", "down", "left", "right")
    ] == [
        0.0,
        0.0,
        1.0,
        0.0,
    ]
    assert (expand.slots, video.slots, multi.slots) == (2, 1, 1)
    assert [s["subject_image"].source for s in multi.request["subject_image_list"]] == [
        ImageSource.FILE,
        ImageSource.FILE,
    ]


def test_foreach_rows_times_matrix_in_row_order(write: Callable[..., Path], ok_png: Path) -> None:
    write("rows.csv", "id,n,ratio\na,2,0.5\nb,3,0.25\n")
    path = write(
        "m.yaml",
        HEADER
        + "jobs:\n  - kind: image_expand\n    id: ${id}-${side}\n    foreach: rows.csv\n"
        + "    matrix: {side: [l, r]}\n    image: ok.png\n    n: ${n}\n"
        + "    left_expansion_ratio: ${ratio}\n    prompt: side ${side} of ${id}\n",
    )
    jobs = jobs_of(path)
    assert [j.id for j in jobs] == ["a-l", "a-r", "b-l", "b-r"]
    assert [(j.request["n"], j.request["left_expansion_ratio"]) for j in jobs] == [
        (2, 0.5),
        (2, 0.5),
        (3, 0.25),
        (3, 0.25),
    ]
    assert jobs[3].request["prompt"] == "side r of b"
    assert (jobs[3].origin.row, dict(jobs[3].origin.matrix)) == (2, {"side": "r"})
    assert jobs[3].origin.location.line == 3


def test_a_matrix_key_that_names_a_field_sets_it(write: Callable[..., Path], ok_png: Path) -> None:
    path = write(
        "m.yaml",
        HEADER
        + "defaults:\n  image2video: {mode: std}\njobs:\n  - kind: image2video\n"
        + "    image: ok.png\n    matrix: {mode: [std, pro]}\n    prompt: in ${mode} mode\n",
    )
    assert [(j.request["mode"], j.request["prompt"]) for j in jobs_of(path)] == [
        ("std", "in std mode"),
        ("pro", "in pro mode"),
    ]


def test_escapes_reach_the_request() -> None:
    (job,) = jobs_of(EXAMPLES / "valid" / "escapes.yaml")
    assert job.request["prompt"] == "A sign that says $5, $3 and ${literal}"


def test_jsonl_values_keep_their_types() -> None:
    first, second = jobs_of(EXAMPLES / "valid" / "foreach-jsonl-typed.yaml")
    assert first.request["n"] == 2 and second.request["n"] == 4
    assert len(first.request["subject_image_list"]) == 2
    assert second.request["aspect_ratio"] == "9:16"


def copy_project(source: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    shutil.copy(IMAGES / "ok.png", target / "ok.png")
    shutil.copy(source, target / "m.yaml")
    return target / "m.yaml"


@pytest.fixture
def project(write: Callable[..., Path], ok_png: Path) -> Path:
    return write(
        "m.yaml",
        HEADER + "jobs:\n  - {kind: image2video, image: ok.png, prompt: a cat}\n"
        "  - {kind: image2video, id: named, image: ok.png, prompt: a dog}\n",
    )


def test_a_fingerprint_is_stable_and_does_not_depend_on_the_folder(
    project: Path, tmp_path: Path
) -> None:
    before = [(j.id, j.fingerprint) for j in jobs_of(project)]
    assert before == [(j.id, j.fingerprint) for j in jobs_of(project)]
    moved = copy_project(project, tmp_path / "elsewhere")
    assert before == [(j.id, j.fingerprint) for j in jobs_of(moved)]
    assert before[0][0].startswith("image2video-") and len(before[0][0]) == len("image2video-") + 16


def test_editing_a_job_changes_only_its_fingerprint(project: Path) -> None:
    before = jobs_of(project)
    project.write_text(project.read_text().replace("a dog", "a small dog"))
    after = jobs_of(project)
    assert after[0].fingerprint == before[0].fingerprint
    assert (after[1].id, after[1].fingerprint != before[1].fingerprint) == ("named", True)


def test_new_image_bytes_change_the_fingerprint_but_not_a_derived_id(project: Path) -> None:
    before = jobs_of(project)
    shutil.copy(IMAGES / "square.png", project.parent / "ok.png")
    after = jobs_of(project)
    assert [j.id for j in after] == [j.id for j in before]
    assert all(a.fingerprint != b.fingerprint for a, b in zip(after, before, strict=True))


def test_a_problem_repeated_across_rows_is_reported_once_with_a_count(
    write: Callable[..., Path], ok_png: Path
) -> None:
    write("rows.csv", "id\n" + "".join(f"r{i}\n" for i in range(50)))
    path = write(
        "m.yaml",
        HEADER
        + "jobs:\n  - kind: image_expand\n    id: ${id}\n    foreach: rows.csv\n"
        + "    image: ok.png\n    left_expansion_ratio: 2\n    right_expansion_ratio: 1\n",
    )
    (issue,) = validate(path).issues
    assert str(issue) == (
        f"{path}:5:5: $.jobs[0]: the expanded canvas would be 4x the original area; "
        "(1+left+right)*(1+up+down) = (1+2+1)*(1+0+0) must be at most 3 "
        f"(row 1 of {path.parent / 'rows.csv'}) (and in 49 more jobs)"
    )


def test_jobs_raise_if_an_image_disappears_after_loading(project: Path) -> None:
    manifest = load_manifest(project)
    (project.parent / "ok.png").unlink()
    with pytest.raises(ManifestError, match="does not exist"):
        list(manifest.jobs())


def test_jobs_are_streamed_not_built_up_front(write: Callable[..., Path], ok_png: Path) -> None:
    write("rows.csv", "id\n" + "".join(f"r{i}\n" for i in range(1000)))
    path = write(
        "m.yaml",
        HEADER + "jobs:\n  - {kind: image2video, id: '${id}', foreach: rows.csv, image: ok.png}\n",
    )
    stream = load_manifest(path).jobs()
    first = next(stream)
    assert (first.id, first.kind) == ("r0", JobKind.IMAGE2VIDEO)
    assert sum(1 for _ in stream) == 999
