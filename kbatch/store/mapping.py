"""One mapping between records and rows, for both state stores.

A record is kept as a row of its table whose columns are the record's fields, by name, in field
order, so a new field is one column and one migration, not two mappings to keep in step. The
backends differ only in how they spell a statement, which a :class:`Dialect` says:

- its placeholder (``?`` for SQLite, ``%s`` for psycopg);
- its scope: PostgreSQL keeps many manifests in one database, so its rows carry a leading
  ``manifest`` column, and a job row a trailing ``pack`` (the account's slots are summed per
  pack) and ``owner`` (the runner that holds it); SQLite's file is one manifest's, with neither.

::

    >>> SQLITE.upsert(AttemptRow)[:47]
    'INSERT INTO attempts ("job_id", "attempt", "ext'
    >>> POSTGRES.where("job_id")
    ' WHERE "manifest" = %s AND "job_id" = %s'
    >>> from kbatch.provider.catalogue import JobKind
    >>> from kbatch.store.records import Charged
    >>> row = JobRow("cat", JobKind.TEXT2VIDEO, "f00d", removed=True, charged=Charged.PARTLY)
    >>> back = record(JobRow, SQLITE.values(row))
    >>> back == row, back.kind, back.removed, back.charged
    (True, <JobKind.TEXT2VIDEO: 'text2video'>, True, <Charged.PARTLY: 'partly'>)

A row read back becomes a record in one place, :func:`record`: each column's value is turned
back into its field's type (enums from their values, booleans from SQLite's 0 and 1) by the
field's annotation, so an enum field added to a record needs no line here.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from kbatch.provider.catalogue import PACK
from kbatch.store.records import AttemptRow, JobRow, JobState, MediaRow, Record

R = TypeVar("R", JobRow, MediaRow, AttemptRow)

TABLES: dict[type[Record], str] = {JobRow: "jobs", MediaRow: "media", AttemptRow: "attempts"}
#: Each table's key within a scope (PostgreSQL's manifest comes first).
KEYS: dict[type[Record], tuple[str, ...]] = {
    JobRow: ("id",),
    MediaRow: ("job_id", "index", "variant"),
    AttemptRow: ("job_id", "fingerprint", "attempt"),  # every version's attempts kept
}
#: Each record's columns by name, in its fields' order: rows are read and written by name.
NAMES: dict[type[Record], tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls)) for cls in TABLES
}
#: The states in which a job may hold slots at the provider, as stored.
AT_PROVIDER = tuple(state.value for state in JobState if state.at_provider)
#: A job's files in order: by index, the result before its copies.
MEDIA_ORDER = '"index", variant'


def columns(cls: type[Record], table: str = "") -> str:
    """A record's columns, quoted, in field order; with ``table``, each after that alias."""
    prefix = f"{table}." if table else ""
    return ", ".join(f'{prefix}"{name}"' for name in NAMES[cls])


def quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one backend spells the statements on records."""

    mark: str  # the placeholder of a parameter
    scoped: bool  # rows carry the manifest first; job rows their pack and owner last
    order: str  # the column that keeps jobs in the order they were first written
    memory: str  # the table of small remembered values (key, value)
    memory_prefix: str  # before each remembered key (SQLite shares its meta table)

    @property
    def scope(self) -> tuple[str, ...]:
        """The columns that say whose a row is, before every key."""
        return ("manifest",) if self.scoped else ()

    def names(self, cls: type[Record]) -> tuple[str, ...]:
        """A table's columns as written: the scope, the record's fields, a job's pack, owner."""
        extra = ("pack", "owner") if self.scoped and cls is JobRow else ()
        return (*self.scope, *NAMES[cls], *extra)

    def marks(self, count: int) -> str:
        return ", ".join([self.mark] * count)

    def where(self, *equal: str, also: str = "") -> str:
        """A WHERE clause: the scope and each column of ``equal`` equal to a parameter (in that
        order), and ``also``; empty when there is nothing to test."""
        tests = [f'"{name}" = {self.mark}' for name in (*self.scope, *equal)]
        tests += [also] if also else []
        return f" WHERE {' AND '.join(tests)}" if tests else ""

    def upsert(self, cls: type[Record]) -> str:
        """An insert that updates a row in place (keeping its place in the table's order: a
        job's ``rowid`` or ``seq`` stays the one of its first write)."""
        names = self.names(cls)
        keys = (*self.scope, *KEYS[cls])
        updates = ", ".join(f'"{name}" = excluded."{name}"' for name in names if name not in keys)
        return (
            f"INSERT INTO {TABLES[cls]} ({quoted(names)}) VALUES ({self.marks(len(names))}) "
            f"ON CONFLICT ({quoted(keys)}) DO UPDATE SET {updates}"
        )

    def values(
        self, record: Record, *, manifest: str = "", owner: str | None = None
    ) -> tuple[Any, ...]:
        """A record's column values in :meth:`names` order (enums as their string values)."""
        out = tuple(getattr(record, name) for name in NAMES[type(record)])
        if not self.scoped:
            return out
        if isinstance(record, JobRow):
            return (manifest, *out, PACK[record.kind].value, owner)
        return (manifest, *out)


SQLITE = Dialect("?", scoped=False, order="rowid", memory="meta", memory_prefix="note.")
POSTGRES = Dialect("%s", scoped=True, order="seq", memory="notes", memory_prefix="")

Convert = Callable[[Any], Any]


def _converter(hint: Any) -> Convert | None:
    """How a stored value becomes a field's type (``X | None`` as ``X``): an enum, a bool."""
    union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    for option in typing.get_args(hint) if union else (hint,):
        if isinstance(option, type) and (issubclass(option, enum.Enum) or option is bool):
            return option
    return None


_CONVERT: dict[type[Record], tuple[Convert | None, ...]] = {
    cls: tuple(_converter(typing.get_type_hints(cls)[name]) for name in NAMES[cls])
    for cls in TABLES
}


def record(cls: type[R], values: Sequence[Any]) -> R:
    """A record from its columns, selected by :func:`columns` (None stays None)."""
    return cls(
        *(
            value if convert is None or value is None else convert(value)
            for convert, value in zip(_CONVERT[cls], values, strict=True)
        )
    )


def job(values: Sequence[Any]) -> JobRow:
    """A job row from its columns, selected by :func:`columns` (``kind``, ``state`` as enums,
    ``removed`` as a bool)."""
    return record(JobRow, values)


def by_table(records: Iterable[Record]) -> dict[type[Record], list[Record]]:
    """Records grouped by table, in order within each: one ``executemany`` per table."""
    out: dict[type[Record], list[Record]] = {}
    for item in records:
        out.setdefault(type(item), []).append(item)
    return out


__all__ = [
    "AT_PROVIDER",
    "KEYS",
    "MEDIA_ORDER",
    "NAMES",
    "POSTGRES",
    "SQLITE",
    "TABLES",
    "Dialect",
    "by_table",
    "columns",
    "job",
    "quoted",
    "record",
]
