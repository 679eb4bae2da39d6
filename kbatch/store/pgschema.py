"""The shared state's tables in PostgreSQL, how they are migrated, and how a database is reached.

One database holds the state of many manifests (keyed by name) and the slot ledger of many
accounts. The schema's version is kept in ``kbatch_meta``; :func:`migrate` brings a database up to
:data:`VERSION` under an advisory lock, so that runners starting together migrate once, and refuses
a database a newer kbatch has written.

Credentials follow libpq's conventions (in the URL, ``PGPASSWORD``, ``~/.pgpass``); every message
shows the database by :func:`redacted`, never with its password.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from kbatch.errors import StateError
from kbatch.store import budgets
from kbatch.store.urls import redacted, scrubbed

#: The schema version this kbatch writes (kbatch_meta.schema_version).
VERSION = 6
#: pg_advisory_xact_lock key for migrations: "kbatch" in ASCII.
MIGRATION_LOCK = 0x6B6261746368

_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS kbatch_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE manifests (
        name TEXT PRIMARY KEY, salt TEXT NOT NULL, account TEXT NOT NULL,
        fingerprint TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE notes (
        manifest TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (manifest, key)
    );
    CREATE TABLE accounts (
        account TEXT NOT NULL, pack TEXT NOT NULL, slot_limit INTEGER NOT NULL,
        target INTEGER NOT NULL, clean INTEGER NOT NULL DEFAULT 0,
        next_submit_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (account, pack)
    );
    CREATE TABLE runners (
        id TEXT PRIMARY KEY, manifest TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
        role TEXT NOT NULL, lease DOUBLE PRECISION NOT NULL,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        heartbeat TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE jobs (
        manifest TEXT NOT NULL, seq BIGSERIAL, id TEXT NOT NULL, kind TEXT NOT NULL,
        pack TEXT NOT NULL, fingerprint TEXT NOT NULL, state TEXT NOT NULL,
        attempt INTEGER NOT NULL, failures INTEGER NOT NULL, external_task_id TEXT,
        task_id TEXT, slots INTEGER NOT NULL, estimate DOUBLE PRECISION NOT NULL,
        units DOUBLE PRECISION NOT NULL, error_reason TEXT, error_code TEXT, error_message TEXT,
        created_at DOUBLE PRECISION NOT NULL, submitted_at DOUBLE PRECISION,
        finished_at DOUBLE PRECISION, updated_at DOUBLE PRECISION NOT NULL,
        removed BOOLEAN NOT NULL DEFAULT false,
        owner TEXT, epoch BIGINT NOT NULL DEFAULT 0, lease_until TIMESTAMPTZ,
        PRIMARY KEY (manifest, id)
    );
    CREATE INDEX jobs_in_order ON jobs (manifest, seq);
    CREATE INDEX jobs_at_provider ON jobs (pack, manifest)
        WHERE state IN ('submitting', 'submitted', 'running');
    CREATE INDEX jobs_by_owner ON jobs (owner) WHERE owner IS NOT NULL;
    CREATE TABLE media (
        manifest TEXT NOT NULL, job_id TEXT NOT NULL, "index" INTEGER NOT NULL,
        kind TEXT NOT NULL, url TEXT NOT NULL, extension TEXT NOT NULL, path TEXT,
        size BIGINT, sha256 TEXT, variant TEXT NOT NULL DEFAULT '', host TEXT,
        PRIMARY KEY (manifest, job_id, "index", variant)
    );
    CREATE TABLE attempts (
        manifest TEXT NOT NULL, job_id TEXT NOT NULL, attempt INTEGER NOT NULL,
        external_task_id TEXT NOT NULL, task_id TEXT, started_at DOUBLE PRECISION NOT NULL,
        ended_at DOUBLE PRECISION, outcome TEXT, units DOUBLE PRECISION, message TEXT,
        PRIMARY KEY (manifest, job_id, attempt)
    );
    """,
    # 2: what each attempt was charged, as the provider reported it, or whether its estimate
    # stands in; the units of earlier attempts are what Kling (and the simulator) reported.
    """
    ALTER TABLE jobs ADD COLUMN charged TEXT, ADD COLUMN charged_units DOUBLE PRECISION,
        ADD COLUMN charged_amount DOUBLE PRECISION, ADD COLUMN charged_currency TEXT;
    ALTER TABLE attempts ADD COLUMN charged TEXT, ADD COLUMN charged_units DOUBLE PRECISION,
        ADD COLUMN charged_pack TEXT, ADD COLUMN charged_amount DOUBLE PRECISION,
        ADD COLUMN charged_currency TEXT;
    UPDATE attempts SET charged = 'reported', charged_units = units
        WHERE units IS NOT NULL AND outcome IN ('succeed', 'failed');
    UPDATE jobs SET charged = 'reported', charged_units = units
        WHERE units > 0 OR EXISTS (
            SELECT 1 FROM attempts AS a
            WHERE a.manifest = jobs.manifest AND a.job_id = jobs.id
              AND a.outcome IN ('succeed', 'failed')
        );
    """,
    # 3: an attempt is keyed by its job's version too (an edited job's attempts never overwrite
    # the earlier version's), and keeps where it was sent and the balance its cash came from;
    # a job keeps where its current attempt was sent. An attempt numbered past its job's
    # attempts is an earlier version's, whose fingerprint was not recorded: "".
    """
    ALTER TABLE attempts ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '',
        ADD COLUMN target TEXT, ADD COLUMN charged_cash_type TEXT;
    UPDATE attempts AS a SET fingerprint = j.fingerprint FROM jobs AS j
        WHERE j.manifest = a.manifest AND j.id = a.job_id AND a.attempt <= j.attempt;
    ALTER TABLE attempts DROP CONSTRAINT attempts_pkey,
        ADD PRIMARY KEY (manifest, job_id, fingerprint, attempt);
    ALTER TABLE jobs ADD COLUMN target TEXT;
    """,
    # 4: the local files uploaded to a media store, by content (media: {store: ...}), for every
    # manifest of the database (a bucket is shared); a row 'claimed' while one runner uploads.
    """
    CREATE TABLE uploads (
        store TEXT NOT NULL, name TEXT NOT NULL, size BIGINT NOT NULL, state TEXT NOT NULL,
        claimed_at DOUBLE PRECISION NOT NULL, done_at DOUBLE PRECISION,
        PRIMARY KEY (store, name)
    );
    """,
    # 5: running totals of each manifest's budget per pack (kbatch.store.budgets), moved by
    # every write of a job row in its transaction; set from the rows by migrate().
    """
    CREATE TABLE budgets (
        manifest TEXT NOT NULL, pack TEXT NOT NULL,
        spent DOUBLE PRECISION NOT NULL DEFAULT 0, reserved DOUBLE PRECISION NOT NULL DEFAULT 0,
        PRIMARY KEY (manifest, pack)
    );
    """,
    # 6: the provider's id of what a job made (a video's, an audio's, an element's, a voice's),
    # which a downstream field such as ``video_id: job:<id>`` takes.
    "ALTER TABLE media ADD COLUMN made_id TEXT;",
)
assert len(_MIGRATIONS) == VERSION
#: The version that adds the budgets' totals: a migration to it or past it counts them.
TOTALS = next(n for n, script in enumerate(_MIGRATIONS, 1) if "CREATE TABLE budgets" in script)


