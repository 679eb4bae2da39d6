"""The state store: one SQLite file per manifest, written before every step that acts.

::

    with State.open(path, manifest_name="demo") as state:    # creates or migrates the file
        rows = state.load()                                   # {job id: JobRow}
        await state.write(replace(row, state=JobState.SUBMITTING, ...))   # durable on return

A job's row is rewritten whole at each transition of DESIGN.md's state machine. :meth:`State.write`
returns once its transaction is on disk, so the engine never spends money on a transition that
could still be lost; :meth:`State.post` queues records for the same commits without waiting, for
the steps that are free to redo. Commits keep the order of writes and posts, and writes from many
jobs that arrive together share one transaction (group commit): one fsync pays for all of them.

Durability: WAL journal with ``synchronous=FULL``. A write that returned survives the process being
killed (kill -9), an OS crash and a power cut, as far as the disk honours fsync. ``NORMAL`` would
survive kill -9 only, and after a power cut could forget an external task id whose create was
already sent; the cost of FULL is one fsync per group commit, which group commit keeps small.

The run lock is an advisory ``flock`` on ``<state>.lock``, released by the kernel when its holder
dies, so a killed run never leaves a stale lock. Readers (``kbatch status``) need no lock: WAL lets
them read while a run writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import fcntl
import hashlib
import json
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any, Self

from kbatch.errors import LockHeld, StateError
from kbatch.kling import JobKind

#: The state file's format version (``PRAGMA user_version``).
VERSION = 1
#: The state file's name inside the output folder, unless --state says otherwise.
STATE_FILE = "state.sqlite3"


def state_file(output_dir: Path, given: Path | None = None) -> Path:
    """Where a manifest's state lives: ``given`` (--state), else the output folder's."""
    return given or output_dir / STATE_FILE


class JobState(enum.StrEnum):
    """Where a job is. DESIGN.md draws the machine; ``SUBMITTING`` means the external task id is
    recorded and a create may have been sent: the next step looks the task up before any resend."""

    PENDING = "pending"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DOWNLOADED = "downloaded"
    FAILED = "failed"

    @property
    def at_provider(self) -> bool:
        """A task may exist at the provider and hold slots there."""
        return self in (JobState.SUBMITTING, JobState.SUBMITTED, JobState.RUNNING)


@dataclass(frozen=True, slots=True)
class JobRow:
    """One job as the state holds it. Times are Unix seconds; ``units`` sums every attempt."""

    id: str
    kind: JobKind
    fingerprint: str
    state: JobState = JobState.PENDING
    attempt: int = 0  # creates started: attempt N uses external task id N
    failures: int = 0  # attempts the provider failed, counted against max_attempts
    external_task_id: str | None = None
    task_id: str | None = None
    slots: int = 1
    estimate: float = 0.0
    units: float = 0.0
    error_reason: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    created_at: float = 0.0
    submitted_at: float | None = None
    finished_at: float | None = None
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class MediaRow:
    """One result file of a job: where the provider serves it and, once saved, where it is."""

    job_id: str
    index: int
    kind: str
    url: str
    extension: str
    path: str | None = None  # relative to the output folder, once downloaded
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One create of a job: its external task id, and what became of it."""

    job_id: str
    attempt: int
    external_task_id: str
    task_id: str | None = None
    started_at: float = 0.0
    ended_at: float | None = None
    outcome: str | None = None
    units: float | None = None
    message: str | None = None


Record = JobRow | MediaRow | AttemptRow

