"""Where a manifest's state lives: a SQLite file (the default, in the output folder) or a
PostgreSQL database shared by several runners (``--state postgresql://...``).

::

    locate(Path("out/demo"), None)                  # Path('out/demo/state.sqlite3')
    locate(Path("out/demo"), "postgresql://db/kb")  # 'postgresql://db/kb'
    with read_state(where, manifest_name="demo") as state:
        state.status()
"""

from __future__ import annotations

from pathlib import Path

from kbatch.store.postgres import PostgresStore
from kbatch.store.protocol import StateStore
from kbatch.store.sqlite import SqliteStore, state_file
from kbatch.store.urls import is_url, redacted


def locate(output_dir: Path, given: str | Path | None) -> Path | str:
    """The state file (``given``, else the output folder's), or a database URL as given.

    >>> locate(Path("out"), None), locate(Path("out"), "s.db")
    (PosixPath('out/state.sqlite3'), PosixPath('s.db'))
    >>> locate(Path("out"), "postgresql://kb@db/kbatch")
    'postgresql://kb@db/kbatch'
    """
    if is_url(given):
        return str(given)
    return state_file(output_dir, Path(given) if given is not None else None)


def describe(where: Path | str) -> str:
    """The state's location for a human: the file, or the database without its password."""
    return redacted(where) if isinstance(where, str) else str(where)


def read_state(where: Path | str, *, manifest_name: str) -> StateStore:
    """Open an existing state for reading (status, reports, export): no lock, no runner."""
    if isinstance(where, str):
        return PostgresStore.read(where, manifest_name=manifest_name)
    return SqliteStore.read(where)


__all__ = ["describe", "locate", "read_state"]
