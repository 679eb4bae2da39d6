"""The embedded state store: one SQLite file per manifest, written before every step that acts.

::

    with SqliteStore.open(path, manifest_name="demo") as store:   # creates or migrates the file
        rows = store.load()                                        # {job id: JobRow}
        await store.write(row.submitting(external_id, now=now))    # durable on return

A job's row is rewritten whole at each transition. :meth:`SqliteStore.write` returns once its
transaction is on disk; :meth:`SqliteStore.post` queues records for the same commits without
waiting. Records from many jobs that arrive together share one transaction (group commit,
:mod:`kbatch.store.commit`): one fsync pays for all of them.

Durability: WAL journal with ``synchronous=FULL``. A write that returned survives the process being
killed (kill -9), an OS crash and a power cut, as far as the disk honours fsync. ``NORMAL`` would
survive kill -9 only, and after a power cut could forget an external task id whose create was
already sent; the cost of FULL is one fsync per group commit, which group commit keeps small.

The run lock (:mod:`kbatch.store.lock`) is taken by a run; readers need none (WAL).
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, Self

from kbatch import pricing
from kbatch.errors import StateError, StateMissing
from kbatch.provider.catalogue import JobKind, PackType
from kbatch.store.commit import GroupCommit
from kbatch.store.lock import RunLock, lock_path, read_holder
from kbatch.store.protocol import StateStatus
from kbatch.store.records import AttemptRow, JobRow, JobState, MediaRow, Record

#: The state file's format version (``PRAGMA user_version``).
VERSION = 4
#: The state file's name inside the output folder, unless --state says otherwise.
STATE_FILE = "state.sqlite3"

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
    # 2: a result's watermarked copy is a media row of its own (variant "watermark").
    """
    CREATE TABLE media_v2 (
        job_id TEXT NOT NULL, "index" INTEGER NOT NULL, kind TEXT NOT NULL, url TEXT NOT NULL,
        extension TEXT NOT NULL, path TEXT, size INTEGER, sha256 TEXT,
        variant TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (job_id, "index", variant)
    );
    INSERT INTO media_v2 (job_id, "index", kind, url, extension, path, size, sha256)
        SELECT job_id, "index", kind, url, extension, path, size, sha256 FROM media;
    DROP TABLE media;
    ALTER TABLE media_v2 RENAME TO media;
    """,
    # 3: a job the manifest no longer has is marked, not deleted (its files and units stay).
    """
    ALTER TABLE jobs ADD COLUMN removed INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: which machine holds each downloaded file (a shared state's runners download on many).
    "ALTER TABLE media ADD COLUMN host TEXT;",
)

_TABLES: dict[type[Any], str] = {JobRow: "jobs", MediaRow: "media", AttemptRow: "attempts"}
_KEYS: dict[type[Any], tuple[str, ...]] = {
    JobRow: ("id",),
    MediaRow: ("job_id", "index", "variant"),
    AttemptRow: ("job_id", "attempt"),
}
#: Each record's columns by name, in its fields' order: rows are read and written by name.
_NAMES = {cls: tuple(f.name for f in fields(cls)) for cls in _TABLES}
_COLUMNS = {cls: ", ".join(f'"{name}"' for name in names) for cls, names in _NAMES.items()}
#: SQLite's primary result codes that mean the disk refused (full, or failing).
_SQLITE_FULL, _SQLITE_IOERR = 13, 10


def _upsert(cls: type[Any]) -> str:
    """An insert that updates a row in place (keeping its rowid, so that rows stay in the
    order they were first written: the manifest's, for reports)."""
    marks = ", ".join("?" for _ in _NAMES[cls])
    keys = ", ".join(f'"{key}"' for key in _KEYS[cls])
    updates = ", ".join(
        f'"{name}" = excluded."{name}"' for name in _NAMES[cls] if name not in _KEYS[cls]
    )
    return (
        f"INSERT INTO {_TABLES[cls]} ({_COLUMNS[cls]}) VALUES ({marks}) "
        f"ON CONFLICT ({keys}) DO UPDATE SET {updates}"
    )


_UPSERT = {cls: _upsert(cls) for cls in _TABLES}
_MEDIA_KEYS = '"index", variant'  # a job's files in order
_AT_PROVIDER = tuple(s.value for s in JobState if s.at_provider)
_COUNTS_SQL = "SELECT state, COUNT(*) FROM jobs WHERE NOT removed GROUP BY state"
_SLOTS_SQL = f"SELECT SUM(slots) FROM jobs WHERE state IN ({', '.join('?' * len(_AT_PROVIDER))})"
_LAST_ERROR_SQL = (
    "SELECT id, error_message FROM jobs WHERE error_message IS NOT NULL "
    "ORDER BY updated_at DESC LIMIT 1"
)


def state_file(output_dir: Path, given: Path | None = None) -> Path:
    """Where a manifest's state lives: ``given`` (--state), else the output folder's."""
    return given or output_dir / STATE_FILE


def _job(values: Sequence[Any]) -> JobRow:
    """A job row from its columns, selected by name in :data:`_NAMES` order."""
    named = dict(zip(_NAMES[JobRow], values, strict=True))
    named["kind"], named["state"] = JobKind(named["kind"]), JobState(named["state"])
    named["removed"] = bool(named["removed"])
    return JobRow(**named)


Batch = Sequence[tuple[Record, ...]]


