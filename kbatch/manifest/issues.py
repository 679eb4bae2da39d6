"""Problems found in a manifest, with where they are: file, line, column and field.

An issue is an error (the manifest is refused) or a warning (it runs, but something deserves a
look: a field the route ignores, a job on a legacy model); ``kbatch validate`` prints both and
fails on errors only.

>>> issue = Issue(Location("m.yaml", 14, 15), "$.jobs[3].duration", '7 is not one of "5", "10"')
>>> print(issue)
m.yaml:14:15: $.jobs[3].duration: 7 is not one of "5", "10"
>>> print(Issue(Location("m.yaml", 9, 5), "$.jobs[0]", "on kling-v1", Severity.WARNING))
m.yaml:9:5: $.jobs[0]: warning: on kling-v1
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A place in a file: 1-based line and column."""

    file: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Severity(enum.StrEnum):
    """An error refuses the manifest; a warning is printed and refuses nothing."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Issue:
    """One problem found in a manifest: where, which field (a JSON path), and what is wrong."""

    location: Location
    path: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        label = "warning: " if self.severity is Severity.WARNING else ""
        return f"{self.location}: {self.path}: {label}{self.message}"


class IssueLog:
    """Collects issues, errors and warnings apart. A problem repeated across the jobs of an
    entry (same place, field and message) is kept once, with the context of its first job and a
    count of the others."""

    def __init__(self) -> None:
        self._seen: dict[Issue, list[Any]] = {}  # issue -> [first note, count]
        self._warned: dict[Issue, list[Any]] = {}

    def add(self, issue: Issue, note: str = "") -> None:
        _count(self._warned if issue.severity is Severity.WARNING else self._seen, issue, note)

    def warn(self, issue: Issue, note: str = "") -> None:
        """Note a warning: printed by ``kbatch validate`` and ``plan``, refusing nothing."""
        _count(self._warned, issue, note)

    def __len__(self) -> int:
        """How many distinct errors so far (warnings do not count)."""
        return len(self._seen)

    def issues(self) -> list[Issue]:
        """The errors."""
        return _grouped(sorted(_counted(self._seen, Severity.ERROR)))

    def warnings(self) -> list[Issue]:
        return _grouped(sorted(_counted(self._warned, Severity.WARNING)))


def _count(seen: dict[Issue, list[Any]], issue: Issue, note: str) -> None:
    entry = seen.get(issue)
    if entry is None:
        seen[issue] = [note, 1]
    else:
        entry[1] += 1


def _counted(seen: dict[Issue, list[Any]], severity: Severity) -> list[Issue]:
    out = []
    for issue, (note, count) in seen.items():
        message = issue.message + (f" ({note})" if note else "")
        if count > 1:
            message += f" (and in {count - 1} more jobs)"
        out.append(Issue(issue.location, issue.path, message, severity))
    return out


#: From this many problems alike (one file, one field, the same message but for the value it
#: quotes: 300 rows naming images of a folder that does not exist), the first few are shown and
#: the rest counted in one line.
GROUP_FROM = 6
SHOWN_OF_GROUP = 3
_QUOTED = re.compile(r'^"(?:[^"\\]|\\.)*"|^\S+')


def _grouped(issues: list[Issue]) -> list[Issue]:
    """Problems alike beyond :data:`GROUP_FROM`: the first few, then one line for the rest.

    >>> where = [Location("rows.csv", line) for line in range(2, 12)]
    >>> found = [Issue(w, "$.jobs[0].image", f'"img/{w.line}.png" does not exist') for w in where]
    >>> [str(issue) for issue in _grouped(found)][-1]
    'rows.csv:5:1: $.jobs[0].image: and 7 more like it: does not exist (through line 11)'
    """
    groups: dict[tuple[str, str, str], list[Issue]] = {}
    for issue in issues:
        rest = _QUOTED.sub("", issue.message, count=1).strip()
        groups.setdefault((issue.location.file, issue.path, rest), []).append(issue)
    out: list[Issue] = []
    for (_, path, rest), alike in groups.items():
        if len(alike) < GROUP_FROM or not rest:
            out += alike
            continue
        out += alike[:SHOWN_OF_GROUP]
        more = alike[SHOWN_OF_GROUP:]
        last = more[-1].location.line
        message = f"and {len(more)} more like it: {rest} (through line {last})"
        out.append(Issue(more[0].location, path, message, more[0].severity))
    return sorted(out)


def show(value: Any, limit: int = 60) -> str:
    """Render a value for a message: JSON-like, and shortened so no long blob (base64) is echoed.

    >>> show("x" * 100, limit=10)
    '"xxxxxxxx…'
    """
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # pragma: no cover - only JSON-like values reach here
        text = repr(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    # A lone surrogate (from a "\\ud800" escape in JSON or YAML) cannot be printed: escape it.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def missing(request: Mapping[str, Any], *names: str) -> list[tuple[tuple[str | int, ...], str]]:
    """A kind's rule problem for each required field a request lacks, located at the job.

    >>> missing({"text": "hi"}, "text", "voice_id")
    [((), "missing required field 'voice_id'")]
    """
    return [((), f"missing required field '{name}'") for name in names if name not in request]


__all__ = ["Issue", "IssueLog", "Location", "Severity", "missing", "show"]
