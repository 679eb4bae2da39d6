"""Image inputs: what a string is, what the file holds (by content), and Kling's size rules."""

from __future__ import annotations

import base64
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from kbatch.checked import CheckCache, FileKey, Outcome, cache_folder
from kbatch.images import (
    MAX_BYTES,
    Encoder,
    ImageInfo,
    ImageInput,
    ImageProblem,
    ImageSource,
    Inspector,
    check_dimensions,
    encode,
    inspect_bytes,
    parse_image,
)
from kbatch.manifest.loader import validate
from tests.conftest import HEADER, IMAGES

PNG = (IMAGES / "ok.png").read_bytes()
PNG_B64 = base64.b64encode(PNG).decode()


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test remembers checks in its own folder, never in the user's."""
    monkeypatch.setenv("KBATCH_CACHE_DIR", str(tmp_path / "user-cache"))


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


# Checks remembered across runs (kbatch.checked). ``settle=0``: a file written a moment ago is
# remembered too (by default it must have been left alone for two seconds first).


def _cache(tmp_path: Path, *, settle: float = 0.0) -> CheckCache:
    return CheckCache(tmp_path / "cache" / "checked.sqlite3", settle=settle)


def _check(
    path: Path, cache: CheckCache
) -> tuple[Inspector, ImageInfo | ImageProblem, dict[str, str]]:
    """One run's checks of a file: what inspecting it found, and the damage its decode found."""
    inspector = Inspector(decode=True, cache=cache)
    found: ImageInfo | ImageProblem
    try:
        info = inspector.inspect(ImageInput(ImageSource.FILE, str(path)))
        assert info is not None
        found = info
    except ImageProblem as exc:
        found = exc
    damaged = {name: str(problem) for name, problem in inspector.damaged().items()}
    return inspector, found, damaged


def test_an_unchanged_file_is_neither_read_nor_decoded_by_a_later_run(
    write: Callable[..., Path], tmp_path: Path
) -> None:
    path = write("a.png", PNG)
    first, info, _ = _check(path, _cache(tmp_path))
    assert (first.reads, first.decodes) == (1, 1)

    later, remembered, damaged = _check(path, _cache(tmp_path))  # a new process, say

    assert (later.reads, later.decodes) == (0, 0)
    assert remembered == info and damaged == {}  # the content hash (fingerprint) included


def test_a_runs_header_reads_are_remembered_and_a_later_validation_only_decodes(
    write: Callable[..., Path], tmp_path: Path
) -> None:
    """A run expands its jobs reading headers only; what it found is written when its
    inspector goes, and validation then has only the full decode left to do."""
    path = write("a.png", PNG)
    headers_only = Inspector(cache=_cache(tmp_path))
    info = headers_only.inspect(ImageInput(ImageSource.FILE, str(path)))
    del headers_only  # its buffered rows are written as it goes

    later, remembered, _ = _check(path, _cache(tmp_path))

    assert remembered == info and (later.reads, later.decodes) == (0, 1)


def test_a_changed_file_is_checked_again(write: Callable[..., Path], tmp_path: Path) -> None:
    path = write("a.png", PNG)
    _, first, _ = _check(path, _cache(tmp_path))
    Image.new("RGB", (640, 480)).save(path)
    os.utime(path, ns=(1, 1))  # even with its mtime set back, its ctime moved

    later, second, _ = _check(path, _cache(tmp_path))

    assert (later.reads, later.decodes) == (1, 1)
    assert isinstance(first, ImageInfo) and isinstance(second, ImageInfo)
    assert (second.width, second.height) == (640, 480) and second.sha256 != first.sha256


