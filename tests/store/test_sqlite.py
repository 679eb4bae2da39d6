"""The state file: its format and migrations, durability settings, the run lock, refusals, a
full disk. What every state promises is in test_contract.py."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from kbatch.errors import LockHeld, StateError
from kbatch.provider.catalogue import JobKind, PackType
from kbatch.store import JobRow, JobState, SqliteStore
from kbatch.store.records import Charged
from kbatch.store.sqlite import _MIGRATIONS, VERSION


def row(job_id: str, **fields: object) -> JobRow:
    return replace(JobRow(job_id, JobKind.IMAGE2VIDEO, "f" * 64), **fields)  # type: ignore[arg-type]


def test_a_new_state_file_is_wal_and_fsyncs_every_commit(tmp_path: Path) -> None:
    with SqliteStore.open(tmp_path / "s.sqlite3", manifest_name="m") as state:
        assert state._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert state._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert state._db.execute("PRAGMA user_version").fetchone()[0] == VERSION == 8


def test_a_version_1_state_file_is_migrated_and_keeps_its_results(tmp_path: Path) -> None:
    """0.1's state files resume: their media rows become variant-less rows of version 2."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(_MIGRATIONS[0])
        db.execute("PRAGMA user_version = 1")
        db.execute("INSERT INTO meta VALUES ('manifest', 'm'), ('salt', 'abc')")
        db.execute(
            "INSERT INTO media VALUES "
            "('a', 0, 'video', 'https://cdn/x.mp4', 'mp4', 'a/0.mp4', 9, 'f')"
        )
    with SqliteStore.open(path, manifest_name="m") as state:
        assert state.salt == "abc"
        (item,) = state.media("a")
        assert (item.path, item.size, item.variant) == ("a/0.mp4", 9, "")
        state.write_now([replace(item, variant="watermark", path="a/0.watermark.mp4")])
        assert [m.variant for m in state.media("a")] == ["", "watermark"]


def test_a_second_run_lock_names_the_holder_and_readers_need_none(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with SqliteStore.open(path, manifest_name="m", lock=True):
        with pytest.raises(LockHeld, match=r"another kbatch run \(pid \d+ on .+, since ") as caught:
            SqliteStore.open(path, manifest_name="m", lock=True)
        assert caught.value.exit_code == 3
        with SqliteStore.read(path) as reader:
            assert reader.status().holder is not None
    with SqliteStore.open(path, manifest_name="m", lock=True) as state:  # released on close
        assert state.status().holder is not None


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    script = (
        "import sys; from kbatch.store import SqliteStore; "
        f"s = SqliteStore.open({str(path)!r}, manifest_name='m', lock=True); "
        "print('locked', flush=True); "
        "sys.stdin.read()"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdout is not None and child.stdout.readline() == b"locked\n"
    with pytest.raises(LockHeld, match=f"pid {child.pid}"):
        SqliteStore.open(path, manifest_name="m", lock=True)
    child.kill()
    child.wait()
    assert child.stdin is not None and child.stdout is not None
    child.stdin.close()
    child.stdout.close()
    with SqliteStore.open(path, manifest_name="m", lock=True) as state:
        assert state.status().holder is not None  # now ours


def test_a_state_file_from_a_newer_kbatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StateError, match="newer kbatch"):
        SqliteStore.open(path, manifest_name="m")


def test_another_manifests_state_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    SqliteStore.open(path, manifest_name="first").close()
    with pytest.raises(StateError, match="holds the state of manifest 'first'"):
        SqliteStore.open(path, manifest_name="second")


async def test_a_full_disk_fails_the_write_and_keeps_what_was_written(tmp_path: Path) -> None:
    with SqliteStore.open(tmp_path / "s.sqlite3", manifest_name="m") as state:
        await state.write(row("kept", state=JobState.SUBMITTED, task_id="t1"))
        pages = state._db.execute("PRAGMA page_count").fetchone()[0]
        state._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "disk is full"
        big = [row(f"x{i}", error_message="x" * 4000) for i in range(50)]
        with pytest.raises(StateError, match=r"full.*nothing recorded so far is lost"):
            await state.write(*big)
        rows = state.load()
    assert set(rows) == {"kept"} and rows["kept"].task_id == "t1"


def test_a_version_4_state_file_keeps_its_units_as_reported_charges(tmp_path: Path) -> None:
    """Before version 5 the units of a finished attempt were what the provider reported
    (``final_unit_deduction``): they stay counted, and are now said to be reported."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        for script in _MIGRATIONS[:4]:
            db.executescript(script)
        db.execute("PRAGMA user_version = 4")
        db.execute("INSERT INTO meta VALUES ('manifest', 'm'), ('salt', 'abc')")
        db.execute(
            "INSERT INTO jobs (id, kind, fingerprint, state, attempt, failures, slots, estimate,"
            " units, created_at, updated_at) VALUES "
            "('done', 'image2video', 'f', 'downloaded', 1, 0, 1, 2.0, 1.5, 1, 1),"
            "('new', 'image2video', 'f', 'pending', 0, 0, 1, 2.0, 0, 1, 1)"
        )
        db.execute(
            "INSERT INTO attempts (job_id, attempt, external_task_id, started_at, outcome, units)"
            " VALUES ('done', 1, 'kb-1', 1, 'succeed', 1.5)"
        )
    with SqliteStore.read(path) as state:  # a reader (status, report) migrates it too
        rows = state.load()
        (attempt,) = state.attempts("done")
        assert state.status().charged_units == {PackType.VIDEO: 1.5}
    done, new = rows["done"], rows["new"]
    assert (done.units, done.charged, done.charged_units, done.estimated_units) == (
        1.5,
        Charged.REPORTED,
        1.5,
        0.0,
    )
    assert (new.charged, new.charged_units) == (None, None)
    assert (attempt.units, attempt.charged, attempt.charged_units) == (1.5, Charged.REPORTED, 1.5)
    assert (attempt.charged_amount, attempt.charged_currency) == (None, None)


def test_a_version_5_state_file_keeps_its_attempts_under_their_versions(tmp_path: Path) -> None:
    """Version 6 keys attempts by their job's version: those a job's current version has made
    are labelled with its fingerprint, one numbered past them is an earlier version's ("");
    where a task was sent is unknown (None: the manifest's choice stands)."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        for script in _MIGRATIONS[:5]:
            db.executescript(script)
        db.execute("PRAGMA user_version = 5")
        db.execute("INSERT INTO meta VALUES ('manifest', 'm'), ('salt', 'abc')")
        db.execute(
            "INSERT INTO jobs (id, kind, fingerprint, state, attempt, failures, slots, estimate,"
            " units, created_at, updated_at) VALUES "
            "('a', 'image2video', 'f2', 'submitted', 1, 0, 1, 2.0, 0, 1, 1)"
        )
        db.execute(
            "INSERT INTO attempts (job_id, attempt, external_task_id, started_at, outcome,"
            " units, charged_amount, charged_currency) VALUES ('a', 1, 'kb-1', 5, NULL, NULL,"
            " NULL, NULL), ('a', 2, 'kb-old', 1, 'failed', 2.0, 0.28, 'USD')"
        )
    with SqliteStore.read(path) as state:
        rows = state.load()
        seen = [(a.fingerprint, a.attempt, a.target) for a in state.attempts("a")]
        cash = state.status().charged_cash
    assert seen == [("", 2, None), ("f2", 1, None)]
    assert rows["a"].target is None and cash == {"USD": 0.28}
