"""Example-file driven manifest tests, in the manner of check-jsonschema.

Every ``manifests/invalid/*.yaml`` marks what it must produce: ``#> [@COL] PATH: MESSAGE`` on the
line where the problem must be reported, or ``#>> [FILE:]LINE:COL PATH: MESSAGE`` for a place
elsewhere (FILE relative to the case). MESSAGE is the start of the message; ``...`` in it stands
for any text. Each case must produce exactly the issues it marks, no more. Every
``manifests/valid/*.yaml`` must validate and says how many jobs it expands to (``# jobs: N``).
A warning (which refuses nothing) is marked ``#w> [@COL] PATH: MESSAGE``, valid or not: a case
that marks any warning must produce exactly the warnings it marks.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from kbatch import ManifestError, load_manifest, validate
from kbatch.manifest.issues import Issue
from tests.conftest import EXAMPLES, REPO

INLINE = re.compile(r"#>(?:@(\d+))? (\$\S*): (.+)$")
WARNING = re.compile(r"#w>(?:@(\d+))? (\$\S*): (.+)$")
ELSEWHERE = re.compile(r"#>> (?:(\S+):)?(\d+):(\d+) (\$\S*): (.+)$")


@dataclass(frozen=True)
class Expected:
    file: str
    line: int
    column: int | None
    path: str
    message: str


def expectations(case: Path, *, warnings: bool = False) -> list[Expected]:
    out = []
    for number, text in enumerate(case.read_text(encoding="utf-8").splitlines(), 1):
        if warnings:
            if match := WARNING.search(text):
                column, path, message = match.groups()
                out.append(
                    Expected(str(case), number, int(column) if column else None, path, message)
                )
        elif match := ELSEWHERE.search(text):
            other, line, column, path, message = match.groups()
            file = os.path.normpath(case.parent / other) if other else str(case)
            out.append(Expected(file, int(line), int(column), path, message))
        elif match := INLINE.search(text):
            column, path, message = match.groups()
            out.append(Expected(str(case), number, int(column) if column else None, path, message))
    return out


def _message_matches(message: str, pattern: str) -> bool:
    """The message starts with ``pattern``; ``...`` in the pattern stands for any text."""
    regex = ".*".join(re.escape(part) for part in pattern.split("..."))
    return re.match(regex, message) is not None


INVALID = sorted((EXAMPLES / "invalid").glob("*.yaml"))
#: ``valid/newapi/``: manifests whose jobs go to Kling's new API (kept apart: the cases directly
#: under ``valid/`` are also the manifests whose targets must not change, tests/provider).
VALID = sorted((EXAMPLES / "valid").rglob("*.yaml"))
SHIPPED = sorted((REPO / "manifests").glob("*.yaml"))


def test_there_are_enough_invalid_cases() -> None:
    assert len(INVALID) >= 40


@pytest.mark.parametrize("case", INVALID, ids=lambda p: p.stem)
def test_invalid_manifest_reports_exactly_what_it_marks(case: Path) -> None:
    expected = expectations(case)
    assert expected, f"{case.name} marks no expected issue"
    validation = validate(case)
    assert not validation.ok
    _match_exactly(expected, list(validation.issues))


def _match_exactly(expected: list[Expected], found: list[Issue]) -> None:
    for want in expected:
        matches = [
            issue
            for issue in found
            if os.path.normpath(issue.location.file) == want.file
            and issue.location.line == want.line
            and (want.column is None or issue.location.column == want.column)
            and issue.path == want.path
            and _message_matches(issue.message, want.message.strip())
        ]
        assert matches, f"no issue like {want}; found:\n" + "\n".join(map(str, found))
        found.remove(matches[0])
    assert not found, "unexpected issues:\n" + "\n".join(map(str, found))


MARKS_WARNINGS = [case for case in (*INVALID, *VALID) if expectations(case, warnings=True)]


@pytest.mark.parametrize("case", MARKS_WARNINGS, ids=lambda p: p.stem)
def test_a_case_warns_exactly_what_it_marks(case: Path) -> None:
    validation = validate(case)
    _match_exactly(expectations(case, warnings=True), list(validation.warnings))
    assert all(str(warning).count(": warning: ") == 1 for warning in validation.warnings)


@pytest.mark.parametrize("case", INVALID, ids=lambda p: p.stem)
def test_loading_an_invalid_manifest_raises_manifest_error(case: Path) -> None:
    with pytest.raises(ManifestError) as raised:
        load_manifest(case)
    assert raised.value.issues == validate(case).issues


@pytest.mark.parametrize("case", VALID, ids=lambda p: p.stem)
def test_valid_manifest_expands_to_the_jobs_it_announces(case: Path) -> None:
    announced = re.search(r"^# jobs: (\d+)$", case.read_text(encoding="utf-8"), re.MULTILINE)
    assert announced, f"{case.name} does not say how many jobs it has"
    validation = validate(case)
    assert validation.issues == ()
    jobs = list(load_manifest(case).jobs())
    assert len(jobs) == validation.summary.total == int(announced.group(1))


@pytest.mark.parametrize("manifest", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_manifest_validates(manifest: Path) -> None:
    validation = validate(manifest)
    assert validation.issues == ()
    assert validation.summary.total > 0
