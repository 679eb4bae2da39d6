"""kbatch's one exception tree.

Everything kbatch raises on purpose derives from :class:`KbatchError`; a command that can meet one
prints ``Kind: message`` and exits with the class's ``exit_code``. Anything else is a bug.

::

    KbatchError                      base; ``exit_code`` tells the CLI what to return
     +-- ManifestError               a manifest or a file it names is not valid; holds every Issue
     +-- ConfigError                 the run cannot start: a credential is missing, a port is taken
     +-- StateError                  the state file cannot be used (disk full, newer format)
     |    +-- LockHeld               another run holds the state file's lock (exit code 3)
     +-- ApiError                    a provider call failed; ``outcome`` says what to do about it
          +-- RetryLater             try again later; ``retry_after``: seconds the provider asked
          +-- JobRejected            this job cannot succeed as written: fail it, keep the message
          +-- RunFatal               nothing more can succeed: stop the whole run
          +-- RouteNotServed         the provider does not serve this route (404 page, redirect)
          +-- OutcomeUnknown         a create was sent and its answer lost: look the task up
          +-- TaskNotFound           the provider knows no such task

:class:`IssueLog` collects the issues of a check before they become a ManifestError.

Messages never contain a credential: the loader refuses literal keys without echoing them, and
values shown in messages are shortened (see :func:`kbatch.errors.show`).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
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


@dataclass(frozen=True, slots=True, order=True)
class Issue:
    """One problem found in a manifest: where, which field (a JSON path), and what is wrong."""

    location: Location
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.path}: {self.message}"


class IssueLog:
    """Collects issues. A problem repeated across the jobs of an entry (same place, field and
    message) is kept once, with the context of its first job and a count of the others."""

    def __init__(self) -> None:
        self._seen: dict[Issue, list[Any]] = {}  # issue -> [first note, count]

    def add(self, issue: Issue, note: str = "") -> None:
        entry = self._seen.get(issue)
        if entry is None:
            self._seen[issue] = [note, 1]
        else:
            entry[1] += 1

    def __len__(self) -> int:
        """How many distinct issues so far."""
        return len(self._seen)

    def issues(self) -> list[Issue]:
        out = []
        for issue, (note, count) in self._seen.items():
            message = issue.message + (f" ({note})" if note else "")
            if count > 1:
                message += f" (and in {count - 1} more jobs)"
            out.append(Issue(issue.location, issue.path, message))
        return sorted(out)


class Outcome(enum.Enum):
    """What a failed provider call means for the job and the run."""

    RETRY = "retry"
    FAIL_JOB = "fail_job"
    FATAL = "fatal"
    NOT_SERVED = "not_served"
    UNKNOWN = "unknown"
    NOT_FOUND = "not_found"


class KbatchError(Exception):
    """Base of every error kbatch raises on purpose."""

    exit_code = 1


class ManifestError(KbatchError):
    """The manifest is not valid. ``issues`` holds every problem found, in file order."""

    exit_code = 2

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues: tuple[Issue, ...] = tuple(sorted(issues))
        count = len(self.issues)
        head = str(self.issues[0]) if self.issues else "invalid manifest"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(head + more)


class ConfigError(KbatchError):
    """The run cannot start as configured (a missing credential, an unusable option)."""

    exit_code = 2


class StateError(KbatchError):
    """The state file cannot be used: unreadable, written by a newer kbatch, or the disk is full.
    Whatever was recorded before stays valid: the next run resumes from it."""

    exit_code = 1


class LockHeld(StateError):
    """Another ``kbatch run`` holds the lock on this state file. The message names the holder."""

    exit_code = 3


class ApiError(KbatchError):
    """A provider call failed. The message is safe to print: it never holds a credential.

    ``status`` is the HTTP status (None when no answer came), ``code`` Kling's or the gateway's
    error code, ``request_id`` the provider's id of the request (quote it to their support).
    """

    outcome = Outcome.RETRY

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after


class RetryLater(ApiError):
    """Transient: rate limited, slots full, server error, connection lost before sending."""

    outcome = Outcome.RETRY


class JobRejected(ApiError):
    """The provider refused this job (invalid field, content policy, no permission): fail it."""

    outcome = Outcome.FAIL_JOB


class RunFatal(ApiError):
    """Authentication, account, arrears or IP policy: no further request can succeed."""

    outcome = Outcome.FATAL


class RouteNotServed(ApiError):
    """The provider answered this route with a 404 page, an HTML page or a redirect."""

    outcome = Outcome.NOT_SERVED


class OutcomeUnknown(ApiError):
    """A create was sent but its answer was lost: the task may exist. Look it up by its
    external task id before sending it again."""

    outcome = Outcome.UNKNOWN


class TaskNotFound(ApiError):
    """The provider knows no task by that id (unknown, expired after 30 days, or foreign)."""

    outcome = Outcome.NOT_FOUND


API_ERRORS: dict[Outcome, type[ApiError]] = {
    cls.outcome: cls
    for cls in (RetryLater, JobRejected, RunFatal, RouteNotServed, OutcomeUnknown, TaskNotFound)
}


def show(value: Any, limit: int = 60) -> str:
    """Render a value for a message: JSON-like, and shortened so no long blob (base64) is echoed."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # pragma: no cover - only JSON-like values reach here
        text = repr(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    # A lone surrogate (from a "\\ud800" escape in JSON or YAML) cannot be printed: escape it.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
