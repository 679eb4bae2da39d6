"""Where a manifest's state lives: a SQLite file (the default, in the output folder) or a
PostgreSQL database shared by several runners (``--state postgresql://...`` or ``KBATCH_STATE``).

A location is one of two frozen values, :class:`StateFile` and :class:`SharedDatabase`, made by
:func:`locate` from the output folder and what was given. Everything that differs between the
two is asked of the location, never decided from the type of a string::

    where = locate(Path("out/demo"), given)   # given: --state, KBATCH_STATE, or None
    where.shared                              # --role and --lease need a shared state
    with where.read(manifest_name="demo") as state:
        state.status()

PostgreSQL's modules (and its driver) are imported only when a shared location is opened or
read: a run on a state file never loads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from kbatch.store.lock import Holder, lock_path, read_holder
from kbatch.store.protocol import StateStore
from kbatch.store.seats import RunnerSpec
from kbatch.store.sqlite import SqliteStore, state_file
from kbatch.store.urls import is_url, redacted


@dataclass(frozen=True, slots=True)
class StateFile:
    """A SQLite state file: one runner at a time, under a run lock beside the file."""

    path: Path
    shared: ClassVar[bool] = False

    def open(
        self,
        *,
        manifest_name: str,
        account: str,
        runner: RunnerSpec,
        jobs: Iterable[tuple[str, str]],
    ) -> StateStore:
        """Open for a run, creating the file: under the run lock (LockHeld when another run
        has it). ``account``, ``runner`` and ``jobs`` matter only to a shared state."""
        return SqliteStore.open(self.path, manifest_name=manifest_name, lock=True)

    def read(self, *, manifest_name: str) -> StateStore:
        """Open for reading (status, reports, export, show, plan): no lock; StateMissing if
        nothing has run yet."""
        return SqliteStore.read(self.path)

    def exists(self) -> bool:
        """Whether a run has written the file yet."""
        return self.path.exists()

    def holder(self) -> Holder | None:
        """The run that holds the file's lock now, if any."""
        return read_holder(lock_path(self.path)) if self.path.exists() else None

    def describe(self) -> str:
        """The file as the user named it."""
        return str(self.path)

    @property
    def identity(self) -> str:
        """What the output folder's owner marker records: the file's full path."""
        return str(self.path.resolve())

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True, slots=True)
class SharedDatabase:
    """A PostgreSQL database that several runners share. Its URL may carry a password: it is
    kept out of ``repr`` and ``str``, which show the URL redacted."""

    url: str
    shared: ClassVar[bool] = True

    def open(
        self,
        *,
        manifest_name: str,
        account: str,
        runner: RunnerSpec,
        jobs: Iterable[tuple[str, str]],
    ) -> StateStore:
        """Open for a run as a new runner of the manifest (migrating the database): StateError
        if live runners run it with other ``jobs`` (id, fingerprint) or inputs."""
        from kbatch.store.postgres import PostgresStore, manifest_fingerprint

        return PostgresStore.open(
            self.url,
            manifest_name=manifest_name,
            account=account,
            fingerprint=manifest_fingerprint(jobs),
            runner=runner,
        )

    def read(self, *, manifest_name: str) -> StateStore:
        """Open for reading: no runner, no migration; StateMissing if the manifest has not run
        with this database."""
        from kbatch.store.postgres import PostgresStore

        return PostgresStore.read(self.url, manifest_name=manifest_name)

    def exists(self) -> bool:
        """A database is there to ask (whether it holds this manifest, :meth:`read` says)."""
        return True

    def holder(self) -> Holder | None:
        """A shared state has runners, not one lock holder (``kbatch status`` lists them)."""
        return None

    def describe(self) -> str:
        """The URL without its password."""
        return redacted(self.url)

    @property
    def identity(self) -> str:
        """What the output folder's owner marker records: the URL without its password."""
        return redacted(self.url)

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return f"SharedDatabase({self.describe()!r})"


#: Where a state lives: a closed family, so a ``match`` over it is checked to be complete.
StateLocation = StateFile | SharedDatabase


def locate(output_dir: Path, given: str | Path | None) -> StateLocation:
    """The state ``given`` (``--state`` or ``KBATCH_STATE``: a file, or a database URL kept as
    given), else the output folder's state file.

    >>> locate(Path("out"), None), locate(Path("out"), "s.db")
    (StateFile(path=PosixPath('out/state.sqlite3')), StateFile(path=PosixPath('s.db')))
    >>> locate(Path("out"), "postgresql://kb:s3cret@db/kbatch")
    SharedDatabase('postgresql://kb:***@db/kbatch')
    """
    if is_url(given):
        return SharedDatabase(str(given))
    return StateFile(state_file(output_dir, Path(given) if given is not None else None))


__all__ = ["SharedDatabase", "StateFile", "StateLocation", "locate"]
