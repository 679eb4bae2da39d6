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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Never, Self

from kbatch.errors import StateError, StateMissing
from kbatch.store.base import SqlStore
from kbatch.store.lock import RunLock, lock_path, read_holder
from kbatch.store.mapping import SQLITE, TABLES, by_table
from kbatch.store.protocol import StateStatus
from kbatch.store.records import Record

#: The state file's format version (``PRAGMA user_version``).
VERSION = 8
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
    # 5: what each attempt was charged, as the provider reported it, or whether its estimate
    # stands in; the units of earlier attempts are what Kling (and the simulator) reported.
    """
    ALTER TABLE jobs ADD COLUMN charged TEXT;
    ALTER TABLE jobs ADD COLUMN charged_units REAL;
    ALTER TABLE jobs ADD COLUMN charged_amount REAL;
    ALTER TABLE jobs ADD COLUMN charged_currency TEXT;
    ALTER TABLE attempts ADD COLUMN charged TEXT;
    ALTER TABLE attempts ADD COLUMN charged_units REAL;
    ALTER TABLE attempts ADD COLUMN charged_pack TEXT;
    ALTER TABLE attempts ADD COLUMN charged_amount REAL;
    ALTER TABLE attempts ADD COLUMN charged_currency TEXT;
    UPDATE attempts SET charged = 'reported', charged_units = units
        WHERE units IS NOT NULL AND outcome IN ('succeed', 'failed');
    UPDATE jobs SET charged = 'reported', charged_units = units
        WHERE units > 0 OR EXISTS (
            SELECT 1 FROM attempts AS a
            WHERE a.job_id = jobs.id AND a.outcome IN ('succeed', 'failed')
        );
    """,
    # 6: an attempt is keyed by its job's version too (an edited job's attempts never overwrite
    # the earlier version's), and keeps where it was sent and the balance its cash came from;
    # a job keeps where its current attempt was sent. An attempt numbered past its job's
    # attempts is an earlier version's, whose fingerprint was not recorded: "".
    """
    CREATE TABLE attempts_v6 (
        job_id TEXT NOT NULL, attempt INTEGER NOT NULL, external_task_id TEXT NOT NULL,
        task_id TEXT, started_at REAL NOT NULL, ended_at REAL, outcome TEXT, units REAL,
        message TEXT, charged TEXT, charged_units REAL, charged_pack TEXT, charged_amount REAL,
        charged_currency TEXT, fingerprint TEXT NOT NULL DEFAULT '', target TEXT,
        charged_cash_type TEXT,
        PRIMARY KEY (job_id, fingerprint, attempt)
    );
    INSERT INTO attempts_v6 (
        job_id, attempt, external_task_id, task_id, started_at, ended_at, outcome, units,
        message, charged, charged_units, charged_pack, charged_amount, charged_currency,
        fingerprint
    )
        SELECT a.job_id, a.attempt, a.external_task_id, a.task_id, a.started_at, a.ended_at,
            a.outcome, a.units, a.message, a.charged, a.charged_units, a.charged_pack,
            a.charged_amount, a.charged_currency,
            COALESCE((SELECT j.fingerprint FROM jobs AS j
                      WHERE j.id = a.job_id AND a.attempt <= j.attempt), '')
        FROM attempts AS a;
    DROP TABLE attempts;
    ALTER TABLE attempts_v6 RENAME TO attempts;
    ALTER TABLE jobs ADD COLUMN target TEXT;
    """,
    # 7: the local files uploaded to a media store, by content (media: {store: ...}); a row
    # 'claimed' while one runner uploads it, 'done' once the object is in the bucket.
    """
    CREATE TABLE uploads (
        store TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, state TEXT NOT NULL,
        claimed_at REAL NOT NULL, done_at REAL, PRIMARY KEY (store, name)
    );
    """,
    # 8: the provider's id of what a job made (a video's, an audio's, an element's, a voice's),
    # which a downstream field such as ``video_id: job:<id>`` takes.
    "ALTER TABLE media ADD COLUMN made_id TEXT;",
)
assert len(_MIGRATIONS) == VERSION

#: SQLite's primary result codes that mean the disk refused (full, or failing).
_SQLITE_FULL, _SQLITE_IOERR = 13, 10
_UPSERT = {cls: SQLITE.upsert(cls) for cls in TABLES}


def state_file(output_dir: Path, given: Path | None = None) -> Path:
    """Where a manifest's state lives: ``given`` (--state), else the output folder's."""
    return given or output_dir / STATE_FILE


Batch = Sequence[tuple[Record, ...]]


class SqliteStore(SqlStore[Never]):
    """An open state file. Use :meth:`open` or :meth:`read`; every method is safe from any
    thread. Implements :class:`~kbatch.store.protocol.StateStore` (its reads and group commit
    are :class:`~kbatch.store.base.SqlStore`'s)."""

    dialect = SQLITE
    shared = None  # a state file is one runner's: no claims, no leases

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        super().__init__(path, ())
        self.path: Path = path
        self._db = connection
        self._lock = threading.Lock()
        self._run_lock: RunLock | None = None

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
        store = cls(path, _connect(path))
        try:
            store._migrate()  # a state an older kbatch wrote reads as this one's
        except BaseException:
            store.close()
            raise
        return store

    def _adopt(self, manifest_name: str) -> None:
        """Migrate to the current version; refuse a state file that belongs to another manifest."""
        self._migrate()
        self._own(manifest_name)

    def _migrate(self) -> None:
        """Bring the file to :data:`VERSION` in place; StateError for a newer one."""
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

    def _own(self, manifest_name: str) -> None:
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

    # -- reading -------------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, _errors(self.path):
            return self._db.execute(sql, params).fetchall()

    def status(self) -> StateStatus:
        return replace(super().status(), holder=read_holder(lock_path(self.path)))

    # -- writing -------------------------------------------------------------------------------

    def write_now(self, records: Iterable[Record], *, delete_media: Iterable[str] = ()) -> None:
        self._apply([tuple(records)], delete_media=tuple(delete_media))

    def _apply(self, batch: Batch, *, delete_media: tuple[str, ...] = ()) -> None:
        with self._lock, _errors(self.path):
            try:
                self._db.execute("BEGIN IMMEDIATE")
                if delete_media:
                    self._db.executemany(
                        "DELETE FROM media WHERE job_id = ?", [(i,) for i in delete_media]
                    )
                tables = by_table(record for records in batch for record in records)
                for cls, records in tables.items():  # one call per table: less to and fro
                    self._db.executemany(_UPSERT[cls], map(SQLITE.values, records))
                    self.records += len(records)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def _set_meta(self, values: dict[str, str]) -> None:
        with self._lock, _errors(self.path), self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", values.items()
            )


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
