"""Why a run stops, and what it may still submit: the stop policy every job of a run shares."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kbatch.engine.events import EventName
from kbatch.engine.options import StopReason
from kbatch.engine.retry import GaveUp
from kbatch.errors import ApiError, RunFatal, StateError
from kbatch.provider.catalogue import PACK, JobKind, PackType
from kbatch.provider.wire import ACCOUNT_CODES, AUTH_CODES, Code

Emit = Callable[[EventName, str | None, str], None]


class Halted(Exception):
    """This job's life stops because the run stops."""


class Stops:
    """The run's stop policy: why it stops, and what may still be submitted.

    An interrupt, a provider that stays unavailable, or a state that cannot be written stop
    everything at once (``halted`` is set and the workers are cancelled). A fatal answer stops
    submitting and lets the tasks at the provider be followed; 1102 (an exhausted pack) stops
    only that pack's submissions.
    """

    def __init__(self, emit: Emit, *, credential_hint: str = "the API key") -> None:
        self._emit = emit
        #: What to check when the provider refuses the credentials (the provider says which).
        self.credential_hint = credential_hint
        self.reason: StopReason | None = None
        self.message: str | None = None
        self.halted_packs: dict[PackType, str] = {}
        self.not_served: dict[JobKind, str] = {}
        self.halted = asyncio.Event()
        self.bug: BaseException | None = None

    def may_submit(self, kind: JobKind) -> bool:
        return self.reason is None and PACK[kind] not in self.halted_packs

    def stop(self, reason: StopReason, message: str) -> None:
        """Stop everything now: the workers are cancelled, the state keeps what they did."""
        if self.reason in (None, StopReason.FATAL):
            self.reason, self.message = reason, message
            self._emit(EventName.STOP, None, message)
        self.halted.set()

    def interrupt(self) -> None:
        self.stop(StopReason.INTERRUPTED, "interrupted: the state is saved; run again to resume")

    def unwritten(self, exc: StateError) -> None:
        self.stop(StopReason.STATE, str(exc))

    def gave_up(self, exc: GaveUp) -> None:
        self.stop(
            StopReason.UNAVAILABLE,
            f"the provider kept failing ({exc.error.message}); run again later to finish: "
            "nothing is lost",
        )

    def fatal(self, exc: ApiError, pack: PackType) -> None:
        """A fatal answer: stop submitting (only this pack's jobs for an exhausted pack)."""
        if exc.code == Code.PACK_EXHAUSTED:
            if pack not in self.halted_packs:
                self.halted_packs[pack] = exc.message
                self._emit(
                    EventName.STOP, None, f"{exc.message}: no more {pack} jobs are submitted"
                )
            return
        if self.reason is None:
            self.reason = StopReason.FATAL
            self.message = advice(exc, self.credential_hint)
            self._emit(EventName.STOP, None, self.message)

    def trouble(self, exc: ApiError) -> None:
        """Polling cannot go on: the provider refuses (fatal) or keeps failing."""
        if isinstance(exc, RunFatal):
            self.stop(StopReason.FATAL, advice(exc, self.credential_hint))
        else:
            self.stop(
                StopReason.UNAVAILABLE,
                f"status checks kept failing ({exc.message}); run again later to finish",
            )

    def crash(self, exc: BaseException) -> None:
        """A bug: stop the run and show it."""
        self.bug = self.bug or exc
        self.halted.set()


def advice(exc: ApiError, credential_hint: str) -> str:
    """What to do about a fatal answer. ``credential_hint``: the variables the provider's
    credentials came from (a key for CometAPI, the access/secret pair for Kling, ...).

    >>> from kbatch.errors import RunFatal
    >>> advice(RunFatal("Authorization failed", code=1002), "COMETAPI_KEY")[:66]
    'Authorization failed: check COMETAPI_KEY in the environment; tasks'
    """
    code = exc.code
    if code in AUTH_CODES:
        what = f"check {credential_hint} in the environment"
    elif code in ACCOUNT_CODES:
        what = "top up the account or its resource pack"
    elif code == Code.IP_POLICY:
        what = "add this machine's IP address to the account's allow-list"
    else:
        what = "fix the account, then run again"
    return f"{exc.message}: {what}; tasks already at the provider are kept and followed next run"


__all__ = ["Emit", "Halted", "Stops", "advice"]
