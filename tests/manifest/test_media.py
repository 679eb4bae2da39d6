"""The manifest's ``media:`` section: each mistake located at its field, a store refused with
the install command when the s3 extra is missing; a local video checked from its own bytes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

from kbatch.manifest import validate
from kbatch.media import local_video_info
from kbatch.videos import MOTION_IMAGE_ORIENTATION, VideoProblem
from tests.clips import clip


def manifest(tmp_path: Path, media: Any, video: str = "dance.mp4") -> Path:
    (tmp_path / "dance.mp4").write_bytes(clip(6))
    (tmp_path / "ok.png").write_bytes(
        (Path(__file__).parent.parent / "manifests" / "images" / "ok.png").read_bytes()
    )
    job = {
        "kind": "motion_control",
        "id": "m",
        "image": "ok.png",
        "video": video,
        "character_orientation": "image",
    }
    data = {"version": 1, "name": "t", "provider": "simulator", "media": media, "jobs": [job]}
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("media", "where", "words"),
    [
        ({"store": "ftp://bucket/x"}, "$.media.store", "gs://bucket/prefix or az://container"),
        ({"store": "s3://b", "serve": True}, "$.media.serve", "store or serve, not both"),
        ({"images": "url"}, "$.media", "store: s3://bucket/prefix or serve: true"),
        ({"serve": True, "expires": "10s"}, "$.media.expires", "at least 60 s"),
        ({"serve": True, "images": "inline"}, "$.media.images", "base64"),
    ],
)
def test_each_mistake_is_located(tmp_path: Path, media: Any, where: str, words: str) -> None:
    found = validate(manifest(tmp_path, media))
    assert [issue.path for issue in found.issues] == [where], found.issues
    assert words in found.issues[0].message


def test_a_store_without_the_extra_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "obstore" else real(name, *a)
    )
    found = validate(manifest(tmp_path, {"store": "s3://bucket/prefix"}))
    assert [issue.path for issue in found.issues] == ["$.media.store"]
    assert "pip install 'kbatch[s3]'" in found.issues[0].message


def test_a_local_video_is_checked_from_its_bytes(tmp_path: Path) -> None:
    ok = tmp_path / "ok.mp4"
    ok.write_bytes(clip(6, 1280, 720))
    info = local_video_info(str(ok), MOTION_IMAGE_ORIENTATION)
    assert (info.duration, info.width, info.height, info.size) == (
        6.0,
        1280,
        720,
        ok.stat().st_size,
    )
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a movie at all, only words" * 10)
    with pytest.raises(VideoProblem, match="not an MP4 or MOV"):
        local_video_info(str(bad), MOTION_IMAGE_ORIENTATION)
    (tmp_path / "m.avi").write_bytes(clip(6))
    with pytest.raises(VideoProblem, match="Kling takes MP4 or MOV"):
        local_video_info(str(tmp_path / "m.avi"), MOTION_IMAGE_ORIENTATION)


def test_the_fingerprint_follows_the_file_not_its_folder(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    first = validate(manifest(one, {"serve": True}), keep=1).summary.first[0]
    second = validate(manifest(two, {"serve": True}), keep=1).summary.first[0]
    assert first.fingerprint == second.fingerprint and first.id == second.id
    (two / "dance.mp4").write_bytes(clip(7))
    third = validate(two / "m.yaml", keep=1).summary.first[0]
    assert third.fingerprint != first.fingerprint


def test_a_quoted_url_loses_its_secret_parts() -> None:
    """A provider may quote the URL it could not fetch: what the state keeps has no signature."""
    from kbatch.media import unsigned

    said = "the URL answered 403: http://h/b/x.mp4?X-Amz-Date=1&X-Amz-Signature=ab12 (expired)"
    assert unsigned(said) == "the URL answered 403: http://h/b/x.mp4?… (expired)"
    served = "cannot fetch http://h:1/kbatch/media/99.f00d/x.mp4"
    assert unsigned(served) == "cannot fetch http://h:1/kbatch/media/…/x.mp4"
    assert unsigned("see http://h/a?page=2") == "see http://h/a?page=2"


def test_validate_json_names_the_files_a_run_sends(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from kbatch.cli.app import cli

    path = manifest(tmp_path, {"serve": True})
    result = CliRunner().invoke(cli, ["validate", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    media = json.loads(result.output)["manifests"][0]["media"]
    size = (tmp_path / "dance.mp4").stat().st_size
    assert media == {
        "files": 1,
        "bytes": size,
        "paths": [{"path": str(tmp_path / "dance.mp4"), "bytes": size}],
    }
