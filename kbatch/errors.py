"""kbatch's one exception tree.

Everything kbatch raises on purpose derives from :class:`KbatchError`; a command that can meet one
prints ``Kind: message`` and exits with the class's ``exit_code``. Anything else is a bug.

::

    KbatchError                      base; ``exit_code`` tells the CLI what to return
     +-- ManifestError               a manifest or a file it names is not valid; holds every Issue
     +-- ConfigError                 the run cannot start: a credential is missing, a port is taken
     +-- NotFound                    what a command asks for is not there (a job id)
     +-- StateError                  the state cannot be used (disk full, newer format, database)
     |    +-- StateMissing           the manifest has not been run with this state yet
     |    +-- LockHeld               another run holds the state file's lock (exit code 3)
     +-- ApiError                    a provider call failed; ``outcome`` says what to do about it
          +-- RetryLater             try again later; ``retry_after``: seconds the provider asked
          +-- JobRejected            this job cannot succeed as written: fail it, keep the message
          |    +-- ExternalIdTaken   its external id names a task already: look it up, adopt it
          +-- RunFatal               nothing more can succeed: stop the whole run
          +-- RouteNotServed         the provider does not serve this route (404 page, redirect)
          +-- OutcomeUnknown         a create was sent and its answer lost: look the task up
          +-- TaskNotFound           the provider knows no such task

``exit_code`` is an :class:`ExitCode`; the CLI maps every KbatchError to it in one place. The
issues of a manifest (:class:`kbatch.manifest.issues.Issue`: file, line, column, field, message)
live with the manifest package. Messages never contain a credential: the loader refuses literal
keys without echoing them, and values shown in messages are shortened.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any


class ExitCode(enum.IntEnum):
    """What ``kbatch`` returns."""

    OK = 0
    #: some job failed in this run, or waits for another run (budget, slots, a stop); or
    #: the state cannot be used
    FAILED = 1
    INVALID = 2  # invalid input: the manifest, an option, a missing credential
    LOCKED = 3  # another run holds the state's lock
    #: nothing new failed: every job not done had failed for good before this run began (an
    #: hourly cron can tell "the same old failures" from 1, "something new went wrong")
    OLD_FAILURES = 4
    INTERRUPTED = 130  # SIGINT/SIGTERM: the state is saved


class Outcome(enum.Enum):
    """What a failed provider call means for the job and the run."""

    RETRY = "retry"
    FAIL_JOB = "fail_job"
    FATAL = "fatal"
    NOT_SERVED = "not_served"
    UNKNOWN = "unknown"
    NOT_FOUND = "not_found"


class KbatchError(Exception):
    """Base of every error kbatch raises on purpose. ``title`` says what kind of error it is in
    words, for the CLI's ``title: message`` line."""

    exit_code = ExitCode.FAILED
    title = "Error"


class ManifestError(KbatchError):
    """The manifest is not valid. ``issues`` holds every problem found
    (:class:`kbatch.manifest.issues.Issue` records, ordered by place), in file order."""

    exit_code = ExitCode.INVALID
    title = "Invalid manifest"

    def __init__(self, issues: Iterable[Any]) -> None:
        self.issues: tuple[Any, ...] = tuple(sorted(issues))
        count = len(self.issues)
        head = str(self.issues[0]) if self.issues else "invalid manifest"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(head + more)


class ConfigError(KbatchError):
    """The run cannot start as configured (a missing credential, an unusable option)."""

    exit_code = ExitCode.INVALID
    title = "Cannot start"


class NotFound(KbatchError):
    """What a command asks for is not there (``kbatch show`` of a job the state does not hold)."""

    exit_code = ExitCode.INVALID
    title = "Not found"


class StateError(KbatchError):
    """The state file cannot be used: unreadable, written by a newer kbatch, or the disk is full.
    Whatever was recorded before stays valid: the next run resumes from it."""

    exit_code = ExitCode.FAILED
    title = "State file problem"


class StateMissing(StateError):
    """The manifest has no state there yet: it has not been run with this state."""


class LockHeld(StateError):
    """Another ``kbatch run`` holds the lock on this state file. The message names the holder."""

    exit_code = ExitCode.LOCKED
    title = "Already running"


class ApiError(KbatchError):
    """A provider call failed. The message is safe to print: it never holds a credential.

    ``status`` is the HTTP status (None when no answer came), ``code`` Kling's or the gateway's
    error code, ``request_id`` the provider's id of the request (quote it to their support).
    """

    outcome = Outcome.RETRY
    title = "Provider error"

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


class ExternalIdTaken(JobRejected):
    """A create refused because a task already has its external task id: an earlier send of the
    same attempt landed (a lost answer, another runner). Never a failure: the engine looks the
    task up by that id and adopts it. Raised by the provider, which knows how its API says so."""


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
