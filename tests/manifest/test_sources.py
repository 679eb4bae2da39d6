"""foreach sources: rows with their line numbers, and every bad line reported, not raised."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kbatch.manifest.issues import Issue
from kbatch.manifest.sources import MAX_ISSUES_PER_FILE, csv_columns, csv_rows, jsonl_rows


def test_csv_rows_know_the_line_they_start_on(write: Callable[..., Path]) -> None:
    path = write("s.csv", '\ufeffid,prompt\na,one\n\nb,"two\nlines"\nc,three\n')
    issues: list[Issue] = []
    assert csv_columns(path, "s.csv", issues) == ("id", "prompt")
    rows = list(csv_rows(path, "s.csv", issues))
    assert issues == []
    assert [(r.number, r.location.line, r.values["id"]) for r in rows] == [
        (1, 2, "a"),
        (2, 4, "b"),
        (3, 6, "c"),
    ]
    assert rows[1].values["prompt"] == "two\nlines"


def test_a_bad_csv_row_is_reported_and_the_rest_still_read(write: Callable[..., Path]) -> None:
    path = write("s.csv", b"id,prompt\na,one\nb\nc,caf\xe9\nd,four\n")
    issues: list[Issue] = []
    rows = list(csv_rows(path, "s.csv", issues))
    assert [r.values["id"] for r in rows] == ["a", "d"]
    assert [str(i) for i in issues] == [
        "s.csv:3:1: $: row 2 has 1 fields; the header has 2",
        "s.csv:4:1: $: row 3 is not UTF-8 text: it holds bytes that cannot be decoded",
    ]


def test_a_binary_file_stops_being_read_after_enough_problems(write: Callable[..., Path]) -> None:
    junk = b"a,b\n" + b"".join(b"\x00\xff\xfe,\x01\n" for _ in range(500))
    path = write("junk.csv", junk)
    issues: list[Issue] = []
    assert list(csv_rows(path, "junk.csv", issues)) == []
    assert len(issues) == MAX_ISSUES_PER_FILE + 1
    assert issues[-1].message.startswith(f"more than {MAX_ISSUES_PER_FILE} problems")


def test_jsonl_keeps_json_types_and_skips_blank_lines(write: Callable[..., Path]) -> None:
    path = write("r.jsonl", '{"n": 2, "tags": ["a"]}\n\n  \n{"n": 3.5, "ok": true}\n')
    issues: list[Issue] = []
    rows = list(jsonl_rows(path, "r.jsonl", issues))
    assert issues == []
    assert [(r.number, r.location.line, r.values) for r in rows] == [
        (1, 1, {"n": 2, "tags": ["a"]}),
        (2, 4, {"n": 3.5, "ok": True}),
    ]


def test_jsonl_problems_are_located_by_line_and_column(write: Callable[..., Path]) -> None:
    path = write(
        "r.jsonl", b'{"a": 1}\n{"a": }\n"text"\n{"a": Infinity}\n\xff\n' + b"[" * 100000 + b"\n"
    )
    issues: list[Issue] = []
    rows = list(jsonl_rows(path, "r.jsonl", issues))
    assert [r.values for r in rows] == [{"a": 1}]
    assert [str(i) for i in issues] == [
        "r.jsonl:2:7: $: not valid JSON: Expecting value",
        "r.jsonl:3:1: $: each line must be a JSON object, not a string",
        "r.jsonl:4:1: $: not valid JSON: Infinity is not a finite number",
        "r.jsonl:5:1: $: not UTF-8 text: byte 0xff cannot be decoded",
        "r.jsonl:6:1: $: not valid JSON: nested too deeply",
    ]


def test_an_unreadable_source_is_one_issue(tmp_path: Path) -> None:
    issues: list[Issue] = []
    assert list(jsonl_rows(tmp_path / "gone.jsonl", "gone.jsonl", issues)) == []
    assert csv_columns(tmp_path, "dir.csv", issues) is None
    assert [i.message for i in issues] == [
        "cannot read file: No such file or directory",
        "cannot read file: Is a directory",
    ]


def test_a_device_is_refused_as_a_source() -> None:
    issues: list[Issue] = []
    assert list(csv_rows(Path("/dev/zero"), "zero.csv", issues)) == []
    assert list(jsonl_rows(Path("/dev/zero"), "zero.jsonl", issues)) == []
    assert csv_columns(Path("/dev/zero"), "zero.csv", issues) is None
    assert {i.message for i in issues} == {"cannot read file: it is a device, not a file"}


def test_jsonl_refuses_a_lone_surrogate_and_keeps_a_pair(write: Callable[..., Path]) -> None:
    path = write("r.jsonl", b'{"p": "a\\ud800"}\n{"p": "ok \\ud83d\\ude00"}\n')
    issues: list[Issue] = []
    rows = list(jsonl_rows(path, "r.jsonl", issues))
    assert [r.values for r in rows] == [{"p": "ok \U0001f600"}]
    assert [str(i) for i in issues] == [
        "r.jsonl:1:1: $: holds a lone surrogate escape (\\ud800-\\udfff): not text"
    ]
