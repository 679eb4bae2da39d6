"""Image checks remembered across runs, so that an unchanged file is not read or decoded again.

A rerun, ``kbatch report`` or ``kbatch export`` of a manifest with 10,000 local images would
otherwise read, hash and decode every one of them again (about 14 s). :class:`CheckCache` keeps
what checking each file found (its format, dimensions and content hash, or the problem, and the
outcome of the full decode) in a small SQLite file in the user's cache folder
(:func:`cache_folder`), keyed by what changes when the file does (:class:`FileKey`).

Why the key is more than path, size and mtime: ``cp -p``, ``rsync -t`` and unpacking an archive
all set a file's mtime back to an old value, so a file can change while keeping its size and
mtime. Its inode changes when it is replaced (rsync, an editor's save) and its ctime when it is
written in place (``cp -p`` over it); no tool can set the ctime back. A file written in the last
couple of seconds (:data:`SETTLE`) is not remembered at all: with coarse timestamps a second write
in the same tick would keep every part of the key (git calls this "racily clean").

The cache is a convenience, never a source of errors: a folder that cannot be created, a file that
is not a database, a disk that is full, a lock held too long or any other failure turn it off for
the rest of the process (what it would have answered is a miss), and checks run as they would
without it (``KBATCH_NO_CACHE=1`` turns it off too). Two processes may share it (WAL, busy
timeout); each transaction is atomic, so a crash leaves the file as it was or with the whole
batch.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import PIL

from kbatch.version import __version__

#: Bump when a check's rules or messages change: what older code found is then not trusted.
RULES = 1
#: Who produced an outcome: a row written by another kbatch, Pillow or rule set is not used.
CHECKER = f"kbatch {__version__}; Pillow {PIL.__version__}; rules {RULES}"
#: A file changed less than this long ago (seconds) is checked but not remembered.
SETTLE = 2.0
#: Rows not written for this long (seconds) are dropped, so files long gone do not pile up.
KEEP = 90 * 86400
#: Buffered rows written in one transaction once there are this many.
BATCH = 500
FILE_NAME = "checked.sqlite3"
#: 2: the file's identity is one text column (1 had integer columns, which SQLite holds to 64
#: signed bits: an inode of 2**63 or more, as mergerfs, NFS, SMB and FUSE mounts report, did not
#: fit). A cache of an older format is dropped and started again; a newer one is left alone.
VERSION = 2

_SCHEMA = """
DROP TABLE IF EXISTS checked;
CREATE TABLE checked (
    path TEXT PRIMARY KEY, identity TEXT NOT NULL, checker TEXT NOT NULL,
    format TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
    sha256 TEXT NOT NULL, problem TEXT, decoded INTEGER NOT NULL, damage TEXT,
    written REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS checked_by_age ON checked (written);
"""
_COLUMNS = "identity, checker, format, width, height, sha256, "
_COLUMNS += "problem, decoded, damage"


def cache_folder() -> Path:
    """``$KBATCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/kbatch``, else ``~/.cache/kbatch``."""
    own = os.environ.get("KBATCH_CACHE_DIR")
    if own:
        return Path(own).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():  # the XDG spec: a relative value is to be ignored
        return Path(xdg) / "kbatch"
    return Path.home() / ".cache" / "kbatch"


@dataclass(frozen=True, slots=True)
class FileKey:
    """What identifies one version of a file: equal keys, same content (once settled)."""

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, path: str, stat: os.stat_result) -> FileKey:
        return cls(path, stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)

    def settled(self, now_ns: int, settle: float) -> bool:
        """Whether the file last changed at least ``settle`` seconds before ``now_ns`` (a
        timestamp in the future, from a skewed clock, is not settled either)."""
        newest = max(self.mtime_ns, self.ctime_ns)
        age = now_ns - newest
        return age >= 0 and age >= settle * 1e9


@dataclass(frozen=True, slots=True)
class Outcome:
    """What checking a file found, as the check said it: the header's format, dimensions and
    content hash, or its ``problem``; once ``decoded`` in full, the ``damage`` found, if any."""

    format: str = ""
    width: int = 0
    height: int = 0
    sha256: str = ""
    problem: str | None = None
    decoded: bool = False
    damage: str | None = None


class CheckCache:
    """Outcomes by :class:`FileKey`, in the SQLite file ``path`` (None: remember nothing).

    Opened on first use. Writes are buffered and go out in one transaction per :data:`BATCH`
    rows and on :meth:`flush`. Safe to call from several threads.
    """

    def __init__(self, path: Path | None, *, settle: float = SETTLE) -> None:
        self._path = path
        self._settle = settle
        self._db: sqlite3.Connection | None = None
        self._off = path is None
        self._pending: dict[str, tuple[FileKey, Outcome]] = {}
        self._pruned = False
        self._lock = threading.Lock()

    @classmethod
    def user(cls) -> CheckCache:
        """The user's cache (:func:`cache_folder`); none at all with ``KBATCH_NO_CACHE=1``
        (benchmarks of the checks themselves, or a user who wants nothing written)."""
        if os.environ.get("KBATCH_NO_CACHE", "") not in ("", "0"):
            return cls(None)
        return cls(cache_folder() / FILE_NAME)

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def working(self) -> bool:
        """False once the cache was found unusable (or was never asked for)."""
        return not self._off

    def get(self, key: FileKey) -> Outcome | None:
        """The outcome remembered for exactly this version of the file, if any."""
        with self._lock:
            pending = self._pending.get(key.path)
            if pending is not None:
                return pending[1] if pending[0] == key else None
            db = self._open()
            if db is None:
                return None
            try:
                row = db.execute(
                    f"SELECT {_COLUMNS} FROM checked WHERE path = ?", (key.path,)
                ).fetchone()
            except Exception as exc:  # (any failure of the cache is a miss, never an error)
                self._fail(exc)
                return None
        if row is None or tuple(row[:2]) != (_identity(key), CHECKER):
            return None
        fmt, width, height, sha256, problem, decoded, damage = row[2:]
        return Outcome(fmt, width, height, sha256, problem, bool(decoded), damage)

    def put(self, key: FileKey, outcome: Outcome) -> None:
        """Remember an outcome (unless the file changed too recently to be sure of it)."""
        if self._off or not key.settled(time.time_ns(), self._settle):
            return
        with self._lock:
            self._pending[key.path] = (key, outcome)
            full = len(self._pending) >= BATCH
        if full:
            self.flush()

    def flush(self) -> None:
        """Write what is buffered, in one transaction."""
        with self._lock:
            rows, self._pending = list(self._pending.values()), {}
            db = self._open() if rows else None
            if db is None:
                return
            try:
                self._write(db, rows)
            except Exception as exc:  # (a value SQLite refuses too: OverflowError, ...)
                if _transient(exc):  # kept for the next flush; newer outcomes win
                    self._pending = {key.path: (key, o) for key, o in rows} | self._pending
                self._fail(exc)

    def close(self) -> None:
        """Flush and let go of the file (it is opened again if used again)."""
        self.flush()
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _write(self, db: sqlite3.Connection, rows: list[tuple[FileKey, Outcome]]) -> None:
        now = time.time()
        values = [(key.path, _identity(key), CHECKER, *_fields(o), now) for key, o in rows]
        with db:  # one transaction: all of it or none
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                f"INSERT OR REPLACE INTO checked (path, {_COLUMNS}, written) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            if not self._pruned:
                db.execute("DELETE FROM checked WHERE written < ?", (now - KEEP,))
        self._pruned = True

    def _open(self) -> sqlite3.Connection | None:
        if self._db is not None or self._off or self._path is None:
            return self._db
        db: sqlite3.Connection | None = None
        try:
            self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            db = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=2.0
            )
            db.execute("PRAGMA busy_timeout = 2000")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")  # a cache: a power cut may lose a batch
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > VERSION:  # a newer kbatch's: left to it
                raise sqlite3.DatabaseError(f"cache format {version}")
            if version < VERSION:  # none yet, or an older format: the cache starts again
                _create(db)
        except Exception as exc:  # (no cache is better than a failed check)
            if db is not None:
                db.close()
            self._fail(exc)
            return None
        self._db = db
        return db

    def _fail(self, exc: BaseException) -> None:
        """Turn the cache off for the rest of the process: checks go on without it. The file
        held by another process past the busy timeout is only a miss: asked again later."""
        if _transient(exc):
            return
        self._off = True
        self._pending = {}
        if self._db is not None:
            self._db.close()
            self._db = None


def _transient(exc: BaseException) -> bool:
    """SQLite's "database is locked" or "busy": another process held the file too long."""
    return isinstance(exc, sqlite3.OperationalError) and any(
        word in str(exc) for word in ("locked", "busy")
    )


def _create(db: sqlite3.Connection) -> None:
    """The table, made (or made again over an older format's) in one transaction, by whichever
    process gets there first: another that was waiting finds it made and leaves it be."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("PRAGMA user_version").fetchone()[0] < VERSION:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _identity(key: FileKey) -> str:
    """The version of a file as text: any stat value fits, however large (or negative)."""
    return f"{key.device}:{key.inode}:{key.size}:{key.mtime_ns}:{key.ctime_ns}"


def _fields(o: Outcome) -> tuple[str, int, int, str, str | None, int, str | None]:
    return o.format, o.width, o.height, o.sha256, o.problem, int(o.decoded), o.damage


__all__ = ["CHECKER", "CheckCache", "FileKey", "Outcome", "cache_folder"]