def connect(url: str) -> Any:
    """A synchronous autocommit connection; StateError (naming the database, never its password)
    if the server cannot be reached or refuses the credentials."""
    psycopg = driver()
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise StateError(unreachable(url, exc)) from None


def unreachable(url: str, exc: Exception) -> str:
    text = scrubbed(str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc), url)
    advice = "check that the server is running and reachable"
    if "password" in text or "authentication" in text:
        advice = "check the user and password (in the URL, PGPASSWORD or ~/.pgpass)"
    elif "does not exist" in text:
        advice = "create the database first (createdb), or name one that exists"
    return f"cannot open the state database {redacted(url)}: {text}; {advice}"


def driver() -> Any:
    """psycopg, or a StateError that says how to install it."""
    try:
        import psycopg
    except ImportError:
        raise StateError(
            "a PostgreSQL state needs psycopg: pip install 'kbatch[postgres]'"
        ) from None
    return psycopg


def migrate(db: Any, url: str) -> None:
    """Bring the database's kbatch tables to :data:`VERSION`, under an advisory lock."""
    with errors(url), db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        db.execute("CREATE TABLE IF NOT EXISTS kbatch_meta (key TEXT PRIMARY KEY, value TEXT)")
        found = db.execute("SELECT value FROM kbatch_meta WHERE key = 'schema_version'").fetchone()
        version = int(found[0]) if found else 0
        if version > VERSION:
            raise StateError(
                f"the state database {redacted(url)} holds kbatch schema version {version}; this "
                f"kbatch knows up to {VERSION}: upgrade kbatch on this host"
            )
        for script in _MIGRATIONS[version:]:
            db.execute(script)
        if version < TOTALS <= VERSION:
            budgets.recount(db)
        db.execute(
            "INSERT INTO kbatch_meta (key, value) VALUES ('schema_version', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(VERSION),),
        )


@contextlib.contextmanager
def errors(url: str) -> Iterator[None]:
    """psycopg's errors as StateError, naming the database (never its password)."""
    psycopg = driver()
    try:
        yield
    except psycopg.OperationalError as exc:
        raise StateError(
            f"lost the state database {redacted(url)}: {scrubbed(str(exc).strip(), url)}; "
            "nothing recorded so far is lost: run again when it is back"
        ) from None
    except psycopg.Error as exc:
        raise StateError(f"state database {redacted(url)}: {scrubbed(str(exc), url)}") from None


__all__ = [
    "MIGRATION_LOCK",
    "VERSION",
    "connect",
    "driver",
    "errors",
    "migrate",
    "unreachable",
]
