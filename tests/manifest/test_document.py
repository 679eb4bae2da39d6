"""YAML documents: every value located, duplicate keys and hostile input refused with a place."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kbatch.errors import ManifestError
from kbatch.manifest import document
from kbatch.manifest.document import load_document, parse_document


def only_issue(text: str) -> str:
    with pytest.raises(ManifestError) as raised:
        parse_document(text, "m.yaml")
    assert len(raised.value.issues) == 1
    return str(raised.value.issues[0])


def test_every_key_and_value_is_located() -> None:
    doc = parse_document("a: 1\nb:\n  - x: 2\n    y: [10, 20]\n", "m.yaml")
    assert doc.data == {"a": 1, "b": [{"x": 2, "y": [10, 20]}]}
    assert str(doc.locate(("b", 0, "y", 1))) == "m.yaml:4:13"
    assert str(doc.locate(("b", 0, "x"), key=True)) == "m.yaml:3:5"
    assert str(doc.locate(("b", 0, "missing", "deeper"))) == "m.yaml:3:5"


def test_a_block_list_is_located_at_its_key() -> None:
    doc = parse_document("jobs:\n  - a\n  - b\n", "m.yaml")
    assert str(doc.locate(("jobs",))) == "m.yaml:1:1"
    assert str(doc.locate(("jobs", 1))) == "m.yaml:3:5"


def test_duplicate_keys_are_refused_where_the_second_stands() -> None:
    assert only_issue("a: 1\nb:\n  c: 1\n  c: 2\n") == (
        "m.yaml:4:3: $.b.c: duplicate key 'c' (first at line 3)"
    )


def test_merge_keys_may_be_overridden_but_not_written_twice() -> None:
    doc = parse_document("base: &b {p: 1, q: 2}\nuse:\n  <<: *b\n  p: 3\n", "m.yaml")
    assert doc.data["use"] == {"p": 3, "q": 2}
    assert "duplicate key 'p'" in only_issue("base: &b {p: 1}\nuse:\n  <<: *b\n  p: 3\n  p: 4\n")


def test_an_alias_used_twice_is_built_consistently() -> None:
    doc = parse_document("base: &b {p: 1}\none: {<<: *b, q: 1}\ntwo: {<<: *b, p: 5}\n", "m.yaml")
    assert doc.data["one"] == {"p": 1, "q": 1}
    assert doc.data["two"] == {"p": 5}


def test_an_alias_bomb_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    assert document.MAX_VALUES >= 1_000_000  # room for a large hand-written manifest
    monkeypatch.setattr(document, "MAX_VALUES", 10_000)  # the same guard, reached sooner
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):  # 10**9 values once expanded
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    message = only_issue("\n".join(lines) + "\n")
    assert "expands to more than 10000 values" in message


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    assert only_issue("a: " + "[" * 5000 + "]" * 5000 + "\n").endswith(
        "$: the document is nested too deeply"
    )


def test_dates_stay_the_text_written_and_booleans_are_booleans() -> None:
    doc = parse_document("d: 2024-01-01\nb: true\nn: null\nf: 1.5\n", "m.yaml")
    assert doc.data == {"d": "2024-01-01", "b": True, "n": None, "f": 1.5}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: .inf\n", "m.yaml:1:4: $.a: .inf is not a finite number"),
        ("a: !!binary aGk=\n", "m.yaml:1:4: $.a: binary values are not supported"),
        ("a: b: c\n", "m.yaml:1:5: $: invalid YAML: mapping values are not allowed here"),
        ("a: 1\n---\nb: 2\n", "m.yaml:2:1: $: invalid YAML: expected a single document"),
        ("a: \x07\n", "m.yaml:1:4: $: invalid YAML: unacceptable character #x0007"),
        ("", "m.yaml:1:1: $: the file is empty"),
    ],
)
def test_bad_yaml_gets_one_located_issue(text: str, expected: str) -> None:
    assert only_issue(text).startswith(expected)


def test_a_byte_order_mark_is_accepted(write: Callable[..., Path]) -> None:
    path = write("m.yaml", "\ufeffa: 1\n".encode())
    assert load_document(path).data == {"a": 1}


def test_a_file_that_is_not_utf8_is_located_at_the_bad_byte(write: Callable[..., Path]) -> None:
    path = write("m.yaml", b"a: 1\nb: caf\xe9\n")
    with pytest.raises(ManifestError) as raised:
        load_document(path, "m.yaml")
    assert str(raised.value.issues[0]) == ("m.yaml:2:7: $: not UTF-8 text: byte 0xe9 at offset 11")


def test_an_unreadable_path_says_why(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as raised:
        load_document(tmp_path, "folder")
    assert str(raised.value.issues[0]) == "folder:1:1: $: cannot read file: Is a directory"
    with pytest.raises(ManifestError) as raised:
        load_document(tmp_path / "nope.yaml", "nope.yaml")
    assert "cannot read file: No such file or directory" in str(raised.value)


def test_a_device_is_refused_instead_of_read_forever() -> None:
    with pytest.raises(ManifestError) as raised:
        load_document(Path("/dev/zero"), "/dev/zero")
    assert str(raised.value.issues[0]) == (
        "/dev/zero:1:1: $: cannot read file: it is a device, not a file"
    )


def test_a_huge_manifest_is_refused_with_advice(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(document, "MAX_BYTES", 1000)  # the same guard as at 64 MB
    path = write("m.yaml", "jobs:\n" + "  - {kind: image2video}\n" * 100)
    with pytest.raises(ManifestError, match="larger than 0 MB: put the rows in a CSV or JSONL"):
        load_document(path)