_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, fingerprint TEXT NOT NULL, state TEXT NOT NULL,
        attempt INTEGER NOT NULL, failures INTEGER NOT NULL, external_task_id TEXT, task_id TEXT,
        slots INTEGER NOT NULL, estimate REAL NOT NULL, units REAL NOT NULL,
        error_reason TEXT, error_code TEXT, error_message TEXT,
        created_at REAL NOT NULL, submitted_at REAL, finished_at REAL, updated_at REAL NOT NULL
    );
    CREATE INDEX jobs_by_state ON jobs (state);
    CREATE TABLE media (
        job_id TEXT NOT NULL, "index" INTEGER NOT NULL, kind TEXT NOT NULL, url TEXT NOT NULL,
        extension TEXT NOT NULL, path TEXT, size INTEGER, sha256 TEXT,
        PRIMARY KEY (job_id, "index")
    );
    CREATE TABLE attempts (
        job_id TEXT NOT NULL, attempt INTEGER NOT NULL, external_task_id TEXT NOT NULL,
        task_id TEXT, started_at REAL NOT NULL, ended_at REAL, outcome TEXT, units REAL,
        message TEXT,
        PRIMARY KEY (job_id, attempt)
    );
    """,
)

_TABLES: dict[type[Any], str] = {JobRow: "jobs", MediaRow: "media", AttemptRow: "attempts"}
_KEYS: dict[type[Any], tuple[str, ...]] = {
    JobRow: ("id",),
    MediaRow: ("job_id", "index"),
    AttemptRow: ("job_id", "attempt"),
}


def _upsert(cls: type[Any]) -> str:
    """An insert that updates a row in place (keeping its rowid, so that rows stay in the
    order they were first written: the manifest's, for reports)."""
    names = [f'"{f.name}"' for f in fields(cls)]
    marks = ", ".join("?" for _ in names)
    keys = ", ".join(f'"{key}"' for key in _KEYS[cls])
    updates = ", ".join(
        f"{name} = excluded.{name}" for name in names if name[1:-1] not in _KEYS[cls]
    )
    return (
        f"INSERT INTO {_TABLES[cls]} ({', '.join(names)}) VALUES ({marks}) "
        f"ON CONFLICT ({keys}) DO UPDATE SET {updates}"
    )


_UPSERT = {cls: _upsert(cls) for cls in _TABLES}


def _job(row: tuple[Any, ...]) -> JobRow:
    values = list(row)
    values[1], values[3] = JobKind(values[1]), JobState(values[3])
    return JobRow(*values)


def external_task_id(salt: str, job_id: str, fingerprint: str, attempt: int) -> str:
    """The external task id of a job's attempt: the same on every run that shares the state file,
    different for another job (even one with the same content: a dataset may ask for the same
    request many times), another attempt, or another state file (another manifest, or the same
    one started afresh)."""
    digest = hashlib.sha256(f"{salt}\0{job_id}\0{fingerprint}\0{attempt}".encode()).hexdigest()
    return f"kb-{digest[:32]}"


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a run lock."""

    pid: int
    host: str
    since: float

    def __str__(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"pid {self.pid} on {self.host}, since {when}"


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


def read_holder(lock_path: Path) -> Holder | None:
    """The holder a lock file names, or None if the lock is free (or the file unreadable)."""
    try:
        with lock_path.open(encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                data = json.loads(handle.read() or "{}")
                return Holder(int(data["pid"]), str(data["host"]), float(data["since"]))
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True, slots=True)
class Summary:
    """What ``kbatch status`` shows."""

    counts: dict[JobState, int]
    units: float
    in_flight_slots: int
    last_error: tuple[str, str] | None  # (job id, message)
    holder: Holder | None


class State:
    """An open state file. Use :meth:`open`; every method is safe from any thread."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self._lock = threading.Lock()
        self._run_lock: RunLock | None = None
        self._pending: list[tuple[tuple[Record, ...], asyncio.Future[None] | None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.salt = ""
        #: Group commits made, and records written: what group commit saves can be measured.
        self.commits = 0
        self.records = 0
        #: The first commit that failed, and who to tell of each (a :meth:`post` has no caller
        #: waiting for it).
        self.failure: StateError | None = None
        self.on_failure: Callable[[StateError], None] | None = None

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, manifest_name: str, lock: bool = False) -> Self:
        """Open (creating or migrating) the state of a manifest. With ``lock``, take the run lock
        first: LockHeld, naming the holder, when another run has it."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create the folder of the state file {path}: {exc}") from None
        run_lock = None
        if lock:
            run_lock = RunLock(path.with_name(path.name + ".lock"))
            run_lock.acquire(path)
        try:
            state = cls(path, _connect(path))
            state._run_lock = run_lock
            state._adopt(manifest_name)
        except BaseException:
            if run_lock is not None:
                run_lock.release()
            raise
        return state

    @classmethod
    def read(cls, path: str | Path) -> Self:
        """Open an existing state file for reading (``kbatch status``, reports); no lock."""
        path = Path(path)
        if not path.exists():
            raise StateError(f"no state file at {path}: the manifest has not been run yet")
        return cls(path, _connect(path))

    def _adopt(self, manifest_name: str) -> None:
        """Migrate to the current version; refuse a state file that belongs to another manifest."""
        with self._lock, _errors(self.path):
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(_MIGRATIONS):
                raise StateError(
                    f"{self.path} was written by a newer kbatch (state version {version}; this "
                    f"one reads up to {len(_MIGRATIONS)}): upgrade kbatch"
                )
            for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                self._db.execute("BEGIN IMMEDIATE")
                for statement in script.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")
                self._db.execute("COMMIT")
        self.salt = self._meta("salt") or ""
        owner = self._meta("manifest")
        if owner is not None and owner != manifest_name:
            raise StateError(
                f"{self.path} holds the state of manifest {owner!r}, not {manifest_name!r}: "
                "give this manifest its own output.dir or --state"
            )
        if owner is None or not self.salt:
            self.salt = self.salt or secrets.token_hex(8)
            self._set_meta({"manifest": manifest_name, "salt": self.salt})

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._run_lock is not None:
            self._run_lock.release()
            self._run_lock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------

    def load(self) -> dict[str, JobRow]:
        """Every job row, by id."""
        with self._lock, _errors(self.path):
            cursor = self._db.execute("SELECT * FROM jobs ORDER BY rowid")
            return {row[0]: _job(row) for row in cursor}

    def media(self, job_id: str) -> list[MediaRow]:
        with self._lock, _errors(self.path):
            cursor = self._db.execute(
                'SELECT * FROM media WHERE job_id = ? ORDER BY "index"', (job_id,)
            )
            return [MediaRow(*row) for row in cursor]

    def all_media(self) -> dict[str, list[MediaRow]]:
        """Every job's result files, by job id, in one query (for reports)."""
        out: dict[str, list[MediaRow]] = {}
        with self._lock, _errors(self.path):
            cursor = self._db.execute('SELECT * FROM media ORDER BY job_id, "index"')
            for row in cursor:
                out.setdefault(row[0], []).append(MediaRow(*row))
        return out

    def attempts(self, job_id: str) -> list[AttemptRow]:
        with self._lock, _errors(self.path):
            cursor = self._db.execute(
                "SELECT * FROM attempts WHERE job_id = ? ORDER BY attempt", (job_id,)
            )
            return [AttemptRow(*row) for row in cursor]

    def units(self) -> float:
        """Units spent by every job, every attempt."""
        with self._lock, _errors(self.path):
            return float(self._db.execute("SELECT TOTAL(units) FROM jobs").fetchone()[0])

    def revision(self) -> str:
        """A value that changes whenever a job row does: every write sets ``updated_at``."""
        with self._lock, _errors(self.path):
            count, latest = self._db.execute(
                "SELECT COUNT(*), MAX(updated_at) FROM jobs"
            ).fetchone()
        return f"{count}:{latest!r}"

    def note(self, key: str, value: str) -> None:
        """Keep a small value in the state file (what the last reports were written from)."""
        self._set_meta({f"note.{key}": value})

    def noted(self, key: str) -> str | None:
        return self._meta(f"note.{key}")

    def summary(self) -> Summary:
        with self._lock, _errors(self.path):
            counts = Counter({JobState(s): n for s, n in self._db.execute(_COUNTS_SQL).fetchall()})
            slots = self._db.execute(_SLOTS_SQL, [s.value for s in _AT_PROVIDER]).fetchone()[0]
            last = self._db.execute(_LAST_ERROR_SQL).fetchone()
        return Summary(
            counts={s: counts.get(s, 0) for s in JobState},
            units=self.units(),
            in_flight_slots=int(slots or 0),
            last_error=(last[0], last[1]) if last else None,
            holder=read_holder(self.path.with_name(self.path.name + ".lock")),
        )

    # -- writing -------------------------------------------------------------------------------

    def write_now(self, records: Iterable[Record], *, delete_media: Iterable[str] = ()) -> None:
        """Write records in one transaction, from synchronous code (start-up)."""
        self._apply([(tuple(records), None)], delete_media=tuple(delete_media))

    async def write(self, *records: Record) -> None:
        """Write records in one transaction, durable on return. Records written by other jobs at
        the same moment share the transaction. StateError if it cannot be written (disk full):
        nothing of it is then on disk."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieved)  # a cancelled writer no longer awaits it
        self._queue(records, future)
        await asyncio.shield(future)

    def post(self, *records: Record) -> None:
        """Queue records for the next group commit and return at once. Commits keep the order
        of posts and writes, so a :meth:`write` that returned means every earlier post is on disk
        too. A commit that fails sets :attr:`failure` and calls :attr:`on_failure`."""
        self._queue(records, None)

    def _queue(self, records: tuple[Record, ...], future: asyncio.Future[None] | None) -> None:
        self._pending.append((records, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())

    async def drain(self) -> None:
        """Wait until every write asked for so far is on disk (or has failed)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._apply, batch)
            except StateError as exc:
                self.failure = self.failure or exc
                for _, future in batch:
                    if future is not None and not future.done():
                        future.set_exception(exc)
                if self.on_failure is not None:
                    self.on_failure(exc)
                continue
            for _, future in batch:
                if future is not None and not future.done():
                    future.set_result(None)

    def _apply(
        self,
        batch: Sequence[tuple[tuple[Record, ...], asyncio.Future[None] | None]],
        *,
        delete_media: tuple[str, ...] = (),
    ) -> None:
        with self._lock, _errors(self.path):
            try:
                self._db.execute("BEGIN IMMEDIATE")
                if delete_media:
                    self._db.executemany(
                        "DELETE FROM media WHERE job_id = ?", [(i,) for i in delete_media]
                    )
                by_table: dict[type[Any], list[tuple[Any, ...]]] = {}
                for records, _ in batch:
                    for record in records:
                        by_table.setdefault(type(record), []).append(_values(record))
                for cls, rows in by_table.items():  # one call per table: less to and fro
                    self._db.executemany(_UPSERT[cls], rows)
                    self.records += len(rows)
                self._db.execute("COMMIT")
                self.commits += 1
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _meta(self, key: str) -> str | None:
        with self._lock, _errors(self.path):
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, values: dict[str, str]) -> None:
        with self._lock, _errors(self.path), self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", values.items()
            )


