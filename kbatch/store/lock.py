"""The run lock: an advisory ``flock`` on ``<state>.lock``, naming its holder.

The kernel releases it when its holder dies, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kbatch.errors import LockHeld


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a run lock."""

    pid: int
    host: str
    since: float

    def __str__(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"pid {self.pid} on {self.host}, since {when}"


def lock_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".lock")


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``<state>.lock``; the file names the holder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self, state_path: Path) -> None:
        handle = self.path.open("a+", encoding="utf-8")  # held until release
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            holder = read_holder(self.path)
            who = f" ({holder})" if holder else ""
            raise LockHeld(
                f"another kbatch run{who} holds {state_path}; wait for it to finish, or use "
                "'kbatch status' to watch it"
            ) from None
        handle.seek(0)
        handle.truncate()
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}, handle)
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            self._file.flush()
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def read_holder(path: Path) -> Holder | None:
    """The holder a lock file names, or None if the lock is free (or the file unreadable)."""
    try:
        with path.open(encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                data = json.loads(handle.read() or "{}")
                return Holder(int(data["pid"]), str(data["host"]), float(data["since"]))
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None


__all__ = ["Holder", "RunLock", "lock_path", "read_holder"]