class SqliteStore:
    """An open state file. Use :meth:`open` or :meth:`read`; every method is safe from any
    thread. Implements :class:`~kbatch.store.protocol.StateStore`."""

    shared = None  # a state file is one runner's: no claims, no leases

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self._lock = threading.Lock()
        self._run_lock: RunLock | None = None
        self._commits: GroupCommit[tuple[Record, ...]] = GroupCommit(
            self._apply, failures=StateError
        )
        self._commits.on_failure = self._failed
        self.salt = ""
        #: Records written: records / commits is what group commit saves.
        self.records = 0
        #: The first commit that failed, and who to tell of each.
        self.failure: StateError | None = None
        self.on_failure: Callable[[StateError], None] | None = None

    @property
    def commits(self) -> int:
        return self._commits.groups

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
            run_lock = RunLock(lock_path(path))
            run_lock.acquire(path)
        try:
            store = cls(path, _connect(path))
            store._run_lock = run_lock
            store._adopt(manifest_name)
        except BaseException:
            if run_lock is not None:
                run_lock.release()
            raise
        return store

    @classmethod
    def read(cls, path: str | Path) -> Self:
        """Open an existing state file for reading (``kbatch status``, reports); no lock."""
        path = Path(path)
        if not path.exists():
            raise StateMissing(f"no state file at {path}: the manifest has not been run yet")
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
            if version < len(_MIGRATIONS):
                self._db.execute("VACUUM")  # a rebuilt table leaves free pages: give them back
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
        with self._lock, _errors(self.path):
            cursor = self._db.execute(f"SELECT {_COLUMNS[JobRow]} FROM jobs ORDER BY rowid")
            return {values[0]: _job(values) for values in cursor}

    def media(self, job_id: str) -> list[MediaRow]:
        with self._lock, _errors(self.path):
            cursor = self._db.execute(
                f"SELECT {_COLUMNS[MediaRow]} FROM media WHERE job_id = ? ORDER BY {_MEDIA_KEYS}",
                (job_id,),
            )
            return [MediaRow(*values) for values in cursor]

    def all_media(self) -> dict[str, list[MediaRow]]:
        """Every job's result files, by job id, in one query (for reports)."""
        out: dict[str, list[MediaRow]] = {}
        with self._lock, _errors(self.path):
            cursor = self._db.execute(
                f"SELECT {_COLUMNS[MediaRow]} FROM media ORDER BY job_id, {_MEDIA_KEYS}"
            )
            for values in cursor:
                out.setdefault(values[0], []).append(MediaRow(*values))
        return out

    def attempts(self, job_id: str) -> list[AttemptRow]:
        with self._lock, _errors(self.path):
            cursor = self._db.execute(
                f"SELECT {_COLUMNS[AttemptRow]} FROM attempts WHERE job_id = ? ORDER BY attempt",
                (job_id,),
            )
            return [AttemptRow(*values) for values in cursor]

    def units(self) -> dict[PackType, float]:
        with self._lock, _errors(self.path):
            rows = self._db.execute("SELECT kind, TOTAL(units) FROM jobs GROUP BY kind").fetchall()
        return pricing.by_pack((JobKind(kind), float(units)) for kind, units in rows)

    def revision(self) -> str:
        """Every write sets ``updated_at``: the count and the latest change tell a revision."""
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

    def status(self) -> StateStatus:
        with self._lock, _errors(self.path):
            by_state = self._db.execute(_COUNTS_SQL)
            counts = Counter({JobState(state): count for state, count in by_state})
            removed = self._db.execute("SELECT COUNT(*) FROM jobs WHERE removed").fetchone()[0]
            slots = self._db.execute(_SLOTS_SQL, _AT_PROVIDER).fetchone()[0]
            last = self._db.execute(_LAST_ERROR_SQL).fetchone()
        return StateStatus(
            counts={state: counts.get(state, 0) for state in JobState},
            units=self.units(),
            in_flight_slots=int(slots or 0),
            last_error=(last[0], last[1]) if last else None,
            holder=read_holder(lock_path(self.path)),
            removed=int(removed),
        )

    # -- writing -------------------------------------------------------------------------------

    def write_now(self, records: Iterable[Record], *, delete_media: Iterable[str] = ()) -> None:
        self._apply([tuple(records)], delete_media=tuple(delete_media))

    async def write(self, *records: Record) -> None:
        """StateError if it cannot be written (disk full): nothing of it is then on disk."""
        await self._commits.wait(records)

    def post(self, *records: Record) -> None:
        """A commit that fails sets :attr:`failure` and calls :attr:`on_failure`."""
        self._commits.post(records)

    async def drain(self) -> None:
        await self._commits.drain()

    def _failed(self, exc: Exception) -> None:
        assert isinstance(exc, StateError)
        self.failure = self.failure or exc
        if self.on_failure is not None:
            self.on_failure(exc)

    def _apply(self, batch: Batch, *, delete_media: tuple[str, ...] = ()) -> None:
        with self._lock, _errors(self.path):
            try:
                self._db.execute("BEGIN IMMEDIATE")
                if delete_media:
                    self._db.executemany(
                        "DELETE FROM media WHERE job_id = ?", [(i,) for i in delete_media]
                    )
                by_table: dict[type[Any], list[tuple[Any, ...]]] = {}
                for records in batch:
                    for record in records:
                        by_table.setdefault(type(record), []).append(_values(record))
                for cls, rows in by_table.items():  # one call per table: less to and fro
                    self._db.executemany(_UPSERT[cls], rows)
                    self.records += len(rows)
                self._db.execute("COMMIT")
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


def _values(record: Record) -> tuple[Any, ...]:
    """A record's column values (its enums are strings, which SQLite stores as such)."""
    return tuple(getattr(record, name) for name in _NAMES[type(record)])


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
        primary = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if primary in (_SQLITE_FULL, _SQLITE_IOERR):
            text += "; free some space and run again: nothing recorded so far is lost"
        raise StateError(f"state file {path}: {text}") from None


__all__ = ["STATE_FILE", "VERSION", "SqliteStore", "state_file"]
