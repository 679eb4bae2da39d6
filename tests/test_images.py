"""Image inputs: what a string is, what the file holds (by content), and Kling's size rules."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from kbatch.images import (
    MAX_BYTES,
    Encoder,
    ImageInput,
    ImageProblem,
    ImageSource,
    Inspector,
    check_dimensions,
    encode,
    inspect_bytes,
    parse_image,
)
from tests.conftest import IMAGES

PNG = (IMAGES / "ok.png").read_bytes()
PNG_B64 = base64.b64encode(PNG).decode()


def test_strings_are_classified(tmp_path: Path) -> None:
    assert parse_image("https://e.com/a.png?x=1", tmp_path) == ImageInput(
        ImageSource.URL, "https://e.com/a.png?x=1"
    )
    assert parse_image(PNG_B64, tmp_path) == ImageInput(ImageSource.BASE64, PNG_B64)
    data_uri = "data:image/png;base64," + PNG_B64[:40] + "\n" + PNG_B64[40:]
    assert parse_image(data_uri, tmp_path) == ImageInput(ImageSource.BASE64, PNG_B64)
    assert parse_image("pics/a.png", tmp_path) == ImageInput(
        ImageSource.FILE, str(tmp_path / "pics/a.png")
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ftp://e.com/a.png", "uses ftp://"),
        ("https://", "is not a well-formed URL"),
        ("https://e.com:99999/a.png", "is not a well-formed URL"),
        ("data:image/gif;base64,R0lG", "is not a valid data: URI"),
        ("a\x00b.png", "is not a valid path"),
    ],
)
def test_malformed_inputs_are_refused(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ImageProblem, match=problem):
        parse_image(text, tmp_path)


def test_the_format_comes_from_the_content_not_the_name(write: Callable[..., Path]) -> None:
    inspector = Inspector()
    jpeg_named_png = write("photo.png", (IMAGES / "ok.jpg").read_bytes())
    info = inspector.inspect(ImageInput(ImageSource.FILE, str(jpeg_named_png)))
    assert info is not None
    assert (info.format, info.width, info.height) == ("JPEG", 400, 300)
    text_named_png = write("notes.png", "hello")
    with pytest.raises(ImageProblem, match="is not a JPG or PNG image"):
        inspector.inspect(ImageInput(ImageSource.FILE, str(text_named_png)))


def test_a_file_over_10_mb_is_refused_before_it_is_read(write: Callable[..., Path]) -> None:
    big = write("big.png", PNG + b"\0" * (MAX_BYTES + 1 - len(PNG)))
    with pytest.raises(ImageProblem, match=r"is 10\.5 MB; Kling takes at most 10 MB"):
        Inspector().inspect(ImageInput(ImageSource.FILE, str(big)))


def test_a_decompression_bomb_is_refused(write: Callable[..., Path]) -> None:
    path = write("bomb.png", b"")
    Image.new("1", (20000, 20000)).save(path)
    with pytest.raises(ImageProblem, match="far too many pixels"):
        Inspector().inspect(ImageInput(ImageSource.FILE, str(path)))


def test_a_changed_file_is_read_again(write: Callable[..., Path]) -> None:
    path = write("a.png", PNG)
    inspector = Inspector()
    first = inspector.inspect(ImageInput(ImageSource.FILE, str(path)))
    Image.new("RGB", (640, 480)).save(path)
    os.utime(path, ns=(1, 1))  # a different mtime, whatever the clock's resolution
    second = inspector.inspect(ImageInput(ImageSource.FILE, str(path)))
    assert first is not None and second is not None
    assert (second.width, second.height) == (640, 480)
    assert second.sha256 != first.sha256


def test_size_and_aspect_rules() -> None:
    wide = inspect_bytes((IMAGES / "wide.png").read_bytes())
    check_dimensions(wide, main=False)  # the ratio rule is for the main image only
    with pytest.raises(ImageProblem, match=r"aspect ratio 3\.33"):
        check_dimensions(wide, main=True)
    with pytest.raises(ImageProblem, match="both sides at least 300 px"):
        check_dimensions(inspect_bytes((IMAGES / "small.png").read_bytes()), main=False)


def test_base64_must_decode(tmp_path: Path) -> None:
    with pytest.raises(ImageProblem, match="is not valid base64"):
        Inspector().inspect(ImageInput(ImageSource.BASE64, "iVBORw0KGgo@@@"))


def test_encoding_sends_raw_base64_without_a_data_prefix(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(PNG)
    assert encode(ImageInput(ImageSource.FILE, str(path))) == PNG_B64
    assert encode(parse_image("data:image/png;base64," + PNG_B64, tmp_path)) == PNG_B64
    assert encode(ImageInput(ImageSource.URL, "https://e.com/a.png")) == "https://e.com/a.png"


def test_a_file_shared_by_many_jobs_is_encoded_once(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes((IMAGES / "ok.png").read_bytes())
    encoder = Encoder()
    image = ImageInput(ImageSource.FILE, str(path))

    sent = [encoder(image) for _ in range(500)]

    assert encoder.encoded == 1 and all(data is sent[0] for data in sent)  # one shared object
    assert base64.b64decode(sent[0]) == path.read_bytes()
    path.write_bytes((IMAGES / "ok.jpg").read_bytes())  # edited: encoded afresh
    assert base64.b64decode(encoder(image)) == path.read_bytes() and encoder.encoded == 2


def test_the_encoder_keeps_at_most_its_limit(tmp_path: Path) -> None:
    encoder = Encoder(limit=3000)
    images = []
    for number in range(3):
        path = tmp_path / f"{number}.png"
        path.write_bytes((IMAGES / "ok.png").read_bytes() + bytes([number]))  # ~1.4 KB encoded
        images.append(ImageInput(ImageSource.FILE, str(path)))
    for image in images:
        encoder(image)
    encoder(images[2])
    assert encoder.encoded == 3  # the newest is still kept
    encoder(images[0])
    assert encoder.encoded == 4  # the oldest was let go to stay under the limit