_AT_PROVIDER = tuple(s for s in JobState if s.at_provider)
_COUNTS_SQL = "SELECT state, COUNT(*) FROM jobs GROUP BY state"
_SLOTS_SQL = f"SELECT SUM(slots) FROM jobs WHERE state IN ({', '.join('?' * len(_AT_PROVIDER))})"
_LAST_ERROR_SQL = (
    "SELECT id, error_message FROM jobs WHERE error_message IS NOT NULL "
    "ORDER BY updated_at DESC LIMIT 1"
)


_NAMES = {cls: tuple(f.name for f in fields(cls)) for cls in _TABLES}


def _values(record: Record) -> tuple[Any, ...]:
    """A record's column values (its enums are strings, which SQLite stores as such)."""
    return tuple(getattr(record, name) for name in _NAMES[type(record)])


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


def _connect(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA busy_timeout = 10000")
    except sqlite3.Error as exc:
        raise StateError(f"cannot open the state file {path}: {exc}") from None
    return db


@contextlib.contextmanager
def _errors(path: Path) -> Iterator[None]:
    """SQLite's errors as StateError, naming the file and, for a full disk, what to do."""
    try:
        yield
    except sqlite3.Error as exc:
        text = str(exc)
        if "full" in text or "disk I/O" in text:
            text += "; free some space and run again: nothing recorded so far is lost"
        raise StateError(f"state file {path}: {text}") from None


__all__ = [
    "VERSION",
    "AttemptRow",
    "Holder",
    "JobRow",
    "JobState",
    "MediaRow",
    "Record",
    "RunLock",
    "State",
    "Summary",
    "external_task_id",
    "read_holder",
]
