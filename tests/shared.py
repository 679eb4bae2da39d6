"""The real PostgreSQL the shared-state tests run against (started by ``tests/postgres.sh``).

``KBATCH_TEST_POSTGRES`` names the server. Each test gets a schema of its own (its tables are
created there by kbatch itself) through the URL's ``search_path``, and the schema is dropped
after the test. When the variable is set and the server cannot be reached, the tests fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

ENV = "KBATCH_TEST_POSTGRES"


def server() -> str:
    """The test server's URL: a test that needs it fails loudly when it cannot be reached,
    and is skipped (with the reason shown) only when no server was asked for at all."""
    url = os.environ.get(ENV)
    if not url:
        pytest.skip(f'{ENV} is not set: start one with eval "$(bash tests/postgres.sh)"')
    try:
        with psycopg.connect(url, connect_timeout=5) as db:
            db.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.fail(f"{ENV} is set but the server cannot be reached: {exc}")
    return url


def with_schema(url: str, schema: str) -> str:
    """The URL with its own ``search_path``: kbatch's tables land in that schema."""
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


@contextmanager
def schema(url: str) -> Iterator[str]:
    """A fresh, empty schema for one test; dropped afterwards. Yields the URL that uses it."""
    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {name}")
    try:
        yield with_schema(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {name} CASCADE")


def query(url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as db:
        return list(db.execute(sql, params).fetchall())