def test_problems_are_remembered_word_for_word(write: Callable[..., Path], tmp_path: Path) -> None:
    cut = write("cut.png", (IMAGES / "truncated.png").read_bytes())
    notes = write("notes.png", "hello")
    _, _, damage = _check(cut, _cache(tmp_path))
    _, problem, _ = _check(notes, _cache(tmp_path))
    [message] = damage.values()
    assert message.startswith("is damaged or cut short")

    later_cut, _, later_damage = _check(cut, _cache(tmp_path))
    later_notes, later_problem, _ = _check(notes, _cache(tmp_path))

    assert later_damage == damage and str(later_problem) == str(problem)
    assert isinstance(later_problem, ImageProblem)
    assert (later_cut.reads, later_cut.decodes, later_notes.reads) == (0, 0, 0)


def test_a_file_written_moments_ago_is_not_remembered(
    write: Callable[..., Path], tmp_path: Path
) -> None:
    """A second write within the same timestamp tick would keep the key: too recent to trust."""
    path = write("a.png", PNG)
    _check(path, _cache(tmp_path, settle=3600))
    later, _, _ = _check(path, _cache(tmp_path, settle=3600))
    assert (later.reads, later.decodes) == (1, 1)


@pytest.mark.parametrize("damage", ["not a database", "a folder in its way"])
def test_a_broken_cache_changes_nothing_but_speed(
    write: Callable[..., Path], tmp_path: Path, damage: str
) -> None:
    if damage == "not a database":
        write("cache/checked.sqlite3", b"\x00garbage" * 1000)
    else:
        write("cache", "a file where the cache folder should be")
    path = write("a.png", PNG)
    cache = _cache(tmp_path)

    for _ in range(2):
        inspector, info, damaged = _check(path, cache)
        assert isinstance(info, ImageInfo) and damaged == {} and inspector.reads == 1
    assert not cache.working


