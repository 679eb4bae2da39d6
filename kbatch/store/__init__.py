"""The state store: job, attempt and media records, the :class:`StateStore` protocol the engine
and the reports use, its embedded SQLite backend and its shared PostgreSQL one."""

from __future__ import annotations

from kbatch.store.location import SharedDatabase, StateFile, StateLocation, locate
from kbatch.store.lock import Holder
from kbatch.store.protocol import StateStatus, StateStore
from kbatch.store.records import AttemptRow, JobRow, JobState, MediaRow, Record, external_task_id
from kbatch.store.sqlite import STATE_FILE, SqliteStore, state_file
from kbatch.store.urls import is_url

__all__ = [
    "STATE_FILE",
    "AttemptRow",
    "Holder",
    "JobRow",
    "JobState",
    "MediaRow",
    "Record",
    "SharedDatabase",
    "SqliteStore",
    "StateFile",
    "StateLocation",
    "StateStatus",
    "StateStore",
    "external_task_id",
    "is_url",
    "locate",
    "state_file",
]