def test_an_inode_past_64_signed_bits_is_remembered(
    write: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mergerfs' hashed inodes and some NFS, SMB and FUSE mounts report numbers of 2**63 and
    more, which SQLite's integers cannot hold. Faked at the cache's boundary (the stat result
    as the cache reads it): no filesystem here makes one."""
    of = FileKey.of.__func__  # type: ignore[attr-defined]

    def huge(cls: type[FileKey], path: str, stat: os.stat_result) -> FileKey:
        key: FileKey = of(cls, path, stat)
        return replace(key, inode=2**64 - 1, device=2**63)

    monkeypatch.setattr(FileKey, "of", classmethod(huge))
    path = write("a.png", PNG)
    cache = _cache(tmp_path)
    _, info, _ = _check(path, cache)
    cache.close()
    assert cache.working

    later, remembered, _ = _check(path, _cache(tmp_path))

    assert (later.reads, later.decodes) == (0, 0) and remembered == info


def test_any_failure_of_the_cache_is_a_miss(tmp_path: Path) -> None:
    """A path SQLite cannot bind (a lone surrogate: a file name that is not UTF-8, as
    ``os.fsdecode`` or a YAML escape gives it) fails with UnicodeEncodeError, not an
    sqlite3.Error: the cache turns off and answers nothing, it raises nothing."""
    cache = _cache(tmp_path)
    key = FileKey("a\udcff.png", 1, 2, 3, 4, 5)
    cache.put(key, Outcome("PNG", 8, 8, "0" * 64))
    cache.flush()
    assert cache.get(key) is None and not cache.working


def test_a_cache_of_the_older_format_starts_again(
    write: Callable[..., Path], tmp_path: Path
) -> None:
    """Format 1 held the key in integer columns: such a file is emptied and used again."""
    old = tmp_path / "cache" / "checked.sqlite3"
    old.parent.mkdir()
    with sqlite3.connect(old) as db:
        db.execute("CREATE TABLE checked (path TEXT PRIMARY KEY, inode INTEGER)")
        db.execute("INSERT INTO checked VALUES ('a.png', 1)")
        db.execute("PRAGMA user_version = 1")
    db.close()
    path = write("a.png", PNG)
    cache = _cache(tmp_path)
    _check(path, cache)
    cache.close()
    later, _, _ = _check(path, _cache(tmp_path))
    assert cache.working and (later.reads, later.decodes) == (0, 0)


def test_processes_share_the_cache(write: Callable[..., Path], tmp_path: Path) -> None:
    """Two writers at once (WAL and a busy timeout): both batches land, nothing is lost."""
    files = [write(f"{n}.png", PNG + bytes([n])) for n in range(40)]
    caches = [_cache(tmp_path), _cache(tmp_path)]
    start = threading.Barrier(2)

    def check(cache: CheckCache, share: list[Path]) -> None:
        start.wait()
        for path in share:
            _check(path, cache)

    workers = [
        threading.Thread(target=check, args=(cache, files[n::2])) for n, cache in enumerate(caches)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert all(cache.working for cache in caches)
    later = [_check(path, _cache(tmp_path))[0] for path in files]
    assert sum(inspector.reads + inspector.decodes for inspector in later) == 0


def test_validation_uses_the_users_cache(
    write: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loader's own inspector remembers in $KBATCH_CACHE_DIR; the issues stay the same.
    (The example images were written well over two seconds ago: they are remembered.)"""
    monkeypatch.setenv("KBATCH_CACHE_DIR", str(tmp_path / "cache"))
    manifest = write(
        "m.yaml",
        HEADER
        + "jobs:\n"
        + f"  - {{kind: image2video, id: ok, image: {IMAGES / 'ok.png'}}}\n"
        + f"  - {{kind: image2video, id: cut, image: {IMAGES / 'truncated.png'}}}\n",
    )
    first = validate(manifest, keep=5)
    second = validate(manifest, keep=5)

    assert [str(issue) for issue in second.issues] == [str(issue) for issue in first.issues]
    assert len(first.issues) == 1 and "cut short" in str(first.issues[0])
    assert [job.fingerprint for job in second.summary.first] == [
        job.fingerprint for job in first.summary.first
    ]
    with sqlite3.connect(tmp_path / "cache" / "checked.sqlite3") as db:
        rows = db.execute("SELECT path, decoded, damage IS NOT NULL FROM checked").fetchall()
    assert sorted(rows) == [(str(IMAGES / "ok.png"), 1, 0), (str(IMAGES / "truncated.png"), 1, 1)]


def test_the_cache_folder_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBATCH_CACHE_DIR", "/tmp/mine")
    monkeypatch.setenv("XDG_CACHE_HOME", "/tmp/xdg")
    assert cache_folder() == Path("/tmp/mine")
    monkeypatch.delenv("KBATCH_CACHE_DIR")
    assert cache_folder() == Path("/tmp/xdg/kbatch")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", "/tmp/home")
    assert cache_folder() == Path("/tmp/home/.cache/kbatch")
    assert CheckCache.user().path == Path("/tmp/home/.cache/kbatch/checked.sqlite3")
    monkeypatch.setenv("KBATCH_NO_CACHE", "1")
    assert CheckCache.user().path is None and not CheckCache.user().working


def test_a_cache_held_by_another_process_is_a_miss_and_stays_on(
    write: Callable[..., Path], tmp_path: Path
) -> None:
    """Another process holding the file past the busy timeout (2 s) is a miss, not a broken
    cache: what was to be written is kept and written at the next flush."""
    first, second = write("a.png", PNG), write("b.png", PNG + b"b")
    cache = _cache(tmp_path)
    _check(first, cache)  # the cache file is made
    holder = sqlite3.connect(cache.path, isolation_level=None)  # type: ignore[arg-type]
    holder.execute("BEGIN EXCLUSIVE")
    _check(second, cache)  # its outcome cannot be written while the file is held
    holder.execute("ROLLBACK")
    holder.close()
    assert cache.working
    cache.close()  # writes what was kept
    later, _, _ = _check(second, _cache(tmp_path))
    assert (later.reads, later.decodes) == (0, 0)
